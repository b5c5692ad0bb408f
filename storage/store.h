// The node's durable state in RocksDB: merged person records, the verbatim log of every
// signed delta, per-stream cursors and node metadata. Start with Store::Commit, the one
// atomic write every change goes through. Key layouts are documented in docs/storage.md.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "model/digest.h"
#include "storage/digest_tree.h"
#include "storage/index.h"
#include "wlsync/v1/records.pb.h"

namespace wlsync::storage {

// One replication stream: the deltas of one origin node within one of its epochs.
struct StreamId {
  std::string origin;
  std::string epoch;  // 16 raw bytes

  bool operator==(const StreamId&) const = default;
  auto operator<=>(const StreamId&) const = default;
};

// How far a stream has been applied here.
struct StreamState {
  uint64_t seq = 0;           // highest applied seq, 0 for none
  std::string last_hash;      // SHA-256 of that delta's body
  uint64_t max_hlc = 0;       // highest HLC seen in the stream
  int64_t last_unix_ms = 0;   // creation time of the last applied delta
  uint64_t events = 0;        // events applied from the stream so far
};

struct Counts {
  int64_t records = 0;
  int64_t registered_white = 0;
  int64_t registered_grey = 0;
  int64_t deregistered = 0;

  void Add(const Counts& d);
};

// An event refused by policy, kept with its reason instead of being dropped.
struct QuarantineEntry {
  StreamId stream;
  uint64_t seq = 0;
  int index = 0;  // position of the event in the delta
  std::string pid;
  std::string reason;
  int64_t unix_ms = 0;
};

// How one record's digest changes in a commit: old digest ^ new digest, and +1 for a new
// record.
struct DigestChange {
  std::string pid;
  model::Digest delta{};
  int64_t count_delta = 0;
};

// Node-local tables: never replicated, each its own column family.
// kLocal is node-local settings kept beside the node's metadata (emergency state).
enum class Table { kIndex, kTokens, kAudit, kAuditIndex, kLocal };

// Puts into node-local tables, written as one WriteBatch.
struct TableBatch {
  struct Put {
    Table table;
    std::string key;
    std::string value;
  };
  std::vector<Put> puts;
  struct Delete {
    Table table;
    std::string key;
  };
  std::vector<Delete> deletes;  // applied before the puts
};

// Everything one applied delta changes, written as one RocksDB WriteBatch.
struct CommitBatch {
  StreamId stream;
  uint64_t seq = 0;
  std::string body_hash;
  std::string signed_delta;  // serialized SignedDelta, stored verbatim in the log
  uint64_t max_hlc = 0;
  int64_t created_unix_ms = 0;
  std::vector<v1::Record> records;  // merged records to store
  // More records to store, owned by the caller until Commit returns (no copy).
  std::vector<const v1::Record*> record_refs;
  Counts counts_delta;
  std::vector<QuarantineEntry> quarantine;
  std::vector<DigestChange> digests;
  uint64_t hlc_high_water = 0;  // node clock to persist
  uint64_t event_count = 0;     // events in the delta
  uint64_t stream_events_before = 0;  // the stream's event total before this delta
  // Sync the WAL before returning. Local writes need it before acknowledgement; a remote
  // delta lost with an unsynced tail is simply pulled again, as its cursor goes with it.
  bool sync = true;
  // Secondary index entries to add and remove (see storage/index.h).
  std::vector<std::string> index_puts;
  std::vector<std::string> index_deletes;
  // Records to delete (purged tombstones; their digests and index keys are in the lists
  // above).
  std::vector<std::string> record_deletes;
  // Node-local entries written with the delta (the trust entries its key notices change).
  std::vector<TableBatch::Put> table_puts;

  // The stream's state once this delta is applied (its cursor).
  StreamState StateAfter() const {
    return {seq, body_hash, max_hlc, created_unix_ms, stream_events_before + event_count};
  }
};

// RocksDB's figures for the metrics exposition, summed over the column families.
struct StoreStats {
  uint64_t sst_bytes = 0;                 // live SST files
  uint64_t memtable_bytes = 0;            // all memtables, flushed or not
  uint64_t pending_compaction_bytes = 0;  // estimated bytes compaction must still rewrite
  uint64_t delayed_write_rate = 0;        // bytes/s while writes are slowed down, else 0
  bool writes_stopped = false;            // RocksDB stopped writes (a stall) right now
  // Times writes entered a slowdown or a stop since the store opened.
  uint64_t stalls_delayed = 0;
  uint64_t stalls_stopped = 0;
  uint64_t background_errors = 0;         // failed flushes or compactions since open
};

struct StoreOptions {
  // When false, no commit syncs the WAL, whatever the batch asks (benchmarks only).
  bool sync = true;
  // Memory budget hints.
  size_t block_cache_bytes = 32 << 20;
  size_t write_buffer_bytes = 16 << 20;
  // Keys the phone tags of the secondary indexes (see storage/index.h).
  std::string index_tag_key;
  // 32 bytes: records and log entries are encrypted at rest with it (storage/sealing.h).
  // Empty stores them in clear (tests and benchmarks that say so).
  std::string data_key;
  // A check value of the federation key (FederationKey::Fingerprint), which every pid in
  // the data dir derives from: a data dir written with another key is refused at open,
  // since its people would all be stored again under other pids. Empty: not checked.
  std::string federation_check;
};

class RecordCursor;

// The part of a commit that depends on nothing committed before it: the sealed log entry
// and records, the cursor, index keys, node-local entries and quarantine, in RocksDB's
// batch form. The writer thread prepares a peer's delta n+1 while delta n is being
// committed, so that the commit thread, the busiest of a catch-up, only adds what depends
// on the committed state (digest buckets, counts, the clock) and writes. Move-only.
class PreparedCommit {
 public:
  PreparedCommit();
  ~PreparedCommit();
  PreparedCommit(PreparedCommit&&) noexcept;
  PreparedCommit& operator=(PreparedCommit&&) noexcept;
  bool empty() const { return writes_ == nullptr; }

 private:
  friend class Store;
  struct Writes;
  std::unique_ptr<Writes> writes_;
};

// A moment of the store, kept for reads across calls (Store::OpenView). It holds a RocksDB
// snapshot, which keeps the versions it sees from being compacted away: keep few, briefly.
class ReadView {
 public:
  virtual ~ReadView() = default;
};

// Owns the RocksDB instance. Thread safe: reads from any thread; Commit may be called from
// any thread (the node calls it from its commit and writer threads, one at a time). After
// any write failure the store is poisoned: every later Commit returns the first error
// (reads go on).
class Store {
 public:
  // Opens or creates the data dir. Every open starts a new random 16-byte epoch (the
  // node's own stream restarts at seq 1 under it). Fails with a clear message when
  // another process holds the dir.
  static absl::StatusOr<std::unique_ptr<Store>> Open(const std::string& dir,
                                                     const StoreOptions& options);
  ~Store();

  Store(const Store&) = delete;
  Store& operator=(const Store&) = delete;

  const std::string& epoch() const { return epoch_; }
  bool created_new() const { return created_new_; }
  uint64_t hlc_high_water() const;
  Counts counts() const;

  // nullopt when the pid is unknown.
  absl::StatusOr<std::optional<v1::Record>> GetRecord(std::string_view pid) const;
  // Parses the record into *out (which may live on an arena); false when unknown. With a
  // view, the record as it was when the view was opened.
  absl::StatusOr<bool> ReadRecord(std::string_view pid, v1::Record* out,
                                  const ReadView* view = nullptr) const;
  // A consistent view of the store as it is now, for reads that span calls (the pages of
  // one query). Every copy must be dropped before the store.
  std::shared_ptr<const ReadView> OpenView() const;
  // Records in pid order; the cursor sees a consistent snapshot. With a prefix, only the
  // records whose pid starts with it.
  std::unique_ptr<RecordCursor> ScanRecords(std::string_view prefix = "") const;

  // The digest tree node of a pid prefix (0 to 4 base32 characters), and the 32 children
  // of a prefix of 0 to 3 characters, in base32 order.
  TreeNode DigestNode(std::string_view prefix) const;
  std::vector<TreeNode> DigestChildren(std::string_view prefix) const;

  // All streams this node holds, with their state.
  absl::StatusOr<std::vector<std::pair<StreamId, StreamState>>> Streams() const;
  absl::StatusOr<std::optional<StreamState>> GetStream(const StreamId& id) const;
  // Serialized SignedDeltas of a stream with seq > after, in order, at most `max`.
  absl::StatusOr<std::vector<std::pair<uint64_t, std::string>>> ReadLog(const StreamId& id,
                                                                        uint64_t after,
                                                                        size_t max) const;
  uint64_t quarantined() const;
  absl::StatusOr<std::vector<QuarantineEntry>> ReadQuarantine(size_t max) const;

  // Reconciliation reports, kept by end time; newest first. Reports are written even when
  // the store refuses record writes, as they record that fact.
  absl::Status PutReport(int64_t unix_ms, std::string_view peer, std::string_view report);
  absl::StatusOr<std::vector<std::string>> ListReports(size_t last) const;

  // Writes the whole batch atomically, or nothing. Wakes WaitForCommit callers.
  absl::Status Commit(const CommitBatch& batch);
  // The same, from Prepare(batch) made earlier, on any thread: `batch` must not have
  // changed since. An empty `prepared` is prepared here.
  absl::Status Commit(const CommitBatch& batch, PreparedCommit prepared);
  PreparedCommit Prepare(const CommitBatch& batch) const;
  // Persists only the HLC high-water mark.
  absl::Status SaveHighWater(uint64_t hlc);
  // The sticky write error, OK while healthy.
  absl::Status write_error() const;
  // While writes are refused: resumes RocksDB and makes a synced probe write; when both
  // succeed the error is cleared and writes are accepted again. Nothing a failed commit
  // touched was applied, so nothing is half-applied. OK when writes are (again) accepted,
  // else why not. Thread safe.
  absl::Status TryRecover();

  // Commit generation: increases on every Commit. WaitForCommit blocks until the
  // generation passes `seen` or the timeout elapses; returns the current generation.
  uint64_t generation() const;
  uint64_t WaitForCommit(uint64_t seen, int timeout_ms) const;
  // Wakes every waiter and makes later waits return at once (used at shutdown).
  void WakeAll() const;
  // True once WakeAll was called: long waits should end.
  bool closing() const;

  // The secondary indexes' key schema.
  const Indexer& indexer() const;
  // Visits entries of `table` whose key starts with `prefix`, from the first key >= `start`
  // (>= prefix when empty), in key order, until `visit` returns false.
  absl::Status Scan(Table table, std::string_view prefix, std::string_view start,
                    const std::function<bool(std::string_view key, std::string_view value)>&
                        visit) const;
  // Scan whose `visit` may also jump ahead: a key it leaves in *jump, greater than the one
  // visited, is where the scan goes on. One iterator, so one consistent view, throughout.
  using JumpingVisitor =
      std::function<bool(std::string_view key, std::string_view value, std::string* jump)>;
  absl::Status ScanJumping(Table table, std::string_view prefix, std::string_view start,
                           const JumpingVisitor& visit, const ReadView* view = nullptr) const;
  // The last entry of `table` (nullopt when empty), as (key, value).
  absl::StatusOr<std::optional<std::pair<std::string, std::string>>> Last(Table table) const;
  absl::StatusOr<std::optional<std::string>> Get(Table table, std::string_view key) const;
  // Writes node-local entries atomically; `sync` makes them durable before returning.
  // Refused, like Commit, while writes are refused; a failure poisons the store.
  absl::Status Write(const TableBatch& batch, bool sync);

  // RocksDB's own figures, for metrics. Cheap (property reads); thread safe.
  StoreStats stats() const;

 private:
  struct Impl;
  explicit Store(std::unique_ptr<Impl> impl);
  absl::Status Poison(absl::Status status);
  absl::Status LoadMeta();
  absl::Status LoadDigests();
  // REQUIRES: mu_ held.
  absl::Status RebuildDigestsLocked();
  absl::Status InitializeMeta();
  absl::Status StartEpoch();
  // Refuses a data key other than the one the dir was written with (a check value of the
  // key is kept in meta), and an encrypted dir opened without a key.
  absl::Status CheckDataKey();
  absl::Status CheckFederationKey();
  // Rebuilds the secondary indexes when they were made with another schema (or never).
  absl::Status CheckIndexes();

  std::unique_ptr<Impl> impl_;
  std::string epoch_;
  bool created_new_ = false;

  mutable std::mutex mu_;
  mutable std::condition_variable commit_cv_;
  uint64_t generation_ = 0;         // guarded by mu_
  absl::Status write_error_;        // guarded by mu_
  Counts counts_;                   // guarded by mu_
  uint64_t hlc_high_water_ = 0;     // guarded by mu_
  uint64_t quarantined_ = 0;        // guarded by mu_
  DigestTree tree_;                 // guarded by mu_
  mutable bool shutting_down_ = false;  // guarded by mu_
};

// Iterates records in pid order over a snapshot. Not thread safe; owned by the caller.
class RecordCursor {
 public:
  virtual ~RecordCursor() = default;
  virtual bool Valid() const = 0;
  virtual void Next() = 0;
  // Parses the current record.
  virtual absl::StatusOr<v1::Record> record() const = 0;
  virtual std::string_view pid() const = 0;
  // Any iteration error (OK at a clean end).
  virtual absl::Status status() const = 0;
};

}  // namespace wlsync::storage
