#include "sync/signer.h"

#include <sodium.h>

#include <cstring>

#include "base/strings.h"
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

const uint8_t* Bytes(std::string_view s) { return reinterpret_cast<const uint8_t*>(s.data()); }

}  // namespace

std::string Sha256(std::string_view bytes) {
  std::string out(crypto_hash_sha256_BYTES, '\0');
  crypto_hash_sha256(reinterpret_cast<uint8_t*>(out.data()), Bytes(bytes), bytes.size());
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
  crypto_sign_seed_keypair(reinterpret_cast<uint8_t*>(key.public_key_.data()),
                           key.secret_.data(), Bytes(*seed));
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
    return absl::InvalidArgumentError(base::StrCat("trust store: key of ", node, " is not 32 bytes"));
  }
  auto [it, inserted] = keys_.emplace(std::string(node),
                                      Entry{std::string(public_key), KeyIdOf(public_key)});
  if (!inserted) {
    return absl::AlreadyExistsError(base::StrCat("trust store: node ", node, " listed twice"));
  }
  return absl::OkStatus();
}

absl::Status TrustStore::Verify(std::string_view node, std::string_view key_id,
                                std::string_view body, std::string_view signature) const {
  auto it = keys_.find(node);
  if (it == keys_.end()) {
    return absl::PermissionDeniedError(base::StrCat("signature: unknown origin ", node));
  }
  if (key_id != it->second.key_id) {
    return absl::PermissionDeniedError(
        base::StrCat("signature: key id ", key_id, " is not the key of ", node));
  }
  if (signature.size() != crypto_sign_BYTES) {
    return absl::PermissionDeniedError("signature: wrong length");
  }
  std::string message = Signed(body);
  if (crypto_sign_verify_detached(Bytes(signature), Bytes(message), message.size(),
                                  Bytes(it->second.public_key)) != 0) {
    return absl::PermissionDeniedError(base::StrCat("signature: does not verify for ", node));
  }
  return absl::OkStatus();
}

bool VerifyRaw(std::string_view public_key, std::string_view message,
               std::string_view signature) {
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
