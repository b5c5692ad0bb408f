#include "model/digest.h"

#include <sodium.h>

#include "model/fields.h"
#include "model/merge.h"

namespace wlsync::model {
namespace {

void PutU32(crypto_generichash_state* h, uint32_t v) {
  uint8_t b[4] = {static_cast<uint8_t>(v >> 24), static_cast<uint8_t>(v >> 16),
                  static_cast<uint8_t>(v >> 8), static_cast<uint8_t>(v)};
  crypto_generichash_update(h, b, sizeof(b));
}

void PutU64(crypto_generichash_state* h, uint64_t v) {
  PutU32(h, static_cast<uint32_t>(v >> 32));
  PutU32(h, static_cast<uint32_t>(v));
}

void PutString(crypto_generichash_state* h, std::string_view s) {
  PutU32(h, static_cast<uint32_t>(s.size()));
  crypto_generichash_update(h, reinterpret_cast<const uint8_t*>(s.data()), s.size());
}


void PutGroup(crypto_generichash_state* h, const v1::Record& record, v1::Group group) {
  const v1::GroupState& state = GroupOf(record, group);
  PutU32(h, static_cast<uint32_t>(group));
  PutU64(h, state.stamp().hlc());
  PutString(h, state.stamp().node());
  for (std::string_view field : FieldsOfGroup(group)) {
    PutString(h, *GetField(state.value(), field));
  }
}

Digest Final(crypto_generichash_state* h) {
  Digest out;
  crypto_generichash_final(h, out.data(), out.size());
  return out;
}

}  // namespace

Digest RecordDigest(const v1::Record& record) {
  crypto_generichash_state h;
  crypto_generichash_init(&h, nullptr, 0, kDigestSize);
  PutString(&h, "wlsync/record/v1");
  PutString(&h, record.pid());
  for (int g = 1; g <= kGroupCount; ++g) PutGroup(&h, record, static_cast<v1::Group>(g));
  return Final(&h);
}

Digest GroupDigest(const v1::Record& record, v1::Group group) {
  crypto_generichash_state h;
  crypto_generichash_init(&h, nullptr, 0, kDigestSize);
  PutString(&h, "wlsync/group/v1");
  PutGroup(&h, record, group);
  return Final(&h);
}

void XorInto(Digest* a, const Digest& b) {
  for (size_t i = 0; i < kDigestSize; ++i) (*a)[i] ^= b[i];
}

bool IsZero(const Digest& d) {
  for (uint8_t b : d) {
    if (b != 0) return false;
  }
  return true;
}

}  // namespace wlsync::model
