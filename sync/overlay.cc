#include "model/digest.h"
#include "model/merge.h"
#include "sync/writer_internal.h"

namespace wlsync::sync::internal {
namespace {

void Subtract(storage::Counts* into, const storage::Counts& c) {
  into->records -= c.records;
  into->registered_white -= c.registered_white;
  into->registered_grey -= c.registered_grey;
  into->deregistered -= c.deregistered;
}

}  // namespace

storage::Counts Classify(const v1::Record* record) {
  storage::Counts c;
  if (record == nullptr || !model::Exists(*record)) return c;
  c.records = 1;
  if (!model::IsRegistered(*record)) {
    c.deregistered = 1;
  } else if (model::GroupOf(*record, v1::LIST).value().list() == "GREY") {
    c.registered_grey = 1;
  } else {
    c.registered_white = 1;
  }
  return c;
}

absl::StatusOr<v1::Record*> Overlay::Get(const std::string& pid) {
  auto it = records.find(pid);
  if (it != records.end()) return &it->second.second;
  absl::StatusOr<std::optional<v1::Record>> stored = store.GetRecord(pid);
  if (!stored.ok()) return stored.status();
  v1::Record current = stored->has_value() ? **stored : model::EmptyRecord(pid);
  auto [pos, inserted] = records.emplace(pid, std::make_pair(*stored, std::move(current)));
  return &pos->second.second;
}

void Overlay::Merge(const v1::Event& event, const v1::DeltaRef& writer, v1::Record* record) {
  if (model::MergeEvent(event, writer, record)) changed.insert(event.pid());
}

void Overlay::Fill(storage::CommitBatch* batch) const {
  for (const std::string& pid : changed) {
    const auto& [before, after] = records.at(pid);
    storage::Counts delta = Classify(&after);
    Subtract(&delta, Classify(before ? &*before : nullptr));
    batch->counts_delta.Add(delta);
    batch->records.push_back(after);

    storage::DigestChange change{pid, model::RecordDigest(after), before ? 0 : 1};
    if (before) model::XorInto(&change.delta, model::RecordDigest(*before));
    batch->digests.push_back(std::move(change));
  }
}

}  // namespace wlsync::sync::internal
