// Internal to storage/: the RocksDB handles behind Store, shared by its .cc files.
#pragma once

#include <rocksdb/db.h>
#include <rocksdb/listener.h>

#include <atomic>
#include <cstdarg>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "storage/index.h"
#include "storage/sealing.h"
#include "storage/store.h"

namespace wlsync::storage::internal {

enum CfIndex {
  kDefault = 0,
  kRecords,
  kLog,
  kCursors,
  kMeta,
  kQuarantine,
  kDigests,
  kReports,
  kIndex,
  kTokens,
  kAudit,
  kAuditIndex,
  kCfCount
};

// The column family of a node-local table.
CfIndex CfOf(Table table);

// Store::OpenView's view: a snapshot, released with the last copy.
class SnapshotView final : public ReadView {
 public:
  explicit SnapshotView(rocksdb::DB* db) : db_(db), snapshot_(db->GetSnapshot()) {}
  ~SnapshotView() override { db_->ReleaseSnapshot(snapshot_); }
  SnapshotView(const SnapshotView&) = delete;
  SnapshotView& operator=(const SnapshotView&) = delete;

  // Read options that read at `view` (the latest state for nullptr).
  static rocksdb::ReadOptions Options(const ReadView* view) {
    rocksdb::ReadOptions ro;
    if (view != nullptr) ro.snapshot = static_cast<const SnapshotView*>(view)->snapshot_;
    return ro;
  }

 private:
  rocksdb::DB* const db_;
  const rocksdb::Snapshot* const snapshot_;
};

inline absl::Status ToStatus(const rocksdb::Status& s, std::string_view what) {
  if (s.ok()) return absl::OkStatus();
  std::string msg = base::StrCat("storage: ", what, ": ", s.ToString());
  if (s.IsNotFound()) return absl::NotFoundError(msg);
  if (s.IsCorruption()) return absl::DataLossError(msg);
  if (s.IsNoSpace()) return absl::ResourceExhaustedError(msg);
  if (s.IsInvalidArgument()) return absl::InvalidArgumentError(msg);
  return absl::UnavailableError(msg);
}

// Counts RocksDB's write stalls and background errors as they happen (RocksDB calls it
// from its background threads), for StoreStats.
class StallCounter final : public rocksdb::EventListener {
 public:
  void OnStallConditionsChanged(const rocksdb::WriteStallInfo& info) override {
    if (info.condition.cur == rocksdb::WriteStallCondition::kDelayed) delayed.fetch_add(1);
    if (info.condition.cur == rocksdb::WriteStallCondition::kStopped) stopped.fetch_add(1);
  }
  void OnBackgroundError(rocksdb::BackgroundErrorReason, rocksdb::Status*) override {
    background_errors.fetch_add(1);
  }

  std::atomic<uint64_t> delayed{0};
  std::atomic<uint64_t> stopped{0};
  std::atomic<uint64_t> background_errors{0};
};

// RocksDB's own messages (warnings and errors) go to the "rocksdb" component logger rather
// than to a LOG file in the data dir: a file there fails with the disk, and RocksDB 7.8
// asserts when it writes again to a log file that failed.
class ComponentLogger final : public rocksdb::Logger {
 public:
  explicit ComponentLogger(rocksdb::InfoLogLevel level) : rocksdb::Logger(level) {}
  using rocksdb::Logger::Logv;
  void Logv(const char* format, va_list ap) override {
    Logv(rocksdb::InfoLogLevel::INFO_LEVEL, format, ap);
  }
  void Logv(const rocksdb::InfoLogLevel level, const char* format, va_list ap) override;
};

inline std::string_view View(const rocksdb::Slice& s) { return std::string_view(s.data(), s.size()); }

}  // namespace wlsync::storage::internal

namespace wlsync::storage {

struct Store::Impl {
  std::unique_ptr<Indexer> indexer;
  std::unique_ptr<Sealer> sealer;
  std::string dir;
  StoreOptions options;
  std::unique_ptr<rocksdb::DB> db;
  std::vector<rocksdb::ColumnFamilyHandle*> cfs;
  std::shared_ptr<internal::StallCounter> stalls = std::make_shared<internal::StallCounter>();

  // Set after a failed write: RocksDB 7.8 asserts when a WAL that failed is flushed at
  // close, so such a database is left open (the process is ending) and recovered from its
  // WAL at the next open, as after a crash; everything acknowledged is in that WAL.
  bool abandon = false;

  // WriteBatches of finished commits, kept with their buffers: a delta's batch runs to a
  // few MiB, and a new one grows by doubling into freshly mapped pages (glibc maps blocks
  // over the 256 KiB threshold daemon/main.cc sets), each page faulted in on first touch.
  std::mutex batch_pool_mu;
  std::vector<std::unique_ptr<rocksdb::WriteBatch>> batch_pool;

  std::unique_ptr<rocksdb::WriteBatch> TakeBatch();
  void GiveBack(std::unique_ptr<rocksdb::WriteBatch> wb);

  ~Impl() {
    if (abandon) {
      (void)db.release();
      return;
    }
    for (auto* cf : cfs) {
      if (cf != nullptr) db->DestroyColumnFamilyHandle(cf);
    }
    if (db) db->Close();
  }

  rocksdb::ColumnFamilyHandle* cf(internal::CfIndex i) const { return cfs[i]; }

  // One value of the meta column family, synced before it returns.
  absl::Status PutMeta(std::string_view key, std::string_view value, std::string_view what) {
    rocksdb::WriteOptions wo;
    wo.sync = true;
    return internal::ToStatus(db->Put(wo, cf(internal::kMeta), rocksdb::Slice(key.data(), key.size()),
                                      rocksdb::Slice(value.data(), value.size())),
                              what);
  }

  absl::StatusOr<std::optional<std::string>> Get(internal::CfIndex i, std::string_view key) const {
    std::string value;
    rocksdb::Status s = db->Get(rocksdb::ReadOptions(), cf(i), key, &value);
    if (s.IsNotFound()) return std::nullopt;
    if (!s.ok()) return internal::ToStatus(s, "read");
    return value;
  }
};

}  // namespace wlsync::storage
