// The node's one write path. Local requests and remote signed deltas are queued to a single
// writer thread, which owns every read-modify-write of the store: local requests that
// arrive together share one signed delta and one WAL sync (group commit); a remote delta is
// verified, checked against its stream's cursor and the ownership policy, and applied in
// one atomic commit with its log entry, cursor and the node's clock.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <future>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/status/statusor.h"
#include "model/hlc.h"
#include "model/writes.h"
#include "storage/store.h"
#include "sync/delta_scan.h"
#include "sync/forks.h"
#include "sync/signer.h"
#include "wlsync/v1/delta.pb.h"

namespace wlsync::sync {

namespace internal {
class Overlay;
}

// One local request, already validated by WritePlanner::Prepare*.
struct LocalWrite {
  enum class Kind { kUpsert, kRegister, kUpdate, kDeregister, kErase, kPurge };
  Kind kind = Kind::kUpsert;
  std::string pid;
  v1::PersonFields fields;              // kUpsert, kRegister
  std::vector<model::FieldEdit> edits;  // kUpdate
  std::vector<v1::Group> erase;         // kErase: the groups to empty
};

struct LocalResult {
  absl::Status status;
  model::WriteOutcome outcome = model::WriteOutcome::kUnchanged;
  std::string pid;
  uint64_t hlc = 0;  // stamp of the write; 0 when nothing was written
};

enum class RemoteOutcome {
  kApplied,    // verified and committed (some events may be quarantined)
  kDuplicate,  // already held with the same body: a no-op
  kGap,        // seq beyond cursor + 1: pull again from the cursor
  kFork,       // same seq, different body: the stream is refused until an operator acts
  kHeldBack,   // HLC too far ahead of the local clock: retry later
  kRejected,   // bad signature, unknown origin, malformed, or a store error
};

std::string_view RemoteOutcomeName(RemoteOutcome outcome);

struct RemoteResult {
  RemoteOutcome outcome = RemoteOutcome::kRejected;
  absl::Status status;  // why, for kRejected / kFork / kHeldBack / kGap
  storage::StreamId stream;
  uint64_t seq = 0;
  size_t events = 0;
  size_t quarantined = 0;
  // The envelope named an origin but its signature did not verify with the trust store's
  // key for it (or the origin or key id is unknown): a forged, corrupted or misconfigured
  // peer. `stream` is then empty: nothing in the delta is trusted.
  bool signature_failed = false;
  // A genuine signature by a key that is revoked, or not valid, at the delta's HLC: the
  // delta is refused and its events quarantined; the stream stops there.
  bool key_refused = false;
  // This node could not take the delta now (its store failed, or it is shutting down): the
  // cursor did not move, and the delta must be pulled again later.
  bool local_failure = false;
};

// One delta a repair reads: a serialized SignedDelta (from this node's log or a peer's) and
// the pids whose events in it are wanted.
struct RepairSource {
  std::string signed_delta;
  std::vector<std::string> pids;
};

// What a repair did: pids whose records changed, and pids refused with the reason (every
// wanted pid of a delta that was itself refused, or the pid of a refused event).
struct RepairResult {
  absl::Status status;  // not OK when this node's store failed: nothing was repaired
  std::vector<std::string> repaired;
  std::vector<std::pair<std::string, std::string>> refused;  // pid, reason
  size_t deltas = 0;  // deltas that verified and were read
};

struct WriterOptions {
  // How long the first local request waits for others to share its delta.
  std::chrono::microseconds group_window{2000};
  // Local requests are added to one delta until it would hold more than this many events
  // or bytes (estimated from the requests; a single request may exceed them). The byte
  // bound keeps every delta well inside the peers' message size limit.
  size_t max_delta_events = 16384;
  size_t max_delta_bytes = 1 << 20;
  // Deltas whose HLC is further ahead of the local clock are held back.
  int64_t max_clock_skew_ms = 10000;
};

// Counters for status and metrics. Monotonic; read without locks.
struct WriterStats {
  std::atomic<uint64_t> local_deltas{0};
  std::atomic<uint64_t> local_events{0};
  std::atomic<uint64_t> remote_deltas{0};
  std::atomic<uint64_t> remote_events{0};
  std::atomic<uint64_t> duplicates{0};
  std::atomic<uint64_t> gaps{0};
  std::atomic<uint64_t> forks{0};
  std::atomic<uint64_t> held_back{0};
  std::atomic<uint64_t> rejected{0};
  std::atomic<uint64_t> signature_failures{0};
  std::atomic<uint64_t> quarantined{0};
  // Deltas refused for a revoked or out-of-window key; key notices applied or refused.
  std::atomic<uint64_t> key_refusals{0};
  std::atomic<uint64_t> key_notices{0};
  std::atomic<uint64_t> bad_key_notices{0};
};

// Lifecycle: construct, Start, use from any thread, Stop (or destroy). Stop finishes every
// queued request before it returns. Holds references to the store, clock, planner, key and
// trust store, which must outlive it; it signs with the key's current value and applies
// verified key notices to the trust store. Thread safe.
class Writer {
 public:
  Writer(storage::Store& store, model::HybridClock& clock, const model::WritePlanner& planner,
         NodeKey& key, TrustStore& trust, WriterOptions options);
  ~Writer();

  Writer(const Writer&) = delete;
  Writer& operator=(const Writer&) = delete;

  absl::Status Start();
  void Stop();

  // Queues local writes; the future is ready once they are durable (or refused). One
  // result per write, in order. After Stop, every write fails with UNAVAILABLE.
  std::future<std::vector<LocalResult>> SubmitLocal(std::vector<LocalWrite> writes);
  std::vector<LocalResult> WriteLocal(std::vector<LocalWrite> writes) {
    return SubmitLocal(std::move(writes)).get();
  }

  // Verifies and applies one serialized SignedDelta. Blocks until done.
  RemoteResult ApplyRemote(std::string signed_delta) {
    return SubmitRemote(std::move(signed_delta)).get();
  }
  // Queues one serialized SignedDelta; the future is ready once it is applied (readable
  // here) or refused. Deltas are applied in the order they are submitted, so a puller can
  // submit the next one of a stream before the previous one's result: the writer plans it
  // while the previous one is committed.
  std::future<RemoteResult> SubmitRemote(std::string signed_delta);

  // Reconciliation repair: verifies each source's delta and merges only the events of its
  // pids into their records, all in one commit. An event whose stamp equals the stored one
  // replaces the stored group, since the signed delta is the proof of that state. The
  // log, cursors and quarantine are left alone. Verification and the reading of the wanted
  // events run on the calling thread (and one more for larger batches); the writer thread
  // only merges and commits. The cost of a source grows with its body's bytes (hashed for
  // the signature, scanned for the pids) and the events wanted, not with the number of
  // events in it. The trust store is consulted as it stands when Repair is called: a key
  // revoked while the batch waits for the writer thread does not refuse it, as it would not
  // refuse a delta applied just before. Blocks until done.
  RepairResult Repair(std::vector<RepairSource> sources);

  // Key lifecycle (docs/protocol.md, "Signing keys"). RotateKey announces `next` in a
  // delta signed with the current key, then signs everything after it with `next`. The
  // caller keeps the key files in step (see daemon/keys_service.cc). Blocks until durable.
  absl::Status RotateKey(SigningKey next);
  // Revokes `key_id` of `node` from `from_unix_ms` on: announced to the peers in a signed
  // delta when `node` is this node (its current key cannot be revoked: rotate first),
  // recorded here only ("local") for another node whose own notice cannot come. Deltas
  // signed with the key at or after that time are refused from then on. Blocks until
  // durable.
  absl::Status RevokeKey(std::string node, std::string key_id, int64_t from_unix_ms);

  const WriterStats& stats() const { return stats_; }
  // Streams refused after a fork, as "origin/epoch-hex".
  std::vector<std::string> forked_streams() const;
  // The refused streams themselves, kept in the store: listed and cleared by an admin.
  ForkedStreams& forks() { return forks_; }
  const storage::StreamId& own_stream() const { return own_stream_; }
  uint64_t own_seq() const { return own_seq_.load(std::memory_order_acquire); }

 private:
  struct Job;

  // A planned and signed delta of local writes, handed to the commit thread.
  struct InFlight;

  void Run();
  // Plans and signs a delta of local writes, then hands it to the commit thread, which
  // acknowledges the writes once it is durable. Planning the next delta overlaps that
  // commit (see InFlight in writer_internal.h).
  void ProcessLocal(std::vector<std::shared_ptr<Job>>& jobs);
  // Commit thread: commits each delta handed over, then acknowledges its writes.
  void CommitLoop();
  // Writer thread: waits for the delta in flight, if any, and frees it. Returns the
  // status of its commit; after a failure own_state_ is back at the last committed delta.
  absl::Status Collect();
  // Writer thread, for each planned delta: NewFlight makes it, its overlay reading the
  // changed records of the delta in flight; Settle waits for that one and returns its
  // failure, which this one shares; HandOff gives it to the commit thread.
  std::unique_ptr<InFlight> NewFlight(bool local);
  absl::Status Settle(InFlight* next);
  void HandOff(std::unique_ptr<InFlight> next);
  // Writer thread: collects the delta in flight if it is already done (or purged someone),
  // so that the next delta is planned on the store and does not fall with an earlier
  // failure. A delta still being committed stays: the next one is planned on it and stands
  // or falls with it.
  void SettleFinished();
  LocalResult PlanOne(const LocalWrite& write, const v1::DeltaRef& ref,
                      internal::Overlay* overlay, v1::DeltaBody* body);
  // Signs and commits a delta of this node. `body.max_hlc` may be preset (a delta of key
  // notices only); `trust_puts` are written in the same batch.
  absl::Status CommitLocal(v1::DeltaBody* body, internal::Overlay* overlay,
                           std::vector<storage::TableBatch::Put> trust_puts = {});
  // The two halves of CommitLocal. SignLocal sets the header of the next delta of the own
  // stream, signs it and fills *batch (writer thread); Committed counts a committed delta
  // (either thread).
  void SignLocal(v1::DeltaBody* body, internal::Overlay* overlay,
                 std::vector<storage::TableBatch::Put> trust_puts, storage::CommitBatch* batch);
  void Committed(const storage::CommitBatch& batch);
  absl::Status ProcessKeyChange(Job& job);
  // Queues a key change and waits for its result.
  absl::Status Submit(const std::shared_ptr<Job>& job);
  absl::Status CommitKeyNotice(v1::KeyNotice notice);
  // The trust records a verified remote delta's key notices change; refused notices are
  // logged and counted, and change nothing.
  std::vector<KeyRecord> PlanNotices(const v1::DeltaBody& body, std::string_view key_id);
  // Quarantines the events of a delta refused for its key (once per delta).
  RemoteResult RefuseForKey(const v1::DeltaBody& body, const storage::StreamId& stream,
                            absl::Status why, RemoteResult result);

  // Verifies and sequences a remote delta. An applicable one is handed to the commit thread,
  // which answers `job` (nullopt is returned); any other outcome is returned now.
  std::optional<RemoteResult> ProcessRemote(const std::shared_ptr<Job>& job);
  // The stream's state as of the delta in flight when that is the stream's delta just
  // before `body`; else, after the delta in flight is written, as stored.
  absl::StatusOr<storage::StreamState> StreamBefore(const storage::StreamId& stream,
                                                    const v1::DeltaBody& body);
  // Merges a verified, in-sequence remote delta into `flight`'s overlay and batch (the
  // events the policy refuses go to quarantine). Fails only when the store does.
  absl::Status PlanRemote(const v1::DeltaBody& body, const std::string& body_hash,
                          const std::string& signed_delta, const storage::StreamId& stream,
                          const storage::StreamState& state,
                          const std::vector<KeyRecord>& key_changes, InFlight* flight);
  // Counts and logs a committed remote delta; completes `result`.
  RemoteResult RemoteCommitted(const storage::CommitBatch& batch, RemoteResult result);
  RepairResult ProcessRepair(Job& job);
  // Merges the events of one verified repair delta; refused events are added to `refused`.
  // Fails only when the store fails.
  // UNAVAILABLE naming the distance when `hlc` is more than max_clock_skew ahead of the
  // local clock: the clock guard of remote deltas and of repairs.
  absl::Status CheckClock(uint64_t hlc);
  absl::Status MergeRepair(const v1::DeltaBody& body, internal::Overlay* overlay,
                           std::vector<std::pair<std::string, std::string>>* refused);
  // Parses and verifies an envelope, read in place (views into `signed_delta`, set into
  // `*view` when given); on failure fills `error`. With `only`, the body's events are read
  // for those pids only (see ParseBodySparse). Thread safe.
  // A genuine signature by a key not valid at the delta's HLC returns false with *verdict
  // kRevoked or kOutsideWindow (and does not count as a rejection yet).
  // `checked`: see TrustStore::Verify. `body_parsed`: `*body` already holds the whole body
  // of this very `signed_delta`, parsed by ParseBodySparse with no `only` (Job::Remote).
  bool Verify(const std::string& signed_delta, v1::DeltaBody* body, absl::Status* error,
              KeyVerdict* verdict = nullptr, const absl::flat_hash_set<std::string>* only = nullptr,
              const CheckedSignature* checked = nullptr, EnvelopeView* view = nullptr,
              bool body_parsed = false);
  // `hash`: SHA-256 of the body's bytes.
  RemoteResult CheckSequence(const v1::DeltaBody& body, const std::string& hash,
                             const storage::StreamId& stream,
                             const storage::StreamState& state);
  // Refuses `stream` from now on: `held_hash` is the hash of the body this node holds at
  // `seq`, `other_hash` that of the other body; `refused_seq` is the delta that showed it.
  RemoteResult MarkForked(const storage::StreamId& stream, uint64_t seq,
                          const std::string& held_hash, const std::string& other_hash,
                          uint64_t refused_seq);

  absl::Status ValidateEvent(const v1::DeltaBody& body, const v1::Event& event) const;

  storage::Store& store_;
  model::HybridClock& clock_;
  const model::WritePlanner& planner_;
  NodeKey& key_;
  TrustStore& trust_;
  const WriterOptions options_;
  storage::StreamId own_stream_;

  // Own stream state, including a delta still in flight; written only by the writer thread.
  storage::StreamState own_state_;
  std::atomic<uint64_t> own_seq_{0};
  WriterStats stats_;

  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::shared_ptr<Job>> queue_;  // guarded by mu_
  bool stopping_ = false;                   // guarded by mu_
  // Loaded by Start; kept in the store, so a fork outlives a restart.
  ForkedStreams forks_;
  // Deltas already quarantined for their key, so that a peer sending one again does not
  // quarantine it twice. Writer thread only.
  std::set<std::pair<storage::StreamId, uint64_t>> key_quarantined_;
  std::thread thread_;

  // The commit thread and its one delta in flight. The writer thread alone sets and clears
  // in_flight_ (so it reads it without the lock); the commit thread marks it done.
  std::mutex commit_mu_;
  std::condition_variable commit_cv_;
  std::unique_ptr<InFlight> in_flight_;  // guarded by commit_mu_ (see above)
  bool commit_stopping_ = false;         // guarded by commit_mu_
  std::thread committer_;
};

}  // namespace wlsync::sync
