// Internal to the writer: the records one commit touches, and how they change the counts.
#pragma once

#include <optional>
#include <string>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/statusor.h"
#include "google/protobuf/arena.h"
#include <future>
#include <memory>
#include <variant>
#include <vector>

#include "model/digest.h"
#include "model/fields.h"
#include "storage/store.h"
#include "sync/writer.h"

namespace wlsync::sync::internal {

// How a record contributes to the node's counts (all zero for nullptr or no status).
storage::Counts Classify(const v1::Record* record);

// Records read from the store during one commit: the merged working copy (on the
// overlay's arena, so that a delta's many small messages cost one free), and what the
// stored record contributed to the digest tree and the counts. Not thread safe.
class Overlay {
 public:
  // `pending`: the overlay of a delta still being committed, whose changed records this
  // one reads instead of the store's (it must have no purge marks, see has_marks).
  explicit Overlay(storage::Store& store, const Overlay* pending = nullptr)
      : store_(store), pending_(pending) {}

  // Some record of this commit was purged or carries a purge mark: the next commit must
  // read the store after this one is written.
  bool has_marks() const { return any_marks_; }
  // Forgets the pending overlay (once its delta is collected and freed); call no Get after.
  void DropPending() { pending_ = nullptr; }

  google::protobuf::Arena* arena() { return &arena_; }

  // The working copy of a record, read from the store on first use.
  absl::StatusOr<v1::Record*> Get(const std::string& pid);
  // Merges `event` into the working copy of its record and remembers whether it changed.
  void Merge(const v1::Event& event, const v1::DeltaRef& writer, v1::Record* record);
  // Applies a purge event (see v1::Event.purge): deletes the record where no group is
  // newer, and remembers the pid so that later Merges of events up to its stamp are dropped.
  void Purge(const v1::Event& event, v1::Record* record);
  // Adds the changed records (by reference: the overlay must outlive the commit), the
  // deleted ones, the count changes, the digest changes and the purge marks to `batch`.
  void Fill(storage::CommitBatch* batch) const;

 private:
  struct Entry {
    v1::Record* record = nullptr;
    bool existed = false;
    model::Digest before_digest{};
    storage::Counts before_counts;
    std::vector<std::string> before_index;  // index keys of the stored record
    uint64_t purged_hlc = 0;  // the pid's purge mark: events up to it are dropped
  };

  // The record this commit will store for `pid`, or null when it does not change it.
  const v1::Record* Changed(const std::string& pid) const;

  storage::Store& store_;
  const Overlay* pending_;
  google::protobuf::Arena arena_;
  absl::flat_hash_map<std::string, Entry> records_;
  absl::flat_hash_set<std::string> changed_;
  absl::flat_hash_set<std::string> marked_;  // pids whose purge mark this commit writes
  bool any_marks_ = false;  // some entry has a purge mark (read or written)
};

// The node-local key of a pid's purge mark (Table::kLocal); the value is the purge's HLC.
std::string PurgeMarkKey(std::string_view pid);

}  // namespace wlsync::sync::internal

namespace wlsync::sync {

// One queued unit of work for the writer thread.
struct Writer::Job {
  struct Local {
    std::vector<LocalWrite> writes;
    std::promise<std::vector<LocalResult>> done;
  };
  struct Remote {
    std::string signed_delta;
    std::promise<RemoteResult> done;
    // Worked out on the submitting thread (SubmitRemote), off the writer's: the SHA-256 of
    // the body and the key its signature verifies with (TrustStore::Check), over views
    // into signed_delta. Empty when the envelope does not parse; the writer then does both.
    std::string body_hash;
    CheckedSignature checked;
    // The body, parsed there too (every event), on `arena`; null when the envelope or the
    // body does not parse (the writer then parses it again, to report why).
    std::unique_ptr<google::protobuf::Arena> arena;
    v1::DeltaBody* body = nullptr;
  };
  // A repair's deltas, verified and read (wanted events only) before the job is queued.
  struct RepairDelta {
    v1::DeltaBody* body = nullptr;  // on one of `arenas`; null when the delta was refused
    std::vector<std::string> pids;
    absl::Status refused;
  };
  struct Repair {
    std::vector<std::unique_ptr<google::protobuf::Arena>> arenas;  // own the bodies
    std::vector<RepairDelta> deltas;
    std::promise<RepairResult> done;
  };
  struct KeyChange {
    std::optional<SigningKey> next;  // a rotation
    std::string node, key_id;        // a revocation
    int64_t from_unix_ms = 0;
    std::promise<absl::Status> done;
  };
  std::variant<Local, Remote, Repair, KeyChange> work;
  // Upper bounds of what a local job adds to a delta, for group commit.
  size_t events_estimate = 0;
  size_t bytes_estimate = 0;
};

// A delta between the writer thread and the commit thread: local writes, or a remote delta
// that verified and is next in its stream. The writer thread plans delta n+1 while delta n
// is written; n+1 reads the records n changes from n's overlay, which the commit thread only
// reads, and a remote n+1 of n's stream starts from n's cursor. When n purged someone, n+1
// waits for n instead (purge marks are read from the store). When n fails, n+1 is refused
// unwritten: it was planned on n (and signed after it, when local), and the store refuses
// writes anyway.
struct Writer::InFlight {
  std::unique_ptr<internal::Overlay> overlay;  // owns the records `batch` refers to
  storage::CommitBatch batch;  // emptied by the commit thread once written
  storage::PreparedCommit prepared;  // batch's writes, prepared by the writer thread
  // Where the delta leaves its stream: what the next delta's planning reads (not `batch`).
  storage::StreamId stream;
  storage::StreamState after;
  bool local = true;
  // Local: the own stream before this delta, the jobs and one list of results per job.
  storage::StreamState before;
  std::vector<std::shared_ptr<Job>> jobs;
  std::vector<std::vector<LocalResult>> results;
  // Remote: the job to answer and its result so far.
  std::shared_ptr<Job> remote_job;
  RemoteResult remote_result;
  bool done = false;    // guarded by commit_mu_
  absl::Status status;  // the commit's, once done
};

}  // namespace wlsync::sync
