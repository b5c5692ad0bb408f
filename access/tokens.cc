#include "access/tokens.h"

#include <sodium.h>

#include "base/strings.h"
#include "model/pid.h"

namespace wlsync::access {
namespace {

constexpr std::string_view kPrefix = "wlt_";
constexpr size_t kSecretBytes = 32;
constexpr size_t kSecretChars = 52;  // base32 of 32 bytes, no padding

}  // namespace

bool LooksLikeToken(std::string_view text) {
  if (text.size() != kPrefix.size() + kSecretChars || text.substr(0, kPrefix.size()) != kPrefix) {
    return false;
  }
  for (char c : text.substr(kPrefix.size())) {
    if (!((c >= 'a' && c <= 'z') || (c >= '2' && c <= '7'))) return false;
  }
  return true;
}

std::string TokenHash(std::string_view token) {
  uint8_t digest[crypto_hash_sha256_BYTES];
  crypto_hash_sha256(digest, reinterpret_cast<const uint8_t*>(token.data()), token.size());
  return model::HexEncode(std::string_view(reinterpret_cast<const char*>(digest), sizeof(digest)));
}

std::string NewTokenSecret() {
  uint8_t bytes[kSecretBytes];
  randombytes_buf(bytes, sizeof(bytes));
  return base::StrCat(kPrefix, model::Base32Lower(bytes, sizeof(bytes)));
}

bool IsValidTokenName(std::string_view name) {
  if (name.empty() || name.size() > 64 || !(name[0] >= 'a' && name[0] <= 'z')) return false;
  for (char c : name) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-';
    if (!ok) return false;
  }
  return true;
}

TokenStore::TokenStore(storage::Store& store, std::function<int64_t()> now_ms)
    : store_(store), now_ms_(std::move(now_ms)) {}

absl::Status TokenStore::Load(const std::string& config_admin_hash) {
  std::lock_guard<std::mutex> lock(mu_);
  absl::Status parse_error;
  absl::Status s = store_.Scan(storage::Table::kTokens, "", "", [&](std::string_view key,
                                                                    std::string_view value) {
    Entry e;
    if (value.size() < 64 || !e.info.ParseFromArray(value.data() + 64,
                                                    static_cast<int>(value.size() - 64))) {
      parse_error = absl::DataLossError(base::StrCat("tokens: entry ", key, " does not parse"));
      return false;
    }
    e.hash = std::string(value.substr(0, 64));
    by_hash_[e.hash] = e.info.name();
    by_name_[e.info.name()] = std::move(e);
    return true;
  });
  if (!s.ok()) return s;
  if (!parse_error.ok()) return parse_error;

  if (!config_admin_hash.empty()) {
    if (by_name_.contains(std::string(kConfigAdminName)) &&
        by_name_[std::string(kConfigAdminName)].info.created_by() != "config") {
      return absl::FailedPreconditionError(
          "auth.admin_token_sha256: a token named admin was created through the API; revoke "
          "it or remove the key from the config");
    }
    Entry e;
    e.hash = config_admin_hash;
    e.info.set_name(std::string(kConfigAdminName));
    e.info.set_role(std::string(RoleName(Role::kAdmin)));
    e.info.set_created_by("config");
    by_hash_[e.hash] = e.info.name();
    by_name_[e.info.name()] = std::move(e);
  }
  return absl::OkStatus();
}

absl::StatusOr<Identity> TokenStore::Authenticate(std::string_view token) const {
  if (!LooksLikeToken(token)) {
    return absl::UnauthenticatedError("token: malformed (expected wlt_ and 52 base32 characters)");
  }
  std::string hash = TokenHash(token);
  std::lock_guard<std::mutex> lock(mu_);
  auto it = by_hash_.find(hash);
  if (it == by_hash_.end()) return absl::UnauthenticatedError("token: unknown");
  const Entry& e = by_name_.at(it->second);
  if (e.info.revoked_unix_ms() != 0) {
    return absl::UnauthenticatedError(base::StrCat("token: ", e.info.name(), " was revoked"));
  }
  if (e.info.expires_unix_ms() != 0 && now_ms_() >= e.info.expires_unix_ms()) {
    return absl::UnauthenticatedError(base::StrCat("token: ", e.info.name(), " has expired"));
  }
  std::optional<Role> role = ParseRole(e.info.role());
  if (!role) return absl::UnauthenticatedError("token: unknown role");
  return Identity{e.info.name(), *role};
}

absl::StatusOr<std::pair<v1::TokenInfo, std::string>> TokenStore::Create(
    const std::string& name, Role role, int64_t expires_ms, const std::string& created_by) {
  if (!IsValidTokenName(name)) {
    return absl::InvalidArgumentError(
        "name: 1-64 of a-z, 0-9, '.', '_', '-', starting with a letter");
  }
  int64_t now = now_ms_();
  if (expires_ms != 0 && expires_ms <= now) {
    return absl::InvalidArgumentError("expires: must be in the future");
  }
  Entry e;
  std::string secret = NewTokenSecret();
  e.hash = TokenHash(secret);
  e.info.set_name(name);
  e.info.set_role(std::string(RoleName(role)));
  e.info.set_created_unix_ms(now);
  e.info.set_expires_unix_ms(expires_ms);
  e.info.set_created_by(created_by);

  std::lock_guard<std::mutex> lock(mu_);
  if (by_name_.contains(name)) {
    return absl::AlreadyExistsError(base::StrCat("name: a token named ", name, " exists"));
  }
  if (absl::Status s = Save(e); !s.ok()) return s;
  by_hash_[e.hash] = name;
  v1::TokenInfo info = e.info;
  by_name_[name] = std::move(e);
  return std::make_pair(std::move(info), std::move(secret));
}

absl::StatusOr<v1::TokenInfo> TokenStore::Revoke(const std::string& name,
                                                 const std::string& revoked_by) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = by_name_.find(name);
  if (it == by_name_.end()) return absl::NotFoundError(base::StrCat("name: no token named ", name));
  if (it->second.info.created_by() == "config") {
    return absl::FailedPreconditionError(
        "name: the admin token of the config is revoked by removing auth.admin_token_sha256 "
        "from the config and restarting");
  }
  if (it->second.info.revoked_unix_ms() != 0) return it->second.info;
  Entry updated = it->second;
  updated.info.set_revoked_unix_ms(now_ms_());
  updated.info.set_revoked_by(revoked_by);
  if (absl::Status s = Save(updated); !s.ok()) return s;
  it->second = std::move(updated);
  return it->second.info;
}

absl::StatusOr<int> TokenStore::RevokeRole(Role role, const std::string& revoked_by) {
  std::vector<std::string> names;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (const auto& [name, e] : by_name_) {
      if (e.info.role() == RoleName(role) && e.info.revoked_unix_ms() == 0 &&
          e.info.created_by() != "config") {
        names.push_back(name);
      }
    }
  }
  for (const std::string& name : names) {
    if (absl::StatusOr<v1::TokenInfo> r = Revoke(name, revoked_by); !r.ok()) return r.status();
  }
  return static_cast<int>(names.size());
}

std::vector<v1::TokenInfo> TokenStore::List() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<v1::TokenInfo> out;
  for (const auto& [name, e] : by_name_) out.push_back(e.info);
  std::sort(out.begin(), out.end(),
            [](const v1::TokenInfo& a, const v1::TokenInfo& b) { return a.name() < b.name(); });
  return out;
}

absl::Status TokenStore::Save(const Entry& e) {
  storage::TableBatch batch;
  batch.puts.push_back({storage::Table::kTokens, e.info.name(), e.hash + e.info.SerializeAsString()});
  return store_.Write(batch, /*sync=*/true);
}

}  // namespace wlsync::access
