#include "sync/signer.h"

#include <openssl/evp.h>
#include <sodium.h>

#include <algorithm>
#include <cstring>
#include <tuple>

#include "absl/time/time.h"
#include "base/strings.h"
#include "model/hlc.h"
#include "model/pid.h"

namespace wlsync::sync {
namespace {

// libsodium must be initialized before first use; sodium_init is idempotent.
[[maybe_unused]] const int kSodiumReady = sodium_init();

std::string Signed(std::string_view body) {
  std::string message(kDeltaDomain);
  message.append(body);
  return message;
}

// The same message for a verification, in a buffer each thread keeps: a body is up to a few
// MiB, and a fresh allocation of that size is a fresh mmap, paid in page faults every time
// (reconciliation verifies thousands of deltas in a row).
std::string_view SignedForCheck(std::string_view body) {
  constexpr size_t kKeepBytes = 8 << 20;
  thread_local std::string message;
  if (message.capacity() > kKeepBytes) std::string().swap(message);
  message.assign(kDeltaDomain);
  message.append(body);
  return message;
}

// "2026-12-04T20:15:00Z", for refusal messages.
std::string UtcTime(int64_t unix_ms) {
  return absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", absl::FromUnixMillis(unix_ms), absl::UTCTimeZone());
}

const uint8_t* Bytes(std::string_view s) { return reinterpret_cast<const uint8_t*>(s.data()); }

}  // namespace

// Through libcrypto, which uses the CPU's SHA instructions where it has them: every body
// is hashed once where it is made and once where it arrives, and libsodium's portable
// SHA-256 took about 4% of a catch-up's CPU.
std::string Sha256(std::string_view bytes) {
  std::string out(crypto_hash_sha256_BYTES, '\0');
  unsigned int size = 0;
  if (EVP_Digest(bytes.data(), bytes.size(), reinterpret_cast<unsigned char*>(out.data()), &size,
                 EVP_sha256(), nullptr) != 1 ||
      size != out.size()) {
    // Only an allocation failure inside libcrypto gets here; libsodium gives the same hash.
    crypto_hash_sha256(reinterpret_cast<uint8_t*>(out.data()), Bytes(bytes), bytes.size());
  }
  return out;
}

std::string KeyIdOf(std::string_view public_key) {
  return model::HexEncode(Sha256(public_key).substr(0, 8));
}

SigningKey SigningKey::Generate() {
  SigningKey key;
  key.public_key_.resize(crypto_sign_PUBLICKEYBYTES);
  crypto_sign_keypair(reinterpret_cast<uint8_t*>(key.public_key_.data()), key.secret_.data());
  key.key_id_ = KeyIdOf(key.public_key_);
  return key;
}

absl::StatusOr<SigningKey> SigningKey::LoadFile(const std::string& path) {
  absl::StatusOr<std::string> text = model::ReadSmallFile(path);
  if (!text.ok()) return text.status();
  absl::StatusOr<std::string> seed = model::HexDecode(base::TrimAscii(*text));
  if (!seed.ok() || seed->size() != crypto_sign_SEEDBYTES) {
    return absl::InvalidArgumentError(
        base::StrCat("signing key file ", path, ": expected 64 hexadecimal characters"));
  }
  SigningKey key;
  key.public_key_.resize(crypto_sign_PUBLICKEYBYTES);
  crypto_sign_seed_keypair(reinterpret_cast<uint8_t*>(key.public_key_.data()), key.secret_.data(),
                           Bytes(*seed));
  key.key_id_ = KeyIdOf(key.public_key_);
  return key;
}

absl::Status SigningKey::WriteFiles(const std::string& path) const {
  uint8_t seed[crypto_sign_SEEDBYTES];
  crypto_sign_ed25519_sk_to_seed(seed, secret_.data());
  std::string hex = model::HexEncode(std::string_view(reinterpret_cast<char*>(seed), sizeof(seed)));
  sodium_memzero(seed, sizeof(seed));
  if (absl::Status s = model::WriteFileAtomic(path, hex + "\n", 0600); !s.ok()) return s;
  return model::WriteFileAtomic(path + ".pub", model::HexEncode(public_key_) + "\n", 0644);
}

std::string SigningKey::Sign(std::string_view body) const { return SignRaw(Signed(body)); }

std::string SigningKey::SignRaw(std::string_view message) const {
  std::string sig(crypto_sign_BYTES, '\0');
  crypto_sign_detached(reinterpret_cast<uint8_t*>(sig.data()), nullptr, Bytes(message),
                       message.size(), secret_.data());
  return sig;
}

absl::Status TrustStore::Add(std::string_view node, std::string_view public_key) {
  if (public_key.size() != kPublicKeySize) {
    return absl::InvalidArgumentError(
        base::StrCat("trust store: key of ", node, " is not 32 bytes"));
  }
  std::unique_lock lock(mu_);
  if (!configured_.emplace(node).second) {
    return absl::AlreadyExistsError(base::StrCat("trust store: node ", node, " listed twice"));
  }
  KeyRecord r;
  r.node = std::string(node);
  r.key_id = KeyIdOf(public_key);
  r.public_key = std::string(public_key);
  r.source = "config";
  // A key already learnt (persisted) keeps its window: what was learnt is more precise.
  keys_[r.node].try_emplace(r.key_id, std::move(r));
  return absl::OkStatus();
}

void TrustStore::Apply(const std::vector<KeyRecord>& records) {
  std::unique_lock lock(mu_);
  for (const KeyRecord& r : records) keys_[r.node].insert_or_assign(r.key_id, r);
}

bool TrustStore::Knows(std::string_view node) const {
  std::shared_lock lock(mu_);
  return keys_.contains(node);
}

std::string TrustStore::PublicKey(std::string_view node) const {
  std::shared_lock lock(mu_);
  auto it = keys_.find(node);
  if (it == keys_.end()) return {};
  const KeyRecord* current = nullptr;
  for (const auto& [id, r] : it->second) {
    if (r.valid_until_hlc != 0) continue;
    if (current == nullptr || r.valid_after_hlc > current->valid_after_hlc) current = &r;
  }
  return current == nullptr ? std::string() : current->public_key;
}

const KeyRecord* TrustStore::FindLocked(std::string_view node, std::string_view key_id) const {
  auto it = keys_.find(node);
  if (it == keys_.end()) return nullptr;
  auto k = it->second.find(key_id);
  return k == it->second.end() ? nullptr : &k->second;
}

std::optional<KeyRecord> TrustStore::Find(std::string_view node, std::string_view key_id) const {
  std::shared_lock lock(mu_);
  const KeyRecord* r = FindLocked(node, key_id);
  return r == nullptr ? std::nullopt : std::optional<KeyRecord>(*r);
}

std::vector<KeyRecord> TrustStore::Keys(std::string_view node) const {
  std::vector<KeyRecord> out;
  {
    std::shared_lock lock(mu_);
    for (const auto& [name, keys] : keys_) {
      if (!node.empty() && name != node) continue;
      for (const auto& [id, r] : keys) out.push_back(r);
    }
  }
  std::stable_sort(out.begin(), out.end(), [](const KeyRecord& a, const KeyRecord& b) {
    return std::tie(a.node, a.valid_after_hlc) < std::tie(b.node, b.valid_after_hlc);
  });
  return out;
}

absl::Status TrustStore::Verify(std::string_view node, std::string_view key_id,
                                std::string_view body, std::string_view signature, uint64_t hlc,
                                KeyVerdict* verdict, const CheckedSignature* checked) const {
  KeyVerdict unused;
  KeyVerdict& v = verdict == nullptr ? unused : *verdict;
  v = KeyVerdict::kBadSignature;
  std::shared_lock lock(mu_);
  if (!keys_.contains(node)) {
    return absl::PermissionDeniedError(base::StrCat("signature: unknown origin ", node));
  }
  const KeyRecord* key = FindLocked(node, key_id);
  if (key == nullptr) {
    return absl::PermissionDeniedError(
        base::StrCat("signature: key id ", key_id, " is not a known key of ", node));
  }
  if (signature.size() != crypto_sign_BYTES) {
    return absl::PermissionDeniedError("signature: wrong length");
  }
  // Usually `checked` views the very bytes given here: equal without reading the ~1 MB.
  auto same = [](std::string_view a, std::string_view b) {
    return (a.data() == b.data() && a.size() == b.size()) || a == b;
  };
  const bool genuine = checked != nullptr && !checked->public_key.empty() &&
                       checked->public_key == key->public_key && same(checked->body, body) &&
                       same(checked->signature, signature);
  if (!genuine) {
    std::string_view message = SignedForCheck(body);
    if (crypto_sign_verify_detached(Bytes(signature), Bytes(message), message.size(),
                                    Bytes(key->public_key)) != 0) {
      return absl::PermissionDeniedError(base::StrCat("signature: does not verify for ", node));
    }
  }

  // The signature is genuine; is the key valid for a delta of this time?
  if (key->revoked_from_unix_ms != 0 &&
      static_cast<int64_t>(model::HlcMillis(hlc)) >= key->revoked_from_unix_ms) {
    v = KeyVerdict::kRevoked;
    return absl::FailedPreconditionError(
        base::StrCat("signature: key ", key_id, " of ", node, " is revoked (by ", key->revoked_by,
                     ") from ", UtcTime(key->revoked_from_unix_ms), "; this delta is from ",
                     UtcTime(static_cast<int64_t>(model::HlcMillis(hlc)))));
  }
  if ((key->valid_after_hlc != 0 && hlc <= key->valid_after_hlc) ||
      (key->valid_until_hlc != 0 && hlc > key->valid_until_hlc)) {
    v = KeyVerdict::kOutsideWindow;
    return absl::FailedPreconditionError(base::StrCat(
        "signature: key ", key_id, " of ", node, " is not valid at hlc ", hlc, " (valid after ",
        key->valid_after_hlc, " until ",
        key->valid_until_hlc == 0 ? std::string("now") : std::to_string(key->valid_until_hlc),
        ")"));
  }
  v = KeyVerdict::kOk;
  return absl::OkStatus();
}

CheckedSignature TrustStore::Check(std::string_view key_id, std::string_view body,
                                   std::string_view signature) const {
  CheckedSignature out{"", body, signature};
  if (signature.size() != crypto_sign_BYTES) return out;
  std::vector<std::string> candidates;
  {
    std::shared_lock lock(mu_);
    for (const auto& [node, keys] : keys_) {
      auto k = keys.find(key_id);
      if (k != keys.end() && k->second.public_key.size() == crypto_sign_PUBLICKEYBYTES) {
        candidates.push_back(k->second.public_key);
      }
    }
  }
  std::string_view message = SignedForCheck(body);
  for (std::string& key : candidates) {
    if (crypto_sign_verify_detached(Bytes(signature), Bytes(message), message.size(),
                                    Bytes(key)) == 0) {
      out.public_key = std::move(key);
      break;
    }
  }
  return out;
}

std::string KeyEndorsementMessage(std::string_view node, std::string_view signing_key_id,
                                  std::string_view new_public_key) {
  return base::StrCat(kKeyDomain, node, "\n", signing_key_id, "\n", new_public_key);
}

absl::StatusOr<std::vector<KeyRecord>> TrustStore::PlanRotate(
    std::string_view node, std::string_view signing_key_id, std::string_view new_public_key,
    std::string_view endorsement, uint64_t at_hlc, std::string_view source) const {
  if (new_public_key.size() != kPublicKeySize) {
    return absl::InvalidArgumentError("key notice: the new public key is not 32 bytes");
  }
  if (!VerifyRaw(new_public_key, KeyEndorsementMessage(node, signing_key_id, new_public_key),
                 endorsement)) {
    return absl::InvalidArgumentError(
        "key notice: the new key's endorsement does not verify (it does not "
        "prove the origin "
        "holds the new key)");
  }
  std::string new_id = KeyIdOf(new_public_key);
  std::shared_lock lock(mu_);
  const KeyRecord* old_key = FindLocked(node, signing_key_id);
  if (old_key == nullptr) {
    return absl::NotFoundError(
        base::StrCat("key notice: ", signing_key_id, " is not a key of ", node));
  }
  if (new_id == signing_key_id) {
    return absl::InvalidArgumentError("key notice: a key cannot replace itself");
  }
  std::vector<KeyRecord> out;
  if (const KeyRecord* known = FindLocked(node, new_id);
      known != nullptr && known->valid_after_hlc != 0) {
    return out;  // announced before (a repair, a relay): nothing changes
  }
  KeyRecord retired = *old_key;
  if (retired.valid_until_hlc == 0 || retired.valid_until_hlc > at_hlc) {
    retired.valid_until_hlc = at_hlc;
  }
  out.push_back(std::move(retired));
  KeyRecord next;
  next.node = std::string(node);
  next.key_id = new_id;
  next.public_key = std::string(new_public_key);
  next.valid_after_hlc = at_hlc;
  next.source = std::string(source);
  out.push_back(std::move(next));
  return out;
}

absl::StatusOr<KeyRecord> TrustStore::PlanRevoke(
    std::string_view node, std::string_view key_id, int64_t from_unix_ms, std::string_view by,
    const std::map<std::string, uint64_t>& vouched) const {
  if (from_unix_ms <= 0) return absl::InvalidArgumentError("revocation: no time given");
  std::shared_lock lock(mu_);
  const KeyRecord* key = FindLocked(node, key_id);
  if (key == nullptr) {
    return absl::NotFoundError(
        base::StrCat("revocation: ", key_id, " is not a known key of ", node));
  }
  KeyRecord r = *key;
  if (r.revoked_from_unix_ms == 0 || from_unix_ms < r.revoked_from_unix_ms) {
    r.revoked_from_unix_ms = from_unix_ms;
    r.revoked_by = std::string(by);
  }
  for (const auto& [epoch, seq] : vouched) {
    uint64_t& mark = r.vouched[epoch];
    mark = std::max(mark, seq);
  }
  return r;
}

bool TrustStore::Vouched(std::string_view node, std::string_view key_id, std::string_view epoch,
                         uint64_t seq) const {
  std::shared_lock lock(mu_);
  const KeyRecord* key = FindLocked(node, key_id);
  if (key == nullptr) return false;
  auto it = key->vouched.find(std::string(epoch));
  return it != key->vouched.end() && seq <= it->second;
}

bool VerifyRaw(std::string_view public_key, std::string_view message, std::string_view signature) {
  return public_key.size() == kPublicKeySize && signature.size() == crypto_sign_BYTES &&
         crypto_sign_verify_detached(Bytes(signature), Bytes(message), message.size(),
                                     Bytes(public_key)) == 0;
}

absl::StatusOr<std::string> ParsePublicKeyHex(std::string_view hex, std::string_view what) {
  absl::StatusOr<std::string> raw = model::HexDecode(base::TrimAscii(hex));
  if (!raw.ok() || raw->size() != kPublicKeySize) {
    return absl::InvalidArgumentError(
        base::StrCat(what, ": expected a public key of 64 hexadecimal characters"));
  }
  if (*raw == std::string(kPublicKeySize, '\0')) {
    return absl::InvalidArgumentError(base::StrCat(what, ": all zeros is not a public key"));
  }
  return *raw;
}

}  // namespace wlsync::sync
