#include "model/pid.h"

#include <fcntl.h>
#include <sodium.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include "absl/status/status.h"
#include "base/strings.h"

namespace wlsync::model {
namespace {

// libsodium must be initialized before first use; sodium_init is idempotent.
[[maybe_unused]] const int kSodiumReady = sodium_init();

constexpr std::string_view kBase32Alphabet = "abcdefghijklmnopqrstuvwxyz234567";

std::string_view TrimNewline(std::string_view s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r')) s.remove_suffix(1);
  return s;
}

}  // namespace

absl::StatusOr<FederationKey> FederationKey::LoadFile(const std::string& path) {
  absl::StatusOr<std::string> text = ReadSmallFile(path);
  if (!text.ok()) return text.status();
  absl::StatusOr<std::string> raw = HexDecode(TrimNewline(*text));
  if (!raw.ok() || raw->size() != kSize) {
    return absl::InvalidArgumentError(
        base::StrCat("federation key file ", path, ": expected 64 hexadecimal characters"));
  }
  std::array<uint8_t, kSize> bytes;
  std::memcpy(bytes.data(), raw->data(), kSize);
  return FederationKey(bytes);
}

FederationKey FederationKey::Generate() {
  std::array<uint8_t, kSize> bytes;
  randombytes_buf(bytes.data(), bytes.size());
  return FederationKey(bytes);
}

absl::Status FederationKey::WriteFile(const std::string& path) const {
  std::string hex = HexEncode(
      std::string_view(reinterpret_cast<const char*>(bytes_.data()), bytes_.size()));
  return WriteFileAtomic(path, hex + "\n", 0600);
}

struct HmacKey::State {
  crypto_auth_hmacsha256_state keyed;  // after the key's padded blocks, before any message
};

HmacKey::HmacKey(std::string_view key) {
  auto state = std::make_shared<State>();
  crypto_auth_hmacsha256_init(&state->keyed, reinterpret_cast<const uint8_t*>(key.data()),
                              key.size());
  state_ = std::move(state);
}

std::string HmacKey::Mac(std::initializer_list<std::string_view> parts) const {
  crypto_auth_hmacsha256_state state = state_->keyed;
  for (std::string_view part : parts) {
    crypto_auth_hmacsha256_update(&state, reinterpret_cast<const uint8_t*>(part.data()),
                                  part.size());
  }
  std::string mac(crypto_auth_hmacsha256_BYTES, '\0');
  crypto_auth_hmacsha256_final(&state, reinterpret_cast<uint8_t*>(mac.data()));
  sodium_memzero(&state, sizeof(state));
  return mac;
}

std::string HmacKey::Tag(std::string_view domain, std::string_view value) const {
  return Mac({domain, std::string_view("\0", 1), value}).substr(0, 16);
}

FederationKey::FederationKey(const std::array<uint8_t, kSize>& bytes)
    : bytes_(bytes),
      mac_(std::string_view(reinterpret_cast<const char*>(bytes.data()), bytes.size())) {}

std::string FederationKey::Pid(std::string_view normalized_id_doc) const {
  std::string mac = mac_.Mac({normalized_id_doc});
  return Base32Lower(reinterpret_cast<const uint8_t*>(mac.data()), 16);
}

std::string FederationKey::Fingerprint() const {
  return mac_.Mac({"wlsync/federation-check/v1"}).substr(0, 16);
}

std::string FederationKey::DeriveKey(std::string_view purpose) const {
  return mac_.Mac({"wlsync/derive/v1/", purpose});
}

std::string KeyedTag(std::string_view key, std::string_view domain, std::string_view value) {
  return HmacKey(key).Tag(domain, value);
}

std::string Base32Lower(const uint8_t* data, size_t size) {
  std::string out;
  out.reserve((size * 8 + 4) / 5);
  uint32_t buffer = 0;
  int bits = 0;
  for (size_t i = 0; i < size; ++i) {
    buffer = (buffer << 8) | data[i];
    bits += 8;
    while (bits >= 5) {
      out.push_back(kBase32Alphabet[(buffer >> (bits - 5)) & 0x1f]);
      bits -= 5;
    }
  }
  if (bits > 0) out.push_back(kBase32Alphabet[(buffer << (5 - bits)) & 0x1f]);
  return out;
}

namespace {

// The value of a character of kBase32Alphabet, or -1 (checked once per event received,
// so a range test rather than a search of the alphabet).
int Base32Value(char c) {
  if (c >= 'a' && c <= 'z') return c - 'a';
  if (c >= '2' && c <= '7') return 26 + (c - '2');
  return -1;
}

}  // namespace

bool IsValidPid(std::string_view text) {
  if (text.size() != kPidLength) return false;
  for (char c : text) {
    if (Base32Value(c) < 0) return false;
  }
  // 16 bytes = 128 bits fill 25 characters and 3 bits of the last one.
  return (Base32Value(text.back()) & 0x3) == 0;
}

std::string HexEncode(std::string_view bytes) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  out.reserve(bytes.size() * 2);
  for (unsigned char c : bytes) {
    out.push_back(kDigits[c >> 4]);
    out.push_back(kDigits[c & 0xf]);
  }
  return out;
}

absl::StatusOr<std::string> HexDecode(std::string_view hex) {
  auto nibble = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  if (hex.size() % 2 != 0) return absl::InvalidArgumentError("hex: odd number of digits");
  std::string out;
  out.reserve(hex.size() / 2);
  for (size_t i = 0; i < hex.size(); i += 2) {
    int hi = nibble(hex[i]);
    int lo = nibble(hex[i + 1]);
    if (hi < 0 || lo < 0) return absl::InvalidArgumentError("hex: not a hexadecimal digit");
    out.push_back(static_cast<char>(hi << 4 | lo));
  }
  return out;
}

absl::StatusOr<std::string> ReadSmallFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return absl::NotFoundError(base::StrCat(path, ": cannot open: ", std::strerror(errno)));
  }
  std::ostringstream buffer;
  buffer << in.rdbuf();
  if (in.bad()) return absl::DataLossError(base::StrCat(path, ": read failed"));
  return buffer.str();
}

absl::Status WriteFileAtomic(const std::string& path, std::string_view data, int mode) {
  std::string tmp = path + ".tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
  if (fd < 0) {
    return absl::PermissionDeniedError(
        base::StrCat(tmp, ": cannot create: ", std::strerror(errno)));
  }
  size_t done = 0;
  while (done < data.size()) {
    ssize_t n = ::write(fd, data.data() + done, data.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      int err = errno;
      ::close(fd);
      return absl::DataLossError(base::StrCat(tmp, ": write failed: ", std::strerror(err)));
    }
    done += static_cast<size_t>(n);
  }
  bool synced = ::fsync(fd) == 0;
  ::close(fd);
  if (!synced || ::rename(tmp.c_str(), path.c_str()) != 0) {
    return absl::DataLossError(base::StrCat(path, ": cannot write: ", std::strerror(errno)));
  }
  return absl::OkStatus();
}

}  // namespace wlsync::model
