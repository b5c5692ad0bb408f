#include "storage/sealing.h"

#include <sodium.h>

#include "base/strings.h"
#include "model/pid.h"

namespace wlsync::storage {
namespace {

// A sealed value: this marker, the 24-byte nonce, then the secretbox (MAC and ciphertext).
// Plain values never start with 0xff: records and deltas are protobuf messages whose first
// byte is the tag of field 1.
constexpr std::string_view kMarker = "\xff" "S1";
constexpr size_t kOverhead = kMarker.size() + crypto_secretbox_NONCEBYTES + crypto_secretbox_MACBYTES;

}  // namespace

absl::StatusOr<std::string> LoadDataKeyFile(const std::string& path) {
  absl::StatusOr<std::string> text = model::ReadSmallFile(path);
  if (!text.ok()) return text.status();
  absl::StatusOr<std::string> raw = model::HexDecode(base::TrimAscii(*text));
  if (!raw.ok() || raw->size() != crypto_secretbox_KEYBYTES) {
    return absl::InvalidArgumentError(
        base::StrCat("data key file ", path, ": expected 64 hexadecimal characters"));
  }
  return *raw;
}

absl::Status WriteNewDataKeyFile(const std::string& path) {
  std::string key(crypto_secretbox_KEYBYTES, '\0');
  crypto_secretbox_keygen(reinterpret_cast<uint8_t*>(key.data()));
  return model::WriteFileAtomic(path, model::HexEncode(key) + "\n", 0600);
}

Sealer::Sealer(std::string key) : key_(std::move(key)) {
  randombytes_buf(nonce_prefix_.data(), nonce_prefix_.size());
}

std::string Sealer::Seal(std::string_view plain) const {
  std::string out;
  SealTo(plain, &out);
  return out;
}

void Sealer::SealTo(std::string_view plain, std::string* out) const {
  if (!enabled()) {
    out->assign(plain);
    return;
  }
  static_assert(crypto_secretbox_NONCEBYTES == 16 + 8);
  out->resize(kOverhead + plain.size());
  std::copy(kMarker.begin(), kMarker.end(), out->begin());
  auto* nonce = reinterpret_cast<uint8_t*>(out->data() + kMarker.size());
  std::copy(nonce_prefix_.begin(), nonce_prefix_.end(), nonce);
  uint64_t n = nonce_counter_.fetch_add(1, std::memory_order_relaxed);
  for (size_t i = 0; i < 8; ++i) nonce[16 + i] = static_cast<uint8_t>(n >> (8 * i));
  crypto_secretbox_easy(nonce + crypto_secretbox_NONCEBYTES,
                        reinterpret_cast<const uint8_t*>(plain.data()), plain.size(), nonce,
                        reinterpret_cast<const uint8_t*>(key_.data()));
}

absl::StatusOr<std::string_view> Sealer::Open(std::string_view stored, std::string* buffer) const {
  if (stored.substr(0, kMarker.size()) != kMarker) return stored;
  if (!enabled()) {
    return absl::DataLossError(
        "storage: the value is encrypted but node.data_key is not configured");
  }
  if (stored.size() < kOverhead) return absl::DataLossError("storage: encrypted value is cut");
  const auto* nonce = reinterpret_cast<const uint8_t*>(stored.data() + kMarker.size());
  const uint8_t* box = nonce + crypto_secretbox_NONCEBYTES;
  size_t box_size = stored.size() - kMarker.size() - crypto_secretbox_NONCEBYTES;
  buffer->resize(box_size - crypto_secretbox_MACBYTES);
  if (crypto_secretbox_open_easy(reinterpret_cast<uint8_t*>(buffer->data()), box, box_size, nonce,
                                 reinterpret_cast<const uint8_t*>(key_.data())) != 0) {
    return absl::DataLossError(
        "storage: an encrypted value does not open (wrong node.data_key, or damaged)");
  }
  return std::string_view(*buffer);
}

}  // namespace wlsync::storage
