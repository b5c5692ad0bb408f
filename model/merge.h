// Merge rules for person records. Each field group is a last-writer-wins register ordered
// by (hlc, node); the merge is commutative, associative and idempotent, so every node that
// applies the same events in any order, with duplicates, holds byte-identical records.
#pragma once

#include <string>
#include <string_view>

#include "wlsync/v1/records.pb.h"

namespace wlsync::model {

// A record with every group unset.
v1::Record EmptyRecord(std::string_view pid);

// True when `incoming` should replace `current` for the same group. Orders by hlc, then
// node name, then the value's bytes, then the writer: a total order, so ties never depend
// on arrival order.
bool Supersedes(const v1::GroupState& incoming, const v1::GroupState& current);

// Merges one event, written by the delta `writer`, into `record` (whose pid must match).
// Returns true when the record changed.
bool MergeEvent(const v1::Event& event, const v1::DeltaRef& writer, v1::Record* record);

// Group state of a record; unset groups have stamp().hlc() == 0.
const v1::GroupState& GroupOf(const v1::Record& record, v1::Group group);
bool HasGroup(const v1::Record& record, v1::Group group);

// True once the person was registered and not deregistered since.
bool IsRegistered(const v1::Record& record);
// True when the record has a STATUS group at all.
bool Exists(const v1::Record& record);
// True when a purge event removes `record`: it exists and none of its groups is at or
// above the purge's stamp.
bool PurgeApplies(const v1::Event& purge, const v1::Record& record);

// All columns of the record flattened into one PersonFields.
v1::PersonFields Flatten(const v1::Record& record);
// Highest stamp over all groups.
uint64_t UpdatedHlc(const v1::Record& record);

// Serialization with deterministic map ordering, for storage and comparison.
std::string SerializeDeterministic(const google::protobuf::Message& message);
// The same into *out (replacing its content, reusing its buffer).
void SerializeDeterministicTo(const google::protobuf::Message& message, std::string* out);

}  // namespace wlsync::model
