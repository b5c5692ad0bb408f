#include "sync/delta_scan.h"

#include "google/protobuf/io/coded_stream.h"
#include "google/protobuf/wire_format_lite.h"

namespace wlsync::sync {
namespace {

using google::protobuf::io::CodedInputStream;
using google::protobuf::internal::WireFormatLite;

constexpr int kEventsField = 7;  // v1::DeltaBody.events
constexpr int kPidField = 1;     // v1::Event.pid
constexpr int kMaxHlcField = 5;  // v1::DeltaBody.max_hlc

absl::Status Malformed() { return absl::InvalidArgumentError("delta: body does not parse"); }

// Reads the length and value of a length-delimited field whose tag `in` has just read, as
// a view into `bytes` (the buffer `in` reads); false when it runs past the end.
bool ReadView(CodedInputStream& in, std::string_view bytes, std::string_view* value) {
  uint32_t length = 0;
  if (!in.ReadVarint32(&length) || length > bytes.size() - in.CurrentPosition()) return false;
  *value = bytes.substr(in.CurrentPosition(), length);
  return in.Skip(static_cast<int>(length));
}

// The pid of a serialized Event (the last one, as protobuf keeps the last of a repeated
// scalar), without parsing the rest; false when the bytes are not a well-formed message.
bool EventPid(std::string_view event, std::string* pid) {
  CodedInputStream in(reinterpret_cast<const uint8_t*>(event.data()),
                      static_cast<int>(event.size()));
  pid->clear();
  while (uint32_t tag = in.ReadTag()) {
    if (WireFormatLite::GetTagFieldNumber(tag) == kPidField &&
        WireFormatLite::GetTagWireType(tag) == WireFormatLite::WIRETYPE_LENGTH_DELIMITED) {
      uint32_t length = 0;
      if (!in.ReadVarint32(&length) || !in.ReadString(pid, static_cast<int>(length))) {
        return false;
      }
    } else if (!WireFormatLite::SkipField(&in, tag)) {
      return false;
    }
  }
  return in.ConsumedEntireMessage();
}

}  // namespace

absl::Status ParseEnvelope(std::string_view bytes, EnvelopeView* out) {
  *out = EnvelopeView{};
  CodedInputStream in(reinterpret_cast<const uint8_t*>(bytes.data()),
                      static_cast<int>(bytes.size()));
  in.SetTotalBytesLimit(static_cast<int>(bytes.size()) + 1);
  auto bad = [] { return absl::InvalidArgumentError("delta: envelope does not parse"); };
  while (uint32_t tag = in.ReadTag()) {
    const int field = WireFormatLite::GetTagFieldNumber(tag);
    if (field < 1 || field > 3 ||
        WireFormatLite::GetTagWireType(tag) != WireFormatLite::WIRETYPE_LENGTH_DELIMITED) {
      if (!WireFormatLite::SkipField(&in, tag)) return bad();
      continue;
    }
    std::string_view value;
    if (!ReadView(in, bytes, &value)) return bad();
    (field == 1 ? out->body : field == 2 ? out->key_id : out->signature) = value;
  }
  return in.ConsumedEntireMessage() ? absl::OkStatus() : bad();
}

uint64_t DeltaMaxHlc(std::string_view signed_delta) {
  EnvelopeView envelope;
  if (!ParseEnvelope(signed_delta, &envelope).ok()) return 0;
  CodedInputStream in(reinterpret_cast<const uint8_t*>(envelope.body.data()),
                      static_cast<int>(envelope.body.size()));
  in.SetTotalBytesLimit(static_cast<int>(envelope.body.size()) + 1);
  uint64_t max_hlc = 0;
  while (uint32_t tag = in.ReadTag()) {
    if (WireFormatLite::GetTagFieldNumber(tag) == kMaxHlcField &&
        WireFormatLite::GetTagWireType(tag) == WireFormatLite::WIRETYPE_VARINT) {
      if (!in.ReadVarint64(&max_hlc)) return 0;
    } else if (!WireFormatLite::SkipField(&in, tag)) {
      return 0;
    }
  }
  return in.ConsumedEntireMessage() ? max_hlc : 0;
}

absl::Status ParseBodySparse(std::string_view bytes,
                             const absl::flat_hash_set<std::string>* wanted, v1::DeltaBody* out) {
  out->Clear();
  if (wanted == nullptr) {
    return out->ParseFromArray(bytes.data(), static_cast<int>(bytes.size())) ? absl::OkStatus()
                                                                              : Malformed();
  }
  // Everything but the events is parsed by protobuf itself, from the bytes with the events
  // cut out; the events are looked at one by one.
  std::string rest;
  std::string pid;
  CodedInputStream in(reinterpret_cast<const uint8_t*>(bytes.data()),
                      static_cast<int>(bytes.size()));
  in.SetTotalBytesLimit(static_cast<int>(bytes.size()) + 1);
  for (;;) {
    const int start = in.CurrentPosition();
    const uint32_t tag = in.ReadTag();
    if (tag == 0) break;
    if (WireFormatLite::GetTagFieldNumber(tag) != kEventsField ||
        WireFormatLite::GetTagWireType(tag) != WireFormatLite::WIRETYPE_LENGTH_DELIMITED) {
      if (!WireFormatLite::SkipField(&in, tag)) return Malformed();
      rest.append(bytes.substr(start, in.CurrentPosition() - start));
      continue;
    }
    std::string_view event;
    if (!ReadView(in, bytes, &event) || !EventPid(event, &pid)) return Malformed();
    if (!wanted->contains(pid)) continue;
    if (!out->add_events()->ParseFromArray(event.data(), static_cast<int>(event.size()))) {
      return Malformed();
    }
  }
  if (!in.ConsumedEntireMessage()) return Malformed();
  v1::DeltaBody header;
  if (!header.ParseFromString(rest)) return Malformed();
  header.clear_key_notices();
  // Events first, then the header's fields, so that the wanted events keep their order.
  out->MergeFrom(header);
  return absl::OkStatus();
}

}  // namespace wlsync::sync
