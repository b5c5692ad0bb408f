// The node's audit trail: an append-only, hash-chained log of every read of personal data,
// every query and every refused request, in the store's audit table, with an index by pid
// and by token; retention removes its oldest entries (Purge) and the signed head records
// where the kept trail starts. Start with AuditTrail::Append.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "storage/store.h"
#include "wlsync/v1/audit.pb.h"

namespace wlsync::access {

// What one AuditTrail::Purge removed.
struct PurgeResult {
  uint64_t removed = 0;          // entries removed
  uint64_t batches = 0;          // WriteBatches written (each also appended one entry)
  uint64_t first_kept = 0;       // the oldest kept entry afterwards (0 when none removed)
  int64_t removed_until_ms = 0;  // unix_ms of the newest entry removed
};

// Lifecycle: Load once at start, then Append from any thread. Appends are group-committed:
// concurrent callers share one synced WriteBatch, and each returns only once its entry is
// durable. A failed write poisons the trail (every later Append fails, so that reads of
// personal data stop instead of going unrecorded) until restart. Thread safe; `store`
// must outlive it.
//
// LIMITATION: the signed head catches an edited or dropped newest entry, but someone with
// the data dir can roll the whole trail back to an earlier consistent state (entries and
// an older signed head); auditors must keep the heads they have seen and check that later
// heads extend them, until heads are anchored outside the node.
class AuditTrail {
 public:
  // Signs `message` with the node's current key: returns {key id, signature}.
  using SignFn = std::function<std::pair<std::string, std::string>(std::string_view message)>;

  AuditTrail(storage::Store& store, std::string node, SignFn sign,
             std::function<int64_t()> now_ms);

  // Reads the newest entry and the signed head; logs an error when they disagree (the trail
  // was edited while the node was down: `wlsync audit verify` names the entry).
  absl::Status Load();

  // Sets seq, unix_ms and prev_hash of `entry` and appends it durably. Index keys: every
  // pid, the token, and for a full export a marker (it showed every record).
  absl::Status Append(v1::AuditEntry entry, bool full_export = false);

  // Removes the oldest entries made before `before_ms`, oldest first, in WriteBatches of at
  // most `batch` entries, until it reaches an entry made at or after `before_ms` (which it
  // keeps, with every later one, whatever their times) or `stop` returns true. Each
  // WriteBatch deletes its entries and their index keys, appends an "Audit.Retention" entry
  // with the counts, and writes the head with its new retention base (the first kept entry
  // and the hash of the last removed one), so a crash leaves one state or the other.
  // Refuses (DATA_LOSS, nothing removed) when the entries it would remove do not chain, so
  // that retention never erases the evidence of an edit. One Purge runs at a time.
  absl::StatusOr<PurgeResult> Purge(int64_t before_ms, size_t batch,
                                    const std::function<bool()>& stop = nullptr);

  // The committed head, with its retention base.
  v1::AuditHead head() const;
  // The oldest entry not removed by retention (0: none removed), including a removal still
  // being written: a reader that finds entries missing before it knows why.
  uint64_t base_seq() const;

  // Entries with seq >= from_seq, at most `max`.
  absl::Status Read(uint64_t from_seq, size_t max, std::vector<v1::AuditEntry>* out) const;
  // Entries that returned `pid`, and full exports, made at or after `since_ms`.
  absl::Status WhoSaw(const std::string& pid, int64_t since_ms, size_t max,
                      std::vector<v1::AuditEntry>* out) const;
  // Entries made with the token `name` at or after `since_ms`.
  absl::Status ByToken(const std::string& name, int64_t since_ms, size_t max,
                       std::vector<v1::AuditEntry>* out) const;

 private:
  // One caller's entry on its way. Each waits on its own condition variable, so that a
  // group commit wakes its members and the next leader only, not every waiting caller.
  struct Pending {
    storage::TableBatch batch;
    bool done = false;
    absl::Status status;
    std::condition_variable cv;
  };
  // Numbers and chains `entry`, queues it with `pending` and returns once written.
  // REQUIRES: `lock` holds mu_.
  absl::Status Commit(v1::AuditEntry entry, bool full_export, Pending& pending,
                      std::unique_lock<std::mutex>& lock);
  // One WriteBatch of Purge, of entries up to seq `newest`; removed == 0 when nothing
  // (more) is old enough.
  absl::StatusOr<PurgeResult> PurgeBatch(int64_t before_ms, uint64_t newest, size_t batch);
  absl::Status ReadSeqs(std::string_view prefix, int64_t since_ms, size_t max,
                        std::vector<v1::AuditEntry>* out) const;
  absl::StatusOr<std::optional<v1::AuditEntry>> ReadOne(uint64_t seq) const;

  storage::Store& store_;
  const std::string node_;
  const SignFn sign_;
  const std::function<int64_t()> now_ms_;

  mutable std::mutex mu_;
  std::mutex purge_mu_;                 // held by Purge: one at a time
  uint64_t next_seq_ = 1;               // guarded by mu_
  std::string prev_hash_;               // guarded by mu_
  // The retention base of the next head written (see AuditHead).
  uint64_t base_seq_ = 0;               // guarded by mu_
  std::string base_prev_hash_;          // guarded by mu_
  int64_t base_removed_until_ms_ = 0;   // guarded by mu_
  v1::AuditHead head_;                  // guarded by mu_
  std::vector<Pending*> queue_;         // guarded by mu_
  bool writing_ = false;                // guarded by mu_
  absl::Status error_;                  // guarded by mu_
};

}  // namespace wlsync::access
