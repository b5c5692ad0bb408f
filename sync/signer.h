// Ed25519 signing of delta bodies and the trust store of peer public keys. The signature covers a
// fixed domain-separation prefix and the body bytes exactly as received, so verification never
// re-serializes and tolerates unknown fields.
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace wlsync::sync {

inline constexpr std::string_view kDeltaDomain = "wlsync/delta/v1\n";
inline constexpr std::string_view kKeyDomain = "wlsync/key/v1\n";
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

// One signing key of a node, with the window in which deltas signed by it are valid. Windows are
// measured in the delta's own HLC (DeltaBody.max_hlc): a key retired by a rotation stays valid for
// everything it signed up to the rotation, for ever.
struct KeyRecord {
  std::string node;
  std::string key_id;
  std::string public_key;            // 32 raw bytes
  uint64_t valid_after_hlc = 0;      // exclusive; 0: from the start
  uint64_t valid_until_hlc = 0;      // inclusive; 0: no end (the current key)
  int64_t revoked_from_unix_ms = 0;  // 0: not revoked
  std::string revoked_by;            // "origin" (a signed notice) or "local" (an operator here)
  std::string source;                // "config", "history file", or "origin/epoch/seq"
  // Revoked by its origin: the highest seq of each of the origin's epochs (16 raw bytes) that the
  // origin vouched for in its notice. Deltas at or below them stay valid.
  std::map<std::string, uint64_t> vouched;

  bool operator==(const KeyRecord&) const = default;
};

// Why a delta's signature was refused.
enum class KeyVerdict {
  kOk,
  kBadSignature,   // unknown origin or key id, or the signature does not verify
  kOutsideWindow,  // a valid signature, but by a key not valid at the delta's
                   // HLC
  kRevoked,        // a valid signature by a key revoked from before the delta's HLC
};

// A signature checked ahead of TrustStore::Verify: the bytes it covers and the key it
// verifies with. The views must outlive the Verify call.
struct CheckedSignature {
  std::string public_key;  // empty: verified with no known key
  std::string_view body;
  std::string_view signature;
};

// Public keys by node name, several per node once keys rotate. Keys come from the config (anchors,
// valid from the start), from the node's persisted trust entries, and from key notices in verified
// deltas of their own node. Thread safe: Verify and the readers take a shared lock; Apply an
// exclusive one.
class TrustStore {
 public:
  // Adds a configured key of `node`, valid from the start with no end. Fails when the key is
  // malformed or the node already has a configured key.
  absl::Status Add(std::string_view node, std::string_view public_key);
  // Inserts records, or replaces those with the same node and key id.
  void Apply(const std::vector<KeyRecord>& records);

  bool Knows(std::string_view node) const;
  // The node's current key (32 raw bytes): of the keys with no end, the most recent one; empty when
  // the node is unknown or has none.
  std::string PublicKey(std::string_view node) const;
  std::optional<KeyRecord> Find(std::string_view node, std::string_view key_id) const;
  // Every key (of one node, or of all when `node` is empty), by node and window.
  std::vector<KeyRecord> Keys(std::string_view node = "") const;

  // Checks that `key_id` is a key of `node` valid at `hlc` and that the signature over kDeltaDomain
  // + body verifies. The error says which check failed; `verdict`, when given, classifies it.
  // `checked`: a signature already found genuine (by Check, perhaps on another thread).
  // When it is this key's, over these very body and signature bytes, it is not checked
  // again.
  absl::Status Verify(std::string_view node, std::string_view key_id, std::string_view body,
                      std::string_view signature, uint64_t hlc,
                      KeyVerdict* verdict = nullptr,
                      const CheckedSignature* checked = nullptr) const;
  // Which public key, of any node's key named `key_id`, the signature over kDeltaDomain +
  // body verifies with (empty public_key when none does). Says nothing about the key's
  // validity: Verify decides that.
  CheckedSignature Check(std::string_view key_id, std::string_view body,
                         std::string_view signature) const;

  // The records a rotation changes: the signing key `signing_key_id` of `node` ends at `at_hlc`,
  // and `new_public_key` starts after it. `endorsement` must be the new key's signature of
  // KeyEndorsementMessage. Applies nothing.
  absl::StatusOr<std::vector<KeyRecord>> PlanRotate(std::string_view node,
                                                    std::string_view signing_key_id,
                                                    std::string_view new_public_key,
                                                    std::string_view endorsement, uint64_t at_hlc,
                                                    std::string_view source) const;
  // The record a revocation changes. A later revocation time never replaces an earlier one
  // (revoking is one-way); vouched positions only grow. Applies nothing.
  absl::StatusOr<KeyRecord> PlanRevoke(std::string_view node, std::string_view key_id,
                                       int64_t from_unix_ms, std::string_view by,
                                       const std::map<std::string, uint64_t>& vouched = {}) const;
  // True when the origin vouched for position `seq` of its epoch `epoch` when it revoked `key_id`
  // (so the delta there stays valid whatever its time).
  bool Vouched(std::string_view node, std::string_view key_id, std::string_view epoch,
               uint64_t seq) const;

 private:
  const KeyRecord* FindLocked(std::string_view node, std::string_view key_id) const;

  mutable std::shared_mutex mu_;
  // By node, then key id.  Guarded by mu_.
  std::map<std::string, std::map<std::string, KeyRecord, std::less<>>, std::less<>> keys_;
  std::set<std::string, std::less<>> configured_;  // nodes with a configured key; mu_
};

// What a new key signs to endorse a rotation from `signing_key_id` (see KeyNotice).
std::string KeyEndorsementMessage(std::string_view node, std::string_view signing_key_id,
                                  std::string_view new_public_key);

// The current signing key of this node: replaced by a rotation while readers sign with the key they
// fetched. Thread safe.
class NodeKey {
 public:
  explicit NodeKey(SigningKey key) : key_(std::make_shared<const SigningKey>(std::move(key))) {}

  std::shared_ptr<const SigningKey> current() const {
    std::lock_guard<std::mutex> lock(mu_);
    return key_;
  }
  void Replace(SigningKey key) {
    auto next = std::make_shared<const SigningKey>(std::move(key));
    std::lock_guard<std::mutex> lock(mu_);
    key_ = std::move(next);
  }

 private:
  mutable std::mutex mu_;
  std::shared_ptr<const SigningKey> key_;  // guarded by mu_
};

// Verifies a detached Ed25519 signature over exactly `message`.
bool VerifyRaw(std::string_view public_key, std::string_view message, std::string_view signature);

// Parses 64 hex characters into a 32-byte public key; the error names `what`.
absl::StatusOr<std::string> ParsePublicKeyHex(std::string_view hex, std::string_view what);

}  // namespace wlsync::sync
