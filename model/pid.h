// Pseudonymous person ids. A pid is derived from the identity number with a key shared by
// every jurisdiction, so all nodes agree on it while the identity number itself never
// appears in keys, indexes or logs.
#pragma once

#include <array>
#include <cstdint>
#include <initializer_list>
#include <memory>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace wlsync::model {

// Length of a pid: 16 bytes in lowercase base32 without padding.
inline constexpr size_t kPidLength = 26;

// HMAC-SHA256 under one fixed key, with the key's two padded blocks hashed once when it
// is made: each message then costs two SHA-256 blocks instead of four (a pid per imported
// row, a phone tag per stored record). Immutable, cheap to copy; thread safe.
class HmacKey {
 public:
  explicit HmacKey(std::string_view key);

  // All 32 bytes of HMAC-SHA256(key, the concatenation of `parts`).
  std::string Mac(std::initializer_list<std::string_view> parts) const;
  // KeyedTag(key, domain, value), below.
  std::string Tag(std::string_view domain, std::string_view value) const;

 private:
  struct State;
  std::shared_ptr<const State> state_;
};

// The federation key: 32 secret bytes shared by all jurisdictions.
// Immutable after construction; thread safe.
class FederationKey {
 public:
  static constexpr size_t kSize = 32;

  // Reads a key file: 64 hexadecimal characters, optionally followed by a newline.
  static absl::StatusOr<FederationKey> LoadFile(const std::string& path);
  // A new random key.
  static FederationKey Generate();
  // Writes the key as hex, readable by the owner only (mode 0600).
  absl::Status WriteFile(const std::string& path) const;

  // pid = base32(first 16 bytes of HMAC-SHA256(key, normalized_id_doc)).
  std::string Pid(std::string_view normalized_id_doc) const;

  // 16 bytes that tell whether two nodes hold the same key without revealing it:
  // HMAC-SHA256(key, "wlsync/federation-check/v1"), truncated.
  std::string Fingerprint() const;

  // A 32-byte subkey for one purpose ("index", "audit"): HMAC-SHA256(key,
  // "wlsync/derive/v1/" + purpose). Lets other keyed hashes use the federation key
  // without ever sharing its bytes.
  std::string DeriveKey(std::string_view purpose) const;

 private:
  explicit FederationKey(const std::array<uint8_t, kSize>& bytes);

  std::array<uint8_t, kSize> bytes_;
  HmacKey mac_;  // of bytes_
};

// 16 bytes of HMAC-SHA256(key, domain + '\0' + value): a keyed, one-way tag for a
// personal value (a phone in an index key, a filter value in the audit trail).
std::string KeyedTag(std::string_view key, std::string_view domain, std::string_view value);

// Lowercase RFC 4648 base32 without padding.
std::string Base32Lower(const uint8_t* data, size_t size);

// True for 26 characters of the lowercase base32 alphabet.
bool IsValidPid(std::string_view text);

// Lowercase hex of bytes.
std::string HexEncode(std::string_view bytes);
// Inverse of HexEncode; error on odd length or a non-hex character.
absl::StatusOr<std::string> HexDecode(std::string_view hex);

// Reads a whole small file (keys, configs); the error names the path.
absl::StatusOr<std::string> ReadSmallFile(const std::string& path);
// Writes a file atomically (temp file + rename) with the given mode.
absl::Status WriteFileAtomic(const std::string& path, std::string_view data, int mode);

}  // namespace wlsync::model
