// Digests of merged records for reconciliation. A record's digest hashes a canonical
// encoding of its state, defined field by field here (never protobuf bytes), tombstones
// included, so that two nodes agree on it whatever their protobuf version.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

#include "wlsync/v1/records.pb.h"

namespace wlsync::model {

inline constexpr size_t kDigestSize = 16;
// The shortest prefix of a digest reconciliation compares below the root (see
// TreeRequest.digest_bytes): a chance of 2^-64 per comparison that a difference hides
// there, which the whole root digest compared at the end of a run still reveals.
inline constexpr size_t kMinShortDigest = 8;
// Whether `size` bytes are a digest prefix reconciliation may send (8 to 16).
inline constexpr bool IsShortDigestSize(size_t size) {
  return size >= kMinShortDigest && size <= kDigestSize;
}
using Digest = std::array<uint8_t, kDigestSize>;

// BLAKE2b-128 of: pid; then for every group 1..9 its number, stamp hlc (8 bytes big-endian),
// stamp node and each column value, every string length-prefixed (4 bytes big-endian).
// Which delta wrote a group is not part of the state and not hashed.
Digest RecordDigest(const v1::Record& record);

// The same encoding restricted to one group (its number, stamp and values).
Digest GroupDigest(const v1::Record& record, v1::Group group);

// The digest's 16 bytes as a string, for wire messages and comparisons.
inline std::string DigestBytes(const Digest& d) {
  return std::string(reinterpret_cast<const char*>(d.data()), d.size());
}

// a ^= b.
void XorInto(Digest* a, const Digest& b);
bool IsZero(const Digest& d);

}  // namespace wlsync::model
