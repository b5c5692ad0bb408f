// The audit trail's hash chain: the canonical bytes of an entry, its hash, the signed
// head, and a verifier that walks a trail and names the first broken entry. Shared by the
// node (which appends) and the CLI (which verifies an export offline).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "wlsync/v1/audit.pb.h"

namespace wlsync::access {

// Field by field, in a fixed order, each length-prefixed; independent of protobuf's
// encoding so that any reader can recompute it.
std::string CanonicalBytes(const v1::AuditEntry& entry);
// SHA-256 of CanonicalBytes (32 raw bytes).
std::string EntryHash(const v1::AuditEntry& entry);
// What the head signature covers.
std::string HeadMessage(std::string_view node, uint64_t seq, std::string_view hash);

// Feed entries in seq order, then Finish with the head. Not thread safe.
class ChainVerifier {
 public:
  // With a public key, the head's signature is checked too. `start_seq` is the seq of the
  // first entry fed (1 for a whole trail); `start_prev` the hash it must chain to.
  explicit ChainVerifier(std::string public_key, uint64_t start_seq = 1,
                         std::string start_prev = std::string(32, '\0'));

  // False once an entry is broken; error() then names it.
  bool Add(const v1::AuditEntry& entry);
  absl::Status Finish(const v1::AuditHead& head);

  uint64_t entries() const { return entries_; }
  const absl::Status& error() const { return error_; }

 private:
  const std::string public_key_;
  uint64_t next_seq_;
  std::string prev_hash_;
  uint64_t entries_ = 0;
  absl::Status error_;
};

}  // namespace wlsync::access
