#include "base/strings.h"
#include "model/digest.h"
#include "model/merge.h"
#include "storage/keys.h"
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
  auto it = records_.find(pid);
  if (it != records_.end()) return it->second.record;
  Entry entry;
  entry.record = google::protobuf::Arena::CreateMessage<v1::Record>(&arena_);
  if (const v1::Record* newer = pending_ != nullptr ? pending_->Changed(pid) : nullptr) {
    entry.record->CopyFrom(*newer);  // what the store holds once the pending commit is written
    entry.existed = true;
  } else {
    absl::StatusOr<bool> found = store_.ReadRecord(pid, entry.record);
    if (!found.ok()) return found.status();
    entry.existed = *found;
  }
  if (entry.existed) {
    entry.before_digest = model::RecordDigest(*entry.record);
    entry.before_counts = Classify(entry.record);
    entry.before_index = store_.indexer().Keys(*entry.record);
  } else {
    entry.record->set_pid(pid);
    for (int g = 0; g < model::kGroupCount; ++g) entry.record->add_groups();
    absl::StatusOr<std::optional<std::string>> mark =
        store_.Get(storage::Table::kLocal, PurgeMarkKey(pid));
    if (!mark.ok()) return mark.status();
    if (mark->has_value() && (*mark)->size() == 8) {
      entry.purged_hlc = storage::keys::GetFixed64(**mark);
      any_marks_ = true;
    }
  }
  v1::Record* record = entry.record;
  records_.emplace(pid, entry);
  return record;
}

const v1::Record* Overlay::Changed(const std::string& pid) const {
  if (!changed_.contains(pid)) return nullptr;
  return records_.at(pid).record;
}

void Overlay::Merge(const v1::Event& event, const v1::DeltaRef& writer, v1::Record* record) {
  // Purge marks are rare: look the entry up again only when this commit met one.
  if (any_marks_) {
    auto it = records_.find(event.pid());
    if (it != records_.end() && event.stamp().hlc() <= it->second.purged_hlc) return;
  }
  if (model::MergeEvent(event, writer, record)) changed_.insert(event.pid());
}

void Overlay::Purge(const v1::Event& event, v1::Record* record) {
  Entry& e = records_.at(event.pid());
  bool applies = model::PurgeApplies(event, *record);
  // Newer data here (a concurrent re-registration): the purge loses, like an older write.
  // LIMITATION: where the purge arrived first, the old tombstone groups are gone and the
  // newer write rebuilds only its own groups; where the newer write came first they stay.
  // Reconciliation reports such a pid; it cannot restore what a purge removed.
  if (!applies && model::Exists(*record)) return;
  if (event.stamp().hlc() > e.purged_hlc) {
    e.purged_hlc = event.stamp().hlc();
    marked_.insert(event.pid());
    any_marks_ = true;
  }
  if (!applies) return;
  record->clear_groups();
  for (int g = 0; g < model::kGroupCount; ++g) record->add_groups();
  changed_.insert(event.pid());
}

std::string PurgeMarkKey(std::string_view pid) { return base::StrCat("purged/", pid); }

void Overlay::Fill(storage::CommitBatch* batch) const {
  for (const std::string& pid : marked_) {
    std::string hlc;
    storage::keys::PutFixed64(&hlc, records_.at(pid).purged_hlc);
    batch->table_puts.push_back({storage::Table::kLocal, PurgeMarkKey(pid), std::move(hlc)});
  }
  for (const std::string& pid : changed_) {
    const Entry& e = records_.at(pid);
    storage::Counts delta = Classify(e.record);
    Subtract(&delta, e.before_counts);
    batch->counts_delta.Add(delta);
    if (e.purged_hlc != 0 && !model::Exists(*e.record)) {
      // Purged: the record, its digest and its index entries go.
      if (!e.existed) continue;
      batch->record_deletes.push_back(pid);
      batch->digests.push_back({pid, e.before_digest, -1});
      storage::DiffKeys(e.before_index, {}, &batch->index_puts, &batch->index_deletes);
      continue;
    }
    batch->record_refs.push_back(e.record);

    storage::DigestChange change{pid, model::RecordDigest(*e.record), e.existed ? 0 : 1};
    model::XorInto(&change.delta, e.before_digest);
    batch->digests.push_back(std::move(change));

    storage::DiffKeys(e.before_index, store_.indexer().Keys(*e.record), &batch->index_puts,
                      &batch->index_deletes);
  }
}

}  // namespace wlsync::sync::internal
