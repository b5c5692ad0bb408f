// The nightly reconciliation schedule: every peer at `reconcile.at` local time (in
// `reconcile.time_zone`) plus a random jitter; a run missed while the node was down
// happens soon after the next start; an alert is logged while no run has succeeded for
// `reconcile.alert_after_h` hours (counted from the start when none ever has).
#pragma once

#include <condition_variable>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "storage/store.h"
#include "wlsync/v1/registry.pb.h"

namespace wlsync::daemon {

struct ScheduleOptions {
  int hour = 2;
  int minute = 30;
  std::string time_zone = "Asia/Shanghai";
  int64_t jitter_s = 600;
  int64_t alert_after_h = 48;
  int64_t startup_delay_s = 30;  // before a missed run, so that pullers connect first
};

// Parses "HH:MM" into options; the error names reconcile.at.
absl::Status ParseAt(std::string_view at, ScheduleOptions* options);

// True for the shape of an IANA time zone name ("Asia/Shanghai", "Etc/GMT+8", "UTC"):
// components of ASCII letters, digits, '.', '_', '+' and '-', none starting with '.',
// joined by single '/'s. Such a name can only name a file inside the zoneinfo directory;
// Abseil would otherwise open any path it is given ("/dev/stdin", "../../etc/x").
bool IsTimeZoneName(std::string_view name);

// When the run of `day_offset` days from today (local time) is due, in Unix ms. Refuses a
// zone that is not IsTimeZoneName or not installed.
absl::StatusOr<int64_t> ScheduledAt(const ScheduleOptions& options, int64_t now_ms, int day_offset);

// Per peer, the newest stored reconciliation report and when the newest successful one
// (no error, nothing unrepairable) ended; for status and metrics.
struct ReconcileSummary {
  v1::ReconcileReport last;
  int64_t last_success_ms = 0;  // 0: none stored
};
std::map<std::string, ReconcileSummary> SummarizeReports(const storage::Store& store);

// The time before which every record state was confirmed on every one of `peers`: the
// earliest, over the peers, start of the newest run that ended with both sides equal.
// 0 when a peer has no such run; with no peers, the largest time (nothing to confirm).
int64_t ConfirmedBefore(const storage::Store& store, const std::vector<std::string>& peers);

// Lifecycle: Start, Stop (or destroy). `store` and `run` must outlive it. Thread safe.
class ReconcileScheduler {
 public:
  using RunFn = std::function<absl::StatusOr<v1::ReconcileReport>(const std::string& peer)>;

  ReconcileScheduler(ScheduleOptions options, std::vector<std::string> peers,
                     const storage::Store& store, RunFn run);
  ~ReconcileScheduler();

  absl::Status Start();
  void Stop();

  // Unix ms of the last successful run with `peer`, from the stored reports; 0 for none.
  int64_t LastSuccess(const std::string& peer) const;

 private:
  void Loop();
  void RunAll();
  void CheckAlerts(int64_t now_ms) const;

  const ScheduleOptions options_;
  const std::vector<std::string> peers_;
  const storage::Store& store_;
  RunFn run_;

  int64_t started_ms_ = 0;  // set by Start, before the thread runs
  std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;  // guarded by mu_
  std::thread thread_;
};

}  // namespace wlsync::daemon
