// Retention: the home jurisdiction erases what is no longer needed. A sweep, every
// `sweep_every_s`, empties every group but home and status of people deregistered longer
// than `erase_after_s` ago, and the test group of people whose last test is older than
// `test_max_age_days`. Erasures are ordinary signed writes, so every node erases the same
// fields and the nodes stay equal. The same sweep removes this node's audit entries older
// than `audit_keep_days` (AuditTrail::Purge: oldest first, in bounded batches, each
// recorded in the trail and covered by the signed head).
//
// Last, the tombstone (home, status, stamps) of an erased person goes too, by a signed purge
// event (v1::Event.purge), once it is older than `tombstone_keep_s` and a reconciliation
// that began after its last change ended with every peer equal (so every peer holds it).
//
// LIMITATION: what is old enough is judged by this node's wall clock: a clock set ahead by
// more than `audit_keep_days` removes younger audit entries. The removal is still signed
// and recorded (its "Audit.Retention" entry names the cutoff it used), so an auditor sees
// it, but nothing refuses it.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <thread>

#include "absl/status/status.h"
#include "access/audit_trail.h"
#include "storage/store.h"
#include "sync/writer.h"

namespace wlsync::daemon {

struct RetentionOptions {
  std::string node;                 // this jurisdiction: only its people are erased here
  int64_t erase_after_s = 14 * 86400;  // 0: never erase deregistered people
  int64_t test_max_age_days = 0;       // 0: keep test results
  int64_t sweep_every_s = 3600;
  int64_t audit_keep_days = 365;  // 0: keep audit entries for ever
  int64_t tombstone_keep_s = 365 * 86400;  // after the last change; 0: keep tombstones for ever
  // Tombstones whose last change is before this time (ms) are confirmed on every peer;
  // null: none is.
  std::function<int64_t()> confirmed_before_ms;
};

// What one sweep did.
struct SweepResult {
  uint64_t people_erased = 0;
  uint64_t tests_erased = 0;
  uint64_t tombstones_purged = 0;
  access::PurgeResult audit;  // audit entries removed
};

// Lifecycle: Start, Stop (or destroy). `store`, `writer` and `trail` must outlive it. Sweep
// may also be called directly (tests, the first sweep). Thread safe.
class RetentionSweeper {
 public:
  RetentionSweeper(RetentionOptions options, const storage::Store& store, sync::Writer& writer,
                   access::AuditTrail& trail, std::function<int64_t()> now_ms);
  ~RetentionSweeper();

  void Start();
  void Stop();

  absl::StatusOr<SweepResult> Sweep();

 private:
  void Run();
  absl::Status SweepRecords(int64_t now, SweepResult* result);
  absl::Status SweepAudit(int64_t now, SweepResult* result);
  bool stopping();

  const RetentionOptions options_;
  const storage::Store& store_;
  sync::Writer& writer_;
  access::AuditTrail& trail_;
  const std::function<int64_t()> now_ms_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;  // guarded by mu_
  std::thread thread_;
};

}  // namespace wlsync::daemon
