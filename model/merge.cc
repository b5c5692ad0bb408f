#include "model/merge.h"

#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/io/zero_copy_stream_impl_lite.h>

#include <algorithm>
#include <memory>

#include "model/fields.h"

namespace wlsync::model {
namespace {

int CompareStamps(const v1::Stamp& a, const v1::Stamp& b) {
  if (a.hlc() != b.hlc()) return a.hlc() < b.hlc() ? -1 : 1;
  return a.node().compare(b.node());
}

int CompareWriters(const v1::DeltaRef& a, const v1::DeltaRef& b) {
  if (int c = a.origin().compare(b.origin()); c != 0) return c;
  if (int c = a.epoch().compare(b.epoch()); c != 0) return c;
  if (a.seq() != b.seq()) return a.seq() < b.seq() ? -1 : 1;
  return 0;
}

void EnsureGroups(v1::Record* record) {
  while (record->groups_size() < kGroupCount) record->add_groups();
}

}  // namespace

v1::Record EmptyRecord(std::string_view pid) {
  v1::Record record;
  record.set_pid(std::string(pid));
  EnsureGroups(&record);
  return record;
}

bool Supersedes(const v1::GroupState& incoming, const v1::GroupState& current) {
  if (int c = CompareStamps(incoming.stamp(), current.stamp()); c != 0) return c > 0;
  // Same stamp: only a buggy or hostile writer reuses one; still pick deterministically.
  if (int c = SerializeDeterministic(incoming.value()).compare(
          SerializeDeterministic(current.value()));
      c != 0) {
    return c > 0;
  }
  return CompareWriters(incoming.writer(), current.writer()) > 0;
}

bool MergeEvent(const v1::Event& event, const v1::DeltaRef& writer, v1::Record* record) {
  int group = event.group();
  if (group < 1 || group > kGroupCount) return false;
  EnsureGroups(record);
  v1::GroupState* current = record->mutable_groups(group - 1);
  // The group state the event makes, written into `out` (on out's arena, if any).
  auto fill = [&](v1::GroupState* out) {
    *out->mutable_stamp() = event.stamp();
    ProjectGroupInto(event.value(), static_cast<v1::Group>(group), out->mutable_value());
    *out->mutable_writer() = writer;
  };

  // Different stamps decide alone (Supersedes' first rule): an older event changes nothing,
  // a newer one is written over the group in place, with no state built to compare.
  if (int c = CompareStamps(event.stamp(), current->stamp()); c < 0) {
    return false;
  } else if (c > 0) {
    current->Clear();
    fill(current);
    return true;
  }

  // The same stamp: the value's bytes and the writer decide, on the state built in full.
  // Built on the record's arena (if any), so that moving it in below swaps, not copies.
  google::protobuf::Arena* arena = record->GetArena();
  v1::GroupState* incoming = google::protobuf::Arena::CreateMessage<v1::GroupState>(arena);
  std::unique_ptr<v1::GroupState> owned(arena == nullptr ? incoming : nullptr);
  fill(incoming);
  if (!Supersedes(*incoming, *current)) return false;
  *current = std::move(*incoming);
  return true;
}

const v1::GroupState& GroupOf(const v1::Record& record, v1::Group group) {
  int index = static_cast<int>(group) - 1;
  if (index < 0 || index >= record.groups_size()) return v1::GroupState::default_instance();
  return record.groups(index);
}

bool HasGroup(const v1::Record& record, v1::Group group) {
  return GroupOf(record, group).stamp().hlc() != 0;
}

bool IsRegistered(const v1::Record& record) {
  return GroupOf(record, v1::STATUS).value().status() == kRegistered;
}

bool Exists(const v1::Record& record) { return HasGroup(record, v1::STATUS); }

bool PurgeApplies(const v1::Event& purge, const v1::Record& record) {
  if (!Exists(record)) return false;
  for (const v1::GroupState& g : record.groups()) {
    if (CompareStamps(g.stamp(), purge.stamp()) >= 0) return false;
  }
  return true;
}

v1::PersonFields Flatten(const v1::Record& record) {
  v1::PersonFields out;
  for (int g = 1; g <= kGroupCount; ++g) {
    auto group = static_cast<v1::Group>(g);
    const v1::PersonFields& value = GroupOf(record, group).value();
    for (std::string_view field : FieldsOfGroup(group)) {
      *MutableField(&out, field) = *GetField(value, field);
    }
  }
  return out;
}

uint64_t UpdatedHlc(const v1::Record& record) {
  uint64_t max = 0;
  for (const v1::GroupState& g : record.groups()) max = std::max(max, g.stamp().hlc());
  return max;
}

std::string SerializeDeterministic(const google::protobuf::Message& message) {
  std::string out;
  SerializeDeterministicTo(message, &out);
  return out;
}

void SerializeDeterministicTo(const google::protobuf::Message& message, std::string* out) {
  // Sized first, then written in place: no growth of the string while writing.
  const size_t size = message.ByteSizeLong();
  out->resize(size);
  google::protobuf::io::ArrayOutputStream array(out->data(), static_cast<int>(size));
  google::protobuf::io::CodedOutputStream coded(&array);
  coded.SetSerializationDeterministic(true);
  message.SerializeWithCachedSizes(&coded);
}

}  // namespace wlsync::model
