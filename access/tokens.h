// Bearer tokens: creation, lookup by the token's hash, expiry and revocation. Tokens are
// node-local (each jurisdiction issues its own) and kept in the store's tokens table.
#pragma once

#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "access/roles.h"
#include "storage/store.h"
#include "wlsync/v1/access.pb.h"

namespace wlsync::access {

// The secret form of a token: "wlt_" and 52 base32 characters (256 random bits).
bool LooksLikeToken(std::string_view text);
// SHA-256 of the token text, lowercase hex: what the node and the config keep.
std::string TokenHash(std::string_view token);
// A new random token.
std::string NewTokenSecret();
// 1-64 of [a-z0-9._-], starting with a letter.
bool IsValidTokenName(std::string_view name);

// Who a valid token belongs to.
struct Identity {
  std::string name;
  Role role = Role::kOperator;
};

// Lifecycle: Load once at start (reads every token from the store), then Create, Revoke
// and Authenticate from any thread. Revocation takes effect for every Authenticate that
// starts after Revoke returns. Thread safe. `store` must outlive it.
class TokenStore {
 public:
  TokenStore(storage::Store& store, std::function<int64_t()> now_ms);

  // Reads the tokens table. `config_admin_hash` (hex SHA-256, may be empty) is the admin
  // token named in the node's config: it is valid while the config names it.
  absl::Status Load(const std::string& config_admin_hash);

  // The identity of a token; UNAUTHENTICATED (with a reason that never echoes the token)
  // when it is unknown, expired or revoked.
  absl::StatusOr<Identity> Authenticate(std::string_view token) const;

  // Creates a token; returns its info and the secret. ALREADY_EXISTS for a used name
  // (revoked names stay used, so that the trail never mixes two tokens of one name).
  absl::StatusOr<std::pair<v1::TokenInfo, std::string>> Create(const std::string& name,
                                                               Role role, int64_t expires_ms,
                                                               const std::string& created_by);
  absl::StatusOr<v1::TokenInfo> Revoke(const std::string& name, const std::string& revoked_by);
  std::vector<v1::TokenInfo> List() const;
  // Revokes every valid token of `role`; returns how many.
  absl::StatusOr<int> RevokeRole(Role role, const std::string& revoked_by);

  static constexpr std::string_view kConfigAdminName = "admin";

 private:
  struct Entry {
    std::string hash;
    v1::TokenInfo info;
  };
  absl::Status Save(const Entry& entry);

  storage::Store& store_;
  const std::function<int64_t()> now_ms_;
  mutable std::mutex mu_;
  absl::flat_hash_map<std::string, Entry> by_name_;        // guarded by mu_
  absl::flat_hash_map<std::string, std::string> by_hash_;  // hash -> name, guarded by mu_
};

}  // namespace wlsync::access
