// Encryption at rest of the values that hold personal data (records and the delta log):
// libsodium secretbox (XSalsa20-Poly1305) with the node's data key and a unique nonce per
// value. Start with Sealer; docs/storage.md has the value format.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace wlsync::storage {

// A data key file: 64 hexadecimal characters (32 bytes), like the federation key. The
// error names the file, never its content.
absl::StatusOr<std::string> LoadDataKeyFile(const std::string& path);
// Writes a new random data key, readable by the owner only.
absl::Status WriteNewDataKeyFile(const std::string& path);

// LIMITATION: the data key is a file beside the data dir: it protects a copied disk or
// backup of the data dir, not a compromised server, and rotating it (rewriting every sealed
// value) has no command yet.
//
// Seals and opens stored values. Without a key it stores values as they are (and still
// opens sealed ones with a clear error). Thread safe.
class Sealer {
 public:
  // `key`: 32 bytes, or empty for no encryption.
  explicit Sealer(std::string key);

  bool enabled() const { return !key_.empty(); }

  // The value to store for `plain`.
  std::string Seal(std::string_view plain) const;
  // The same into *out, whose buffer is reused: for callers that seal many values in a row.
  void SealTo(std::string_view plain, std::string* out) const;
  // The plaintext of a stored value: `stored` itself when it was not sealed, else the
  // opened bytes in *buffer. DATA_LOSS when it does not open (wrong key, damage), or when
  // it is sealed and this node has no key.
  absl::StatusOr<std::string_view> Open(std::string_view stored, std::string* buffer) const;

 private:
  const std::string key_;
  // A nonce is these 16 random bytes, drawn once, then a 64-bit counter: unique under the
  // key (another Sealer draws other bytes) without a system call for each value.
  std::array<uint8_t, 16> nonce_prefix_{};
  mutable std::atomic<uint64_t> nonce_counter_{0};
};

}  // namespace wlsync::storage
