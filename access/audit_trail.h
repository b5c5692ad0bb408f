// The node's audit trail: an append-only, hash-chained log of every read of personal data,
// every query and every refused request, in the store's audit table, with an index by pid
// and by token. Start with AuditTrail::Append.
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

  v1::AuditHead head() const;

  // Entries with seq >= from_seq, at most `max`.
  absl::Status Read(uint64_t from_seq, size_t max, std::vector<v1::AuditEntry>* out) const;
  // Entries that returned `pid`, and full exports, made at or after `since_ms`.
  absl::Status WhoSaw(const std::string& pid, int64_t since_ms, size_t max,
                      std::vector<v1::AuditEntry>* out) const;
  // Entries made with the token `name` at or after `since_ms`.
  absl::Status ByToken(const std::string& name, int64_t since_ms, size_t max,
                       std::vector<v1::AuditEntry>* out) const;

 private:
  struct Pending {
    storage::TableBatch batch;
    bool done = false;
    absl::Status status;
  };
  absl::Status ReadSeqs(std::string_view prefix, int64_t since_ms, size_t max,
                        std::vector<v1::AuditEntry>* out) const;
  absl::StatusOr<std::optional<v1::AuditEntry>> ReadOne(uint64_t seq) const;

  storage::Store& store_;
  const std::string node_;
  const SignFn sign_;
  const std::function<int64_t()> now_ms_;

  mutable std::mutex mu_;
  std::condition_variable cv_;
  uint64_t next_seq_ = 1;               // guarded by mu_
  std::string prev_hash_;               // guarded by mu_
  v1::AuditHead head_;                  // guarded by mu_
  std::vector<Pending*> queue_;         // guarded by mu_
  bool writing_ = false;                // guarded by mu_
  absl::Status error_;                  // guarded by mu_
};

}  // namespace wlsync::access
