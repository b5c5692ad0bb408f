// Ed25519 signing of delta bodies and the trust store of peer public keys.
// The signature covers a fixed domain-separation prefix and the body bytes exactly as
// received, so verification never re-serializes and tolerates unknown fields.
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace wlsync::sync {

inline constexpr std::string_view kDeltaDomain = "wlsync/delta/v1\n";
inline constexpr size_t kPublicKeySize = 32;

// SHA-256 of bytes, raw.
std::string Sha256(std::string_view bytes);

// Lowercase hex of the first 8 bytes of SHA-256(public key).
std::string KeyIdOf(std::string_view public_key);

// A node's signing key. Immutable; thread safe.
class SigningKey {
 public:
  static SigningKey Generate();
  // Reads a secret key file: the 32-byte seed as 64 hex characters and a newline.
  static absl::StatusOr<SigningKey> LoadFile(const std::string& path);
  // Writes the seed (mode 0600) to `path` and the public key as hex to `path`.pub.
  absl::Status WriteFiles(const std::string& path) const;

  const std::string& public_key() const { return public_key_; }  // 32 raw bytes
  const std::string& key_id() const { return key_id_; }
  // Detached signature over kDeltaDomain + body.
  std::string Sign(std::string_view body) const;
  // Detached signature over exactly `message` (callers add their own domain prefix).
  std::string SignRaw(std::string_view message) const;

 private:
  SigningKey() = default;
  std::array<uint8_t, 64> secret_{};
  std::string public_key_;
  std::string key_id_;
};

// Public keys by node name. Immutable after construction; thread safe.
class TrustStore {
 public:
  // Adds a node's key; fails when the key is malformed or the name is taken.
  absl::Status Add(std::string_view node, std::string_view public_key);
  bool Knows(std::string_view node) const { return keys_.contains(std::string(node)); }
  // The node's public key (32 raw bytes), or empty when unknown.
  std::string PublicKey(std::string_view node) const {
    auto it = keys_.find(node);
    return it == keys_.end() ? std::string() : it->second.public_key;
  }
  // Checks that `key_id` is the node's key and the signature is valid.
  absl::Status Verify(std::string_view node, std::string_view key_id, std::string_view body,
                      std::string_view signature) const;

 private:
  struct Entry {
    std::string public_key;
    std::string key_id;
  };
  std::map<std::string, Entry, std::less<>> keys_;
};

// Verifies a detached Ed25519 signature over exactly `message`.
bool VerifyRaw(std::string_view public_key, std::string_view message,
               std::string_view signature);

// Parses 64 hex characters into a 32-byte public key; the error names `what`.
absl::StatusOr<std::string> ParsePublicKeyHex(std::string_view hex, std::string_view what);

}  // namespace wlsync::sync
