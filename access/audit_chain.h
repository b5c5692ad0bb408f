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
// What the head signature covers: seq and hash, and the retention base once there is one
// (the layout is in audit.proto, AuditHead.signature).
std::string HeadMessage(const v1::AuditHead& head);

// Feed the kept entries in seq order, then Finish with the head. The chain is checked
// from the first entry fed; Finish checks that this entry is where the head's retention
// base says the kept trail starts (entry 1 chained to 32 zero bytes when nothing was
// removed), so an entry dropped at the start is found like one dropped in the middle.
// Not thread safe.
class ChainVerifier {
 public:
  // With a public key, the head's signature is checked too.
  explicit ChainVerifier(std::string public_key);

  // False once an entry is broken; error() then names it.
  bool Add(const v1::AuditEntry& entry);
  absl::Status Finish(const v1::AuditHead& head);

  uint64_t entries() const { return entries_; }
  // The seq of the first entry fed (0 before any).
  uint64_t first_seq() const { return first_seq_; }
  const absl::Status& error() const { return error_; }

 private:
  absl::Status CheckBase(const v1::AuditHead& head);

  const std::string public_key_;
  uint64_t first_seq_ = 0;
  std::string first_prev_;
  uint64_t next_seq_ = 0;
  std::string prev_hash_;
  uint64_t entries_ = 0;
  absl::Status error_;
};

}  // namespace wlsync::access
