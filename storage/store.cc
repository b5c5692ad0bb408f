#include "storage/store.h"

#include <rocksdb/db.h>
#include <rocksdb/filter_policy.h>
#include <rocksdb/options.h>
#include <rocksdb/slice_transform.h>
#include <rocksdb/table.h>
#include <rocksdb/utilities/options_util.h>
#include <rocksdb/write_batch.h>
#include <sodium.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <map>

#include "base/strings.h"
#include "model/merge.h"
#include "spdlog/spdlog.h"
#include "storage/keys.h"
#include "storage/store_internal.h"
#include "base/logging.h"
#include "base/strings.h"

namespace wlsync::storage {
namespace {

using namespace internal;  // NOLINT: the column family indexes and helpers of this folder

// The keys in byte order, equal keys in their given order.
std::vector<const std::string*> SortedKeys(const std::vector<std::string>& keys) {
  std::vector<const std::string*> sorted;
  sorted.reserve(keys.size());
  for (const std::string& k : keys) sorted.push_back(&k);
  std::stable_sort(sorted.begin(), sorted.end(),
                   [](const std::string* a, const std::string* b) { return *a < *b; });
  return sorted;
}

// What a column family is used for, which decides its options.
struct CfUse {
  bool point_lookups = false;  // read by key: Bloom filters, on disk and in the memtable
  // Values sealed when the node has a data key. Sealed bytes do not compress, so LZ4 would
  // only cost flushes and compactions CPU (measured in docs/benchmarks.md, "Import: commits
  // overlap planning; sealed values uncompressed").
  bool sealed = false;
  bool hinted = false;  // written in key order by commits: a memtable insert hint per first byte
  // Other hint prefixes instead (the index's IndexInsertHints); implies `hinted`.
  std::shared_ptr<const rocksdb::SliceTransform> hints = nullptr;
  // New keys land all over the key space (pids are HMACs), so every L0 file overlaps all of
  // L1 and each L0->L1 compaction rewrites L1: start one at 8 files instead of 4, half as
  // many rewrites (measured in docs/benchmarks.md, "Import: one membership key instead of
  // three"). Reads are point lookups behind Bloom filters, or index scans, so a few more L0
  // files cost little.
  bool random_keys = false;
};

rocksdb::ColumnFamilyOptions CfOptions(const StoreOptions& o,
                                       const std::shared_ptr<rocksdb::Cache>& cache, CfUse use) {
  rocksdb::ColumnFamilyOptions cf;
  cf.write_buffer_size = o.write_buffer_bytes;
  // Commits put their keys in key order (Store::Prepare); a hint per first byte (per term
  // for most of the index's keys, IndexInsertHints) lets each memtable insert start from the
  // previous insert of its prefix. Never on a column family that gets a DeleteRange with a
  // non-empty start key (see RebuildIndexes).
  if (use.hints) {
    cf.memtable_insert_with_hint_prefix_extractor = use.hints;
  } else if (use.hinted) {
    cf.memtable_insert_with_hint_prefix_extractor.reset(rocksdb::NewFixedPrefixTransform(1));
  }
  cf.max_write_buffer_number = 3;
  if (use.random_keys) {
    cf.level0_file_num_compaction_trigger = 8;
    cf.level0_slowdown_writes_trigger = 40;
    cf.level0_stop_writes_trigger = 60;
  }
  cf.compression = use.sealed && !o.data_key.empty() ? rocksdb::kNoCompression
                                                 : rocksdb::kLZ4Compression;
  rocksdb::BlockBasedTableOptions table;
  table.block_cache = cache;
  if (use.point_lookups) {
    table.filter_policy.reset(rocksdb::NewBloomFilterPolicy(10));
    table.whole_key_filtering = true;
    // A memtable bloom filter too: most reads while importing ask for a person not yet
    // stored, and the filter answers without a search of the memtable's skip list.
    cf.memtable_whole_key_filtering = true;
    cf.memtable_prefix_bloom_size_ratio = 0.02;
  }
  cf.table_factory.reset(rocksdb::NewBlockBasedTableFactory(table));
  return cf;
}

// Opens (decrypts) a stored record value and parses it into *out.
absl::Status ParseRecord(const Sealer& sealer, std::string_view stored, std::string_view pid,
                         v1::Record* out) {
  std::string buffer;
  absl::StatusOr<std::string_view> plain = sealer.Open(stored, &buffer);
  if (!plain.ok()) {
    return absl::DataLossError(base::StrCat("storage: record pid=", pid, ": ", plain.status().message()));
  }
  if (!out->ParseFromArray(plain->data(), static_cast<int>(plain->size()))) {
    return absl::DataLossError(base::StrCat("storage: record pid=", pid, " does not parse"));
  }
  return absl::OkStatus();
}

class RocksRecordCursor final : public RecordCursor {
 public:
  RocksRecordCursor(rocksdb::DB* db, rocksdb::ColumnFamilyHandle* cf, const Sealer& sealer,
                    std::string_view prefix)
      : db_(db), sealer_(sealer), prefix_(prefix) {
    snapshot_ = db_->GetSnapshot();
    rocksdb::ReadOptions ro;
    ro.snapshot = snapshot_;
    ro.fill_cache = false;
    it_.reset(db_->NewIterator(ro, cf));
    it_->Seek(prefix_);
  }
  ~RocksRecordCursor() override {
    it_.reset();
    db_->ReleaseSnapshot(snapshot_);
  }
  bool Valid() const override {
    return it_->Valid() && View(it_->key()).substr(0, prefix_.size()) == prefix_;
  }
  void Next() override { it_->Next(); }
  std::string_view pid() const override { return View(it_->key()); }
  absl::StatusOr<v1::Record> record() const override {
    v1::Record r;
    if (absl::Status s = ParseRecord(sealer_, View(it_->value()), pid(), &r); !s.ok()) return s;
    return r;
  }
  absl::Status status() const override { return ToStatus(it_->status(), "scan records"); }

 private:
  rocksdb::DB* db_;
  const Sealer& sealer_;
  std::string prefix_;
  const rocksdb::Snapshot* snapshot_;
  std::unique_ptr<rocksdb::Iterator> it_;
};

}  // namespace


void Counts::Add(const Counts& d) {
  records += d.records;
  registered_white += d.registered_white;
  registered_grey += d.registered_grey;
  deregistered += d.deregistered;
}

void internal::ComponentLogger::Logv(const rocksdb::InfoLogLevel level, const char* format,
                                     va_list ap) {
  if (level < GetInfoLogLevel()) return;
  char buf[1024];
  int n = std::vsnprintf(buf, sizeof(buf), format, ap);
  if (n < 0) return;
  std::string_view text(buf, std::min<size_t>(static_cast<size_t>(n), sizeof(buf) - 1));
  auto log = base::Logger("rocksdb");
  if (level >= rocksdb::InfoLogLevel::ERROR_LEVEL) {
    log->error("{}", text);
  } else if (level == rocksdb::InfoLogLevel::WARN_LEVEL) {
    log->warn("{}", text);
  } else {
    log->debug("{}", text);
  }
}

Store::Store(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Store::~Store() {
  WakeAll();
  if (!write_error().ok()) {
    impl_->abandon = true;
    base::Logger("storage")->warn(
        "closing with writes refused: RocksDB is not flushed; it recovers from its log at the "
        "next start");
  }
}

absl::StatusOr<std::unique_ptr<Store>> Store::Open(const std::string& dir,
                                                   const StoreOptions& options) {
  auto impl = std::make_unique<Impl>();
  impl->dir = dir;
  impl->options = options;
  impl->indexer = std::make_unique<Indexer>(options.index_tag_key);
  if (!options.data_key.empty() && options.data_key.size() != 32) {
    return absl::InvalidArgumentError("storage: the data key must be 32 bytes");
  }
  impl->sealer = std::make_unique<Sealer>(options.data_key);

  rocksdb::DBOptions db_options;
  db_options.create_if_missing = true;
  db_options.create_missing_column_families = true;
  db_options.max_background_jobs = 2;
  db_options.db_write_buffer_size = options.write_buffer_bytes * 4;
  db_options.keep_log_file_num = 5;
  // The small column families (meta, cursors) are written by every commit but rarely fill
  // a memtable; without a cap they would pin every WAL file until the default limit.
  db_options.max_total_wal_size = 256 << 20;
  db_options.info_log_level = rocksdb::WARN_LEVEL;
  db_options.info_log = std::make_shared<internal::ComponentLogger>(rocksdb::WARN_LEVEL);
  db_options.listeners.push_back(impl->stalls);

  auto cache = rocksdb::NewLRUCache(options.block_cache_bytes);
  std::vector<rocksdb::ColumnFamilyDescriptor> descriptors = {
      {rocksdb::kDefaultColumnFamilyName, CfOptions(options, cache, {})},
      {std::string(keys::kRecordsCf),
       CfOptions(options, cache,
                 {.point_lookups = true, .sealed = true, .hinted = true, .random_keys = true})},
      {std::string(keys::kLogCf), CfOptions(options, cache, {.sealed = true})},
      {std::string(keys::kCursorsCf), CfOptions(options, cache, {.point_lookups = true})},
      {std::string(keys::kMetaCf), CfOptions(options, cache, {.point_lookups = true})},
      {std::string(keys::kQuarantineCf), CfOptions(options, cache, {})},
      {std::string(keys::kDigestsCf), CfOptions(options, cache, {.hinted = true})},
      {std::string(keys::kReportsCf), CfOptions(options, cache, {})},
      {std::string(keys::kIndexCf),
       CfOptions(options, cache, {.hints = IndexInsertHints(), .random_keys = true})},
      {std::string(keys::kTokensCf), CfOptions(options, cache, {.point_lookups = true})},
      {std::string(keys::kAuditCf), CfOptions(options, cache, {})},
      {std::string(keys::kAuditIndexCf), CfOptions(options, cache, {})},
  };

  // RocksDB would create it too, but first logs its absence at error level ("Error when
  // reading ... dir"): a new node must not start with an error line.
  std::error_code mkdir_error;
  std::filesystem::create_directories(dir, mkdir_error);
  if (mkdir_error) {
    return absl::FailedPreconditionError(base::StrCat("storage: cannot create data dir ", dir,
                                                      ": ", mkdir_error.message()));
  }
  rocksdb::DB* raw = nullptr;
  rocksdb::Status s = rocksdb::DB::Open(db_options, dir, descriptors, &impl->cfs, &raw);
  if (!s.ok()) {
    if (s.IsIOError() && s.ToString().find("lock") != std::string::npos) {
      return absl::FailedPreconditionError(base::StrCat(
          "storage: data dir ", dir, " is in use by another running node (", s.ToString(), ")"));
    }
    return ToStatus(s, base::StrCat("open data dir ", dir));
  }
  impl->db.reset(raw);

  auto store = std::unique_ptr<Store>(new Store(std::move(impl)));
  if (absl::Status st = store->LoadMeta(); !st.ok()) return st;
  if (absl::Status st = store->CheckDataKey(); !st.ok()) return st;
  if (absl::Status st = store->CheckFederationKey(); !st.ok()) return st;
  if (absl::Status st = store->LoadDigests(); !st.ok()) return st;
  if (absl::Status st = store->CheckIndexes(); !st.ok()) return st;
  return store;
}

absl::Status Store::LoadMeta() {
  absl::StatusOr<std::optional<std::string>> format = impl_->Get(kMeta, keys::kMetaFormat);
  if (!format.ok()) return format.status();
  if (format->has_value() && **format != keys::kFormatVersion) {
    return absl::FailedPreconditionError(base::StrCat(
        "storage: data dir ", impl_->dir, " has format ", **format, ", this build reads ",
        keys::kFormatVersion));
  }

  absl::StatusOr<std::optional<std::string>> epoch = impl_->Get(kMeta, keys::kMetaEpoch);
  if (!epoch.ok()) return epoch.status();
  if (!epoch->has_value()) return InitializeMeta();
  if ((*epoch)->size() != 16) {
    return absl::DataLossError(base::StrCat("storage: data dir ", impl_->dir, ": bad epoch"));
  }
  // Every start begins a new epoch, so that a node restored from an old copy of its data
  // dir can never sign a second, different delta for an (epoch, seq) it signed before: its
  // deltas of earlier epochs are ordinary streams that its peers give back.
  if (absl::Status s = StartEpoch(); !s.ok()) return s;

  auto hlc = impl_->Get(kMeta, keys::kMetaHlc);
  auto counts = impl_->Get(kMeta, keys::kMetaCounts);
  auto quarantined = impl_->Get(kMeta, keys::kMetaQuarantined);
  if (!hlc.ok() || !counts.ok() || !quarantined.ok()) {
    return absl::DataLossError(base::StrCat("storage: data dir ", impl_->dir, ": meta unreadable"));
  }
  std::lock_guard<std::mutex> lock(mu_);
  if (hlc->has_value() && (*hlc)->size() == 8) hlc_high_water_ = keys::GetFixed64(**hlc);
  if (counts->has_value()) counts_ = keys::DecodeCounts(**counts);
  if (quarantined->has_value() && (*quarantined)->size() == 8) {
    quarantined_ = keys::GetFixed64(**quarantined);
  }
  return absl::OkStatus();
}

absl::Status Store::InitializeMeta() {
  // A data dir without an epoch must be empty: anything else is a damaged dir.
  std::unique_ptr<rocksdb::Iterator> it(
      impl_->db->NewIterator(rocksdb::ReadOptions(), impl_->cf(kRecords)));
  it->SeekToFirst();
  if (it->Valid()) {
    return absl::DataLossError(
        base::StrCat("storage: data dir ", impl_->dir, " holds records but no epoch"));
  }

  created_new_ = true;
  absl::Status s = impl_->PutMeta(keys::kMetaFormat, keys::kFormatVersion, "initialize meta");
  if (!s.ok()) return s;
  return StartEpoch();
}

absl::Status Store::StartEpoch() {
  epoch_.resize(16);
  randombytes_buf(epoch_.data(), epoch_.size());
  return impl_->PutMeta(keys::kMetaEpoch, epoch_, "start epoch");
}

uint64_t Store::hlc_high_water() const {
  std::lock_guard<std::mutex> lock(mu_);
  return hlc_high_water_;
}

Counts Store::counts() const {
  std::lock_guard<std::mutex> lock(mu_);
  return counts_;
}

uint64_t Store::quarantined() const {
  std::lock_guard<std::mutex> lock(mu_);
  return quarantined_;
}

absl::StatusOr<std::optional<v1::Record>> Store::GetRecord(std::string_view pid) const {
  auto raw = impl_->Get(kRecords, pid);
  if (!raw.ok()) return raw.status();
  if (!raw->has_value()) return std::nullopt;
  v1::Record record;
  if (absl::Status st = ParseRecord(*impl_->sealer, **raw, pid, &record); !st.ok()) return st;
  return record;
}

absl::StatusOr<bool> Store::ReadRecord(std::string_view pid, v1::Record* out,
                                       const ReadView* view) const {
  rocksdb::PinnableSlice value;
  rocksdb::Status s = impl_->db->Get(SnapshotView::Options(view), impl_->cf(kRecords), pid, &value);
  if (s.IsNotFound()) return false;
  if (!s.ok()) return ToStatus(s, "read");
  if (absl::Status st = ParseRecord(*impl_->sealer, View(value), pid, out); !st.ok()) return st;
  return true;
}

std::shared_ptr<const ReadView> Store::OpenView() const {
  return std::make_shared<SnapshotView>(impl_->db.get());
}

std::unique_ptr<RecordCursor> Store::ScanRecords(std::string_view prefix) const {
  return std::make_unique<RocksRecordCursor>(impl_->db.get(), impl_->cf(kRecords), *impl_->sealer,
                                             prefix);
}

TreeNode Store::DigestNode(std::string_view prefix) const {
  if (prefix.size() > static_cast<size_t>(kTreeDepth) || DigestTree::IndexOf(prefix) < 0) {
    return TreeNode{};
  }
  std::lock_guard<std::mutex> lock(mu_);
  return tree_.Node(prefix);
}

std::vector<TreeNode> Store::DigestChildren(std::string_view prefix) const {
  std::vector<TreeNode> out;
  if (prefix.size() >= static_cast<size_t>(kTreeDepth) || DigestTree::IndexOf(prefix) < 0) {
    return out;
  }
  std::string child(prefix);
  child.push_back('a');
  std::lock_guard<std::mutex> lock(mu_);
  for (int v = 0; v < kFanout; ++v) {
    child.back() = DigestTree::ValueChar(v);
    out.push_back(tree_.Node(child));
  }
  return out;
}

absl::Status Store::LoadDigests() {
  std::unique_ptr<rocksdb::Iterator> it(
      impl_->db->NewIterator(rocksdb::ReadOptions(), impl_->cf(kDigests)));
  size_t buckets = 0;
  std::lock_guard<std::mutex> lock(mu_);
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    std::optional<TreeNode> node = keys::DecodeTreeNode(View(it->value()));
    if (it->key().size() != static_cast<size_t>(kTreeDepth) || !node ||
        DigestTree::IndexOf(View(it->key())) < 0) {
      return absl::DataLossError("storage: malformed digest bucket");
    }
    tree_.SetBucket(View(it->key()), *node);
    ++buckets;
  }
  if (!it->status().ok()) return ToStatus(it->status(), "load digests");
  if (buckets > 0) return absl::OkStatus();
  return RebuildDigestsLocked();
}

absl::Status Store::RebuildDigestsLocked() {
  // A data dir without digest buckets but with records (made before digests existed, or
  // with the column family lost): rebuild them from the records, once.
  std::map<std::string, TreeNode> buckets;
  std::unique_ptr<RecordCursor> cursor = ScanRecords();
  for (; cursor->Valid(); cursor->Next()) {
    absl::StatusOr<v1::Record> record = cursor->record();
    if (!record.ok()) return record.status();
    std::string bucket(cursor->pid().substr(0, kTreeDepth));
    if (DigestTree::IndexOf(bucket) < 0 || bucket.size() != static_cast<size_t>(kTreeDepth)) {
      continue;
    }
    TreeNode& node = buckets[bucket];
    model::XorInto(&node.digest, model::RecordDigest(*record));
    ++node.count;
  }
  if (!cursor->status().ok()) return cursor->status();
  if (buckets.empty()) return absl::OkStatus();

  rocksdb::WriteBatch wb;
  for (const auto& [bucket, node] : buckets) {
    wb.Put(impl_->cf(kDigests), bucket, keys::EncodeTreeNode(node));
  }
  rocksdb::WriteOptions wo;
  wo.sync = true;
  if (absl::Status s = ToStatus(impl_->db->Write(wo, &wb), "rebuild digests"); !s.ok()) return s;
  for (const auto& [bucket, node] : buckets) tree_.SetBucket(bucket, node);
  base::Logger("storage")->warn("dir={} digest buckets rebuilt from records buckets={}",
                                impl_->dir, buckets.size());
  return absl::OkStatus();
}

absl::StatusOr<std::vector<std::pair<StreamId, StreamState>>> Store::Streams() const {
  std::vector<std::pair<StreamId, StreamState>> out;
  std::unique_ptr<rocksdb::Iterator> it(
      impl_->db->NewIterator(rocksdb::ReadOptions(), impl_->cf(kCursors)));
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    std::optional<StreamId> id = keys::ParseStreamKey(View(it->key()));
    std::optional<StreamState> state = keys::DecodeStreamState(View(it->value()));
    if (!id || !state) return absl::DataLossError("storage: malformed cursor entry");
    out.emplace_back(std::move(*id), std::move(*state));
  }
  if (!it->status().ok()) return ToStatus(it->status(), "scan cursors");
  return out;
}

absl::StatusOr<std::optional<StreamState>> Store::GetStream(const StreamId& id) const {
  auto raw = impl_->Get(kCursors, keys::StreamKey(id));
  if (!raw.ok()) return raw.status();
  if (!raw->has_value()) return std::nullopt;
  std::optional<StreamState> state = keys::DecodeStreamState(**raw);
  if (!state) return absl::DataLossError("storage: malformed cursor entry");
  return state;
}

absl::StatusOr<std::vector<std::pair<uint64_t, std::string>>> Store::ReadLog(
    const StreamId& id, uint64_t after, size_t max) const {
  std::vector<std::pair<uint64_t, std::string>> out;
  std::string prefix = keys::StreamKey(id);
  std::string upper = keys::LogKey(id, UINT64_MAX);
  rocksdb::Slice upper_slice(upper);
  rocksdb::ReadOptions ro;
  ro.iterate_upper_bound = &upper_slice;
  std::unique_ptr<rocksdb::Iterator> it(impl_->db->NewIterator(ro, impl_->cf(kLog)));
  for (it->Seek(keys::LogKey(id, after + 1)); it->Valid() && out.size() < max; it->Next()) {
    std::string_view key = View(it->key());
    if (key.size() != prefix.size() + 8 || key.substr(0, prefix.size()) != prefix) break;
    std::string buffer;
    absl::StatusOr<std::string_view> plain = impl_->sealer->Open(View(it->value()), &buffer);
    if (!plain.ok()) return plain.status();
    // A sealed value opens into `buffer` whole: keep it rather than copy a delta of up to
    // a few MiB again.
    if (plain->data() != buffer.data()) buffer.assign(*plain);
    out.emplace_back(keys::GetFixed64(key.substr(prefix.size())), std::move(buffer));
  }
  if (!it->status().ok()) return ToStatus(it->status(), "read log");
  return out;
}

absl::StatusOr<std::vector<QuarantineEntry>> Store::ReadQuarantine(size_t max) const {
  std::vector<QuarantineEntry> out;
  std::unique_ptr<rocksdb::Iterator> it(
      impl_->db->NewIterator(rocksdb::ReadOptions(), impl_->cf(kQuarantine)));
  for (it->SeekToFirst(); it->Valid() && out.size() < max; it->Next()) {
    std::optional<QuarantineEntry> q = keys::DecodeQuarantine(View(it->key()), View(it->value()));
    if (!q) return absl::DataLossError("storage: malformed quarantine entry");
    out.push_back(std::move(*q));
  }
  if (!it->status().ok()) return ToStatus(it->status(), "scan quarantine");
  return out;
}

absl::Status Store::PutReport(int64_t unix_ms, std::string_view peer, std::string_view report) {
  std::string key;
  keys::PutFixed64(&key, static_cast<uint64_t>(unix_ms));
  key.append(peer);
  rocksdb::WriteOptions wo;
  wo.sync = impl_->options.sync;
  return ToStatus(impl_->db->Put(wo, impl_->cf(kReports), key, rocksdb::Slice(report.data(), report.size())),
                  "save report");
}

absl::StatusOr<std::vector<std::string>> Store::ListReports(size_t last) const {
  std::vector<std::string> out;
  std::unique_ptr<rocksdb::Iterator> it(
      impl_->db->NewIterator(rocksdb::ReadOptions(), impl_->cf(kReports)));
  for (it->SeekToLast(); it->Valid() && out.size() < last; it->Prev()) {
    out.push_back(it->value().ToString());
  }
  if (!it->status().ok()) return ToStatus(it->status(), "list reports");
  return out;
}

struct PreparedCommit::Writes {
  std::unique_ptr<rocksdb::WriteBatch> wb;
};

namespace {
// Batches kept for reuse, and the largest buffer kept: two commits overlap at most, and a
// batch over the bound (a rare huge delta or repair) is freed rather than held.
constexpr size_t kPooledBatches = 2;
constexpr size_t kPooledBatchBytes = 8 << 20;
}  // namespace

std::unique_ptr<rocksdb::WriteBatch> Store::Impl::TakeBatch() {
  {
    std::lock_guard<std::mutex> lock(batch_pool_mu);
    if (!batch_pool.empty()) {
      std::unique_ptr<rocksdb::WriteBatch> wb = std::move(batch_pool.back());
      batch_pool.pop_back();
      return wb;
    }
  }
  return std::make_unique<rocksdb::WriteBatch>();
}

void Store::Impl::GiveBack(std::unique_ptr<rocksdb::WriteBatch> wb) {
  if (wb == nullptr || wb->Data().capacity() > kPooledBatchBytes) return;
  wb->Clear();  // keeps the buffer
  std::lock_guard<std::mutex> lock(batch_pool_mu);
  if (batch_pool.size() < kPooledBatches) batch_pool.push_back(std::move(wb));
}
PreparedCommit::PreparedCommit() = default;
PreparedCommit::~PreparedCommit() = default;
PreparedCommit::PreparedCommit(PreparedCommit&&) noexcept = default;
PreparedCommit& PreparedCommit::operator=(PreparedCommit&&) noexcept = default;

PreparedCommit Store::Prepare(const CommitBatch& batch) const {
  PreparedCommit prepared;
  prepared.writes_ = std::make_unique<PreparedCommit::Writes>();
  prepared.writes_->wb = impl_->TakeBatch();
  rocksdb::WriteBatch& wb = *prepared.writes_->wb;
  if (!batch.signed_delta.empty()) {
    wb.Put(impl_->cf(kLog), keys::LogKey(batch.stream, batch.seq),
           impl_->sealer->Seal(batch.signed_delta));
    wb.Put(impl_->cf(kCursors), keys::StreamKey(batch.stream),
           keys::EncodeStreamState(batch.StateAfter()));
  }
  // Records and index keys go into the batch in key order, and their column families keep
  // an insert hint per key prefix (CfOptions): a memtable insert then starts its search
  // from the previous key of its prefix instead of the skip list's head. Stable sorts: a
  // key given twice keeps its last value, as in the caller's order.
  std::vector<const v1::Record*> records;
  records.reserve(batch.records.size() + batch.record_refs.size());
  for (const v1::Record& r : batch.records) records.push_back(&r);
  records.insert(records.end(), batch.record_refs.begin(), batch.record_refs.end());
  std::stable_sort(records.begin(), records.end(),
                   [](const v1::Record* a, const v1::Record* b) { return a->pid() < b->pid(); });
  for (const std::string& pid : batch.record_deletes) wb.Delete(impl_->cf(kRecords), pid);
  std::string plain, sealed;  // reused: one allocation each for the whole batch
  for (const v1::Record* r : records) {
    model::SerializeDeterministicTo(*r, &plain);
    impl_->sealer->SealTo(plain, &sealed);
    wb.Put(impl_->cf(kRecords), r->pid(), sealed);
  }
  for (const std::string* key : SortedKeys(batch.index_deletes)) {
    wb.Delete(impl_->cf(kIndex), *key);
  }
  for (const std::string* key : SortedKeys(batch.index_puts)) wb.Put(impl_->cf(kIndex), *key, "");
  for (const TableBatch::Put& p : batch.table_puts) {
    wb.Put(impl_->cf(internal::CfOf(p.table)), p.key, p.value);
  }
  for (const QuarantineEntry& q : batch.quarantine) {
    wb.Put(impl_->cf(kQuarantine), keys::QuarantineKey(q.stream, q.seq, q.index),
           keys::EncodeQuarantine(q));
  }
  return prepared;
}

absl::Status Store::Commit(const CommitBatch& batch) { return Commit(batch, PreparedCommit()); }

absl::Status Store::Commit(const CommitBatch& batch, PreparedCommit prepared) {
  if (absl::Status err = write_error(); !err.ok()) return err;
  if (prepared.empty()) prepared = Prepare(batch);
  rocksdb::WriteBatch& wb = *prepared.writes_->wb;

  // What depends on the commits before this one: the digest buckets, the counts, the
  // quarantine total and the clock's high-water mark.
  Counts counts;
  uint64_t quarantined;
  uint64_t high_water;
  std::map<std::string, TreeNode> buckets;
  {
    std::lock_guard<std::mutex> lock(mu_);
    counts = counts_;
    quarantined = quarantined_ + batch.quarantine.size();
    high_water = std::max(hlc_high_water_, batch.hlc_high_water);
    for (const DigestChange& d : batch.digests) {
      std::string bucket = d.pid.substr(0, kTreeDepth);
      if (bucket.size() != static_cast<size_t>(kTreeDepth) || DigestTree::IndexOf(bucket) < 0) {
        continue;
      }
      auto [it, inserted] = buckets.try_emplace(bucket, tree_.Node(bucket));
      model::XorInto(&it->second.digest, d.delta);
      it->second.count = static_cast<uint64_t>(static_cast<int64_t>(it->second.count) + d.count_delta);
    }
  }
  counts.Add(batch.counts_delta);
  for (const auto& [bucket, node] : buckets) {
    wb.Put(impl_->cf(kDigests), bucket, keys::EncodeTreeNode(node));
  }
  std::string hlc_value;
  keys::PutFixed64(&hlc_value, high_water);
  std::string quarantined_value;
  keys::PutFixed64(&quarantined_value, quarantined);
  wb.Put(impl_->cf(kMeta), keys::kMetaHlc, hlc_value);
  wb.Put(impl_->cf(kMeta), keys::kMetaCounts, keys::EncodeCounts(counts));
  wb.Put(impl_->cf(kMeta), keys::kMetaQuarantined, quarantined_value);

  rocksdb::WriteOptions wo;
  wo.sync = impl_->options.sync && batch.sync;
  rocksdb::Status s = impl_->db->Write(wo, &wb);
  impl_->GiveBack(std::move(prepared.writes_->wb));
  if (!s.ok()) return Poison(ToStatus(s, "commit"));

  {
    std::lock_guard<std::mutex> lock(mu_);
    counts_ = counts;
    quarantined_ = quarantined;
    hlc_high_water_ = high_water;
    for (const auto& [bucket, node] : buckets) tree_.SetBucket(bucket, node);
    ++generation_;
  }
  commit_cv_.notify_all();
  return absl::OkStatus();
}

absl::Status Store::SaveHighWater(uint64_t hlc) {
  if (absl::Status err = write_error(); !err.ok()) return err;
  std::string value;
  keys::PutFixed64(&value, hlc);
  rocksdb::WriteOptions wo;
  wo.sync = impl_->options.sync;
  rocksdb::Status s = impl_->db->Put(wo, impl_->cf(kMeta), keys::kMetaHlc, value);
  if (!s.ok()) return Poison(ToStatus(s, "save clock"));
  std::lock_guard<std::mutex> lock(mu_);
  hlc_high_water_ = std::max(hlc_high_water_, hlc);
  return absl::OkStatus();
}

absl::Status Store::Poison(absl::Status status) {
  std::lock_guard<std::mutex> lock(mu_);
  if (write_error_.ok()) {
    write_error_ = absl::Status(
        status.code(), base::StrCat(status.message(),
                                    "; the node refuses writes until the cause is gone (for "
                                    "example space is freed) or it restarts"));
    base::Logger("storage")->error("write failed, refusing further writes: {}", status.message());
  }
  return write_error_;
}

absl::Status Store::TryRecover() {
  absl::Status error = write_error();
  if (error.ok()) return error;
  // RocksDB stops writing after an I/O error of its own (background error) until Resume;
  // Resume flushes the memtables and starts a new WAL, which needs the cause to be gone.
  rocksdb::Status s = impl_->db->Resume();
  if (!s.ok()) return ToStatus(s, "resume");
  // A synced write proves the disk takes writes again; the clock's high-water mark is
  // rewritten with its own value, so a probe changes nothing.
  std::string value;
  keys::PutFixed64(&value, hlc_high_water());
  rocksdb::WriteOptions wo;
  wo.sync = impl_->options.sync;
  s = impl_->db->Put(wo, impl_->cf(kMeta), keys::kMetaHlc, value);
  if (!s.ok()) return ToStatus(s, "probe write");
  {
    std::lock_guard<std::mutex> lock(mu_);
    write_error_ = absl::OkStatus();
  }
  base::Logger("storage")->warn("writes accepted again; they had been refused after: {}",
                                error.message());
  return absl::OkStatus();
}

absl::Status Store::write_error() const {
  std::lock_guard<std::mutex> lock(mu_);
  return write_error_;
}

uint64_t Store::generation() const {
  std::lock_guard<std::mutex> lock(mu_);
  return generation_;
}

uint64_t Store::WaitForCommit(uint64_t seen, int timeout_ms) const {
  std::unique_lock<std::mutex> lock(mu_);
  commit_cv_.wait_for(lock, std::chrono::milliseconds(timeout_ms),
                      [&] { return generation_ != seen || shutting_down_; });
  return generation_;
}

void Store::WakeAll() const {
  {
    std::lock_guard<std::mutex> lock(mu_);
    shutting_down_ = true;
  }
  commit_cv_.notify_all();
}

bool Store::closing() const {
  std::lock_guard<std::mutex> lock(mu_);
  return shutting_down_;
}

StoreStats Store::stats() const {
  StoreStats st;
  auto sum = [this](const std::string& property) {
    uint64_t total = 0;
    for (int i = kDefault; i < kCfCount; ++i) {
      uint64_t v = 0;
      if (impl_->db->GetIntProperty(impl_->cf(static_cast<CfIndex>(i)), property, &v)) total += v;
    }
    return total;
  };
  st.sst_bytes = sum(rocksdb::DB::Properties::kLiveSstFilesSize);
  st.memtable_bytes = sum(rocksdb::DB::Properties::kSizeAllMemTables);
  st.pending_compaction_bytes = sum(rocksdb::DB::Properties::kEstimatePendingCompactionBytes);
  uint64_t v = 0;
  if (impl_->db->GetIntProperty(rocksdb::DB::Properties::kActualDelayedWriteRate, &v)) {
    st.delayed_write_rate = v;
  }
  if (impl_->db->GetIntProperty(rocksdb::DB::Properties::kIsWriteStopped, &v)) {
    st.writes_stopped = v != 0;
  }
  st.stalls_delayed = impl_->stalls->delayed.load();
  st.stalls_stopped = impl_->stalls->stopped.load();
  st.background_errors = impl_->stalls->background_errors.load();
  return st;
}


}  // namespace wlsync::storage
