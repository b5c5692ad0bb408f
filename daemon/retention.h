// Retention: the home jurisdiction erases what is no longer needed. A sweep, every
// `sweep_every_s`, empties every group but home and status of people deregistered longer
// than `erase_after_s` ago, and the test group of people whose last test is older than
// `test_max_age_days`. Erasures are ordinary signed writes, so every node erases the same
// fields and the nodes stay equal.
//
// LIMITATION: tombstones are kept for ever (purging them after a retention of their own
// and a reconciliation that confirmed them on every peer is not built), and audit entries
// are never deleted.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <thread>

#include "absl/status/status.h"
#include "storage/store.h"
#include "sync/writer.h"

namespace wlsync::daemon {

struct RetentionOptions {
  std::string node;                 // this jurisdiction: only its people are erased here
  int64_t erase_after_s = 14 * 86400;  // 0: never erase deregistered people
  int64_t test_max_age_days = 0;       // 0: keep test results
  int64_t sweep_every_s = 3600;
};

// What one sweep did.
struct SweepResult {
  uint64_t people_erased = 0;
  uint64_t tests_erased = 0;
};

// Lifecycle: Start, Stop (or destroy). `store` and `writer` must outlive it. Sweep may
// also be called directly (tests, the first sweep). Thread safe.
class RetentionSweeper {
 public:
  RetentionSweeper(RetentionOptions options, const storage::Store& store, sync::Writer& writer,
                   std::function<int64_t()> now_ms);
  ~RetentionSweeper();

  void Start();
  void Stop();

  absl::StatusOr<SweepResult> Sweep();

 private:
  void Run();

  const RetentionOptions options_;
  const storage::Store& store_;
  sync::Writer& writer_;
  const std::function<int64_t()> now_ms_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;  // guarded by mu_
  std::thread thread_;
};

}  // namespace wlsync::daemon
