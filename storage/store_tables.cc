// Store: the node-local tables (index, tokens, audit) and the index rebuild.
#include <rocksdb/write_batch.h>

#include "base/logging.h"
#include "base/strings.h"
#include "model/pid.h"
#include "storage/keys.h"
#include "storage/store.h"
#include "storage/store_internal.h"

namespace wlsync::storage {
namespace {

using internal::CfIndex;
using internal::CfOf;
using internal::SnapshotView;
using internal::ToStatus;
using internal::View;

}  // namespace

CfIndex internal::CfOf(Table table) {
  switch (table) {
    case Table::kIndex: return internal::kIndex;
    case Table::kTokens: return internal::kTokens;
    case Table::kAudit: return internal::kAudit;
    case Table::kAuditIndex: return internal::kAuditIndex;
    case Table::kLocal: return internal::kMeta;
  }
  return internal::kIndex;
}

namespace {

// Records indexed per WriteBatch during a rebuild.
constexpr size_t kRebuildBatch = 4096;

}  // namespace

const Indexer& Store::indexer() const { return *impl_->indexer; }

absl::Status Store::Scan(
    Table table, std::string_view prefix, std::string_view start,
    const std::function<bool(std::string_view key, std::string_view value)>& visit) const {
  return ScanJumping(table, prefix, start,
                     [&](std::string_view key, std::string_view value, std::string*) {
                       return visit(key, value);
                     });
}

absl::Status Store::ScanJumping(Table table, std::string_view prefix, std::string_view start,
                                const JumpingVisitor& visit, const ReadView* view) const {
  std::unique_ptr<rocksdb::Iterator> it(
      impl_->db->NewIterator(SnapshotView::Options(view), impl_->cf(CfOf(table))));
  std::string_view from = start.empty() || start < prefix ? prefix : start;
  std::string jump;
  it->Seek(rocksdb::Slice(from.data(), from.size()));
  while (it->Valid()) {
    std::string_view key = View(it->key());
    if (key.substr(0, prefix.size()) != prefix) break;
    jump.clear();
    if (!visit(key, View(it->value()), &jump)) break;
    if (jump > key) {
      it->Seek(jump);
    } else {
      it->Next();  // no jump, or one backwards: never revisit a key
    }
  }
  return ToStatus(it->status(), "scan");
}

absl::StatusOr<std::optional<std::pair<std::string, std::string>>> Store::Last(Table table) const {
  std::unique_ptr<rocksdb::Iterator> it(
      impl_->db->NewIterator(rocksdb::ReadOptions(), impl_->cf(CfOf(table))));
  it->SeekToLast();
  if (!it->status().ok()) return ToStatus(it->status(), "read last");
  if (!it->Valid()) return std::nullopt;
  return std::make_pair(it->key().ToString(), it->value().ToString());
}

absl::StatusOr<std::optional<std::string>> Store::Get(Table table, std::string_view key) const {
  return impl_->Get(CfOf(table), key);
}

absl::Status Store::Write(const TableBatch& batch, bool sync) {
  // RocksDB 7.8 must not be written to again after a failed write (its WAL writer asserts,
  // fixed upstream later): while writes are refused, these are refused too.
  if (absl::Status err = write_error(); !err.ok()) return err;
  rocksdb::WriteBatch wb;
  for (const TableBatch::Delete& d : batch.deletes) wb.Delete(impl_->cf(CfOf(d.table)), d.key);
  for (const TableBatch::Put& p : batch.puts) wb.Put(impl_->cf(CfOf(p.table)), p.key, p.value);
  rocksdb::WriteOptions wo;
  wo.sync = impl_->options.sync && sync;
  rocksdb::Status s = impl_->db->Write(wo, &wb);
  if (!s.ok()) return Poison(ToStatus(s, "write node-local table"));
  return absl::OkStatus();
}

absl::Status Store::CheckDataKey() {
  std::string check;
  if (impl_->sealer->enabled()) {
    check = model::HexEncode(model::KeyedTag(impl_->options.data_key, "data-key-check", ""));
  }
  absl::StatusOr<std::optional<std::string>> stored =
      impl_->Get(internal::kMeta, keys::kMetaDataKeyCheck);
  if (!stored.ok()) return stored.status();
  if (stored->has_value() && **stored != check) {
    return absl::FailedPreconditionError(base::StrCat(
        "storage: data dir ", impl_->dir,
        check.empty() ? " is encrypted: set node.data_key to its key file"
                      : " was written with another data key: node.data_key does not match"));
  }
  if (stored->has_value() || check.empty()) return absl::OkStatus();
  return impl_->PutMeta(keys::kMetaDataKeyCheck, check, "save data key check");
}

absl::Status Store::CheckFederationKey() {
  const std::string& check = impl_->options.federation_check;
  if (check.empty()) return absl::OkStatus();
  auto refuse = [&] {
    return absl::FailedPreconditionError(base::StrCat(
        "storage: data dir ", impl_->dir,
        " was written with another federation key: node.federation_key does not match (every "
        "pid derives from it; use the key file the data dir was made with)"));
  };
  absl::StatusOr<std::optional<std::string>> stored =
      impl_->Get(internal::kMeta, keys::kMetaFederationCheck);
  if (!stored.ok()) return stored.status();
  if (stored->has_value()) {
    return **stored == check ? absl::OkStatus() : refuse();
  }
  // A data dir from before this check: its index version ends with a check value of the
  // index key, which derives from the federation key too.
  absl::StatusOr<std::optional<std::string>> index =
      impl_->Get(internal::kMeta, keys::kMetaIndexVersion);
  if (!index.ok()) return index.status();
  if (index->has_value()) {
    std::optional<std::string_view> held = Indexer::KeyCheckOf(**index);
    if (held.has_value() && *held != impl_->indexer->KeyCheck()) return refuse();
  }
  return impl_->PutMeta(keys::kMetaFederationCheck, check, "save federation key check");
}

absl::Status Store::CheckIndexes() {
  const std::string version = impl_->indexer->Version();
  absl::StatusOr<std::optional<std::string>> stored =
      impl_->Get(internal::kMeta, keys::kMetaIndexVersion);
  if (!stored.ok()) return stored.status();
  if (stored->has_value() && **stored == version) return absl::OkStatus();
  if (created_new()) {
    return impl_->PutMeta(keys::kMetaIndexVersion, version, "save index version");
  }

  // Made before the indexes existed, or with another schema or federation key: drop the
  // index column family's entries and index every record again, in batches.
  auto log = base::Logger("storage");
  log->info("rebuilding secondary indexes dir={}", impl_->dir);
  rocksdb::WriteOptions wo;
  rocksdb::ColumnFamilyHandle* cf = impl_->cf(internal::kIndex);
  // The start key must stay "": the index column family keeps memtable insert hints by
  // key prefix, and RocksDB 7.8 shares them between a memtable's point keys and its range
  // tombstones (facebook/rocksdb#5118), so a range starting with a non-empty key would
  // leave a hint into the wrong skip list. "" is outside the prefix extractor's domain.
  if (rocksdb::Status s = impl_->db->DeleteRange(wo, cf, "", "\xff\xff\xff\xff"); !s.ok()) {
    return ToStatus(s, "clear indexes");
  }
  rocksdb::WriteBatch wb;
  size_t records = 0;
  std::unique_ptr<RecordCursor> cursor = ScanRecords();
  for (; cursor->Valid(); cursor->Next()) {
    absl::StatusOr<v1::Record> record = cursor->record();
    if (!record.ok()) return record.status();
    for (const std::string& key : impl_->indexer->Keys(*record)) wb.Put(cf, key, "");
    if (++records % kRebuildBatch == 0) {
      if (rocksdb::Status s = impl_->db->Write(wo, &wb); !s.ok()) return ToStatus(s, "index");
      wb.Clear();
    }
  }
  if (absl::Status s = cursor->status(); !s.ok()) return s;
  wb.Put(impl_->cf(internal::kMeta), keys::kMetaIndexVersion, version);
  wo.sync = true;
  if (rocksdb::Status s = impl_->db->Write(wo, &wb); !s.ok()) return ToStatus(s, "index");
  log->info("rebuilt secondary indexes dir={} records={}", impl_->dir, records);
  return absl::OkStatus();
}

}  // namespace wlsync::storage
