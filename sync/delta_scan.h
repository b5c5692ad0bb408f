// Reading part of a signed delta's body: its header and only the events of some pids.
// Reconciliation repairs a few records from deltas of thousands of events; parsing whole
// bodies made a repair cost grow with the delta's size instead of with the records wanted.
#pragma once

#include <string>
#include <string_view>

#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "wlsync/v1/delta.pb.h"

namespace wlsync::sync {

// A serialized v1::SignedDelta's fields, as views into its bytes (no copy of the body).
struct EnvelopeView {
  std::string_view body;
  std::string_view key_id;
  std::string_view signature;
};

// Reads an envelope as v1::SignedDelta would (the last of a repeated field wins; unknown
// fields are skipped). INVALID_ARGUMENT when the bytes are not a well-formed envelope.
absl::Status ParseEnvelope(std::string_view bytes, EnvelopeView* out);

// The max_hlc of a serialized v1::SignedDelta's body (the last one, as protobuf keeps), read
// without parsing the events; 0 when the bytes are not a well-formed envelope and body.
uint64_t DeltaMaxHlc(std::string_view signed_delta);

// Parses `bytes`, a serialized v1::DeltaBody, into `out`: every field except `events` and
// `key_notices`, and of the events only those whose pid is in `wanted` (all of them when
// `wanted` is null; none when it is empty). Other events are skipped by their length
// without being parsed; unknown fields are skipped too. `out` may live on an arena; it is
// cleared first. Returns INVALID_ARGUMENT when the bytes are not a well-formed body
// (including a wanted event that does not parse).
absl::Status ParseBodySparse(std::string_view bytes,
                             const absl::flat_hash_set<std::string>* wanted, v1::DeltaBody* out);

}  // namespace wlsync::sync
