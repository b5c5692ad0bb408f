#include "daemon/scheduler.h"

#include <limits>
#include <random>

#include "absl/time/civil_time.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "base/logging.h"
#include "base/strings.h"
#include "model/hlc.h"

namespace wlsync::daemon {
namespace {

constexpr int64_t kHourMs = 3'600'000;
constexpr int64_t kDayMs = 24 * kHourMs;

int64_t NowMs() { return model::SystemWallClock().NowMs(); }

bool Succeeded(const v1::ReconcileReport& r) {
  return r.error().empty() && r.unrepairable_size() == 0;
}

}  // namespace

absl::Status ParseAt(std::string_view at, ScheduleOptions* options) {
  auto digit = [](char c) { return c >= '0' && c <= '9'; };
  if (at.size() != 5 || at[2] != ':' || !digit(at[0]) || !digit(at[1]) || !digit(at[3]) ||
      !digit(at[4])) {
    return absl::InvalidArgumentError("reconcile.at: must be \"HH:MM\" (24-hour local time)");
  }
  int hour = (at[0] - '0') * 10 + (at[1] - '0');
  int minute = (at[3] - '0') * 10 + (at[4] - '0');
  if (hour > 23 || minute > 59) {
    return absl::InvalidArgumentError("reconcile.at: hour 00-23 and minute 00-59");
  }
  options->hour = hour;
  options->minute = minute;
  return absl::OkStatus();
}

bool IsTimeZoneName(std::string_view name) {
  constexpr size_t kMaxLength = 128;
  if (name.empty() || name.size() > kMaxLength) return false;
  bool component_start = true;
  for (char c : name) {
    if (c == '/') {
      if (component_start) return false;  // a leading '/' or an empty component
      component_start = true;
      continue;
    }
    bool allowed = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                   c == '.' || c == '_' || c == '+' || c == '-';
    if (!allowed || (component_start && c == '.')) return false;
    component_start = false;
  }
  return !component_start;
}

absl::StatusOr<int64_t> ScheduledAt(const ScheduleOptions& options, int64_t now_ms,
                                    int day_offset) {
  absl::TimeZone tz;
  if (!IsTimeZoneName(options.time_zone) || !absl::LoadTimeZone(options.time_zone, &tz)) {
    return absl::InvalidArgumentError(
        base::StrCat("reconcile.time_zone: unknown time zone ", options.time_zone));
  }
  absl::CivilDay today = absl::ToCivilDay(absl::FromUnixMillis(now_ms), tz);
  absl::CivilDay day = today + day_offset;
  absl::CivilMinute at(day.year(), day.month(), day.day(), options.hour, options.minute);
  return absl::ToUnixMillis(absl::FromCivil(at, tz));
}

ReconcileScheduler::ReconcileScheduler(ScheduleOptions options, std::vector<std::string> peers,
                                       const storage::Store& store, RunFn run)
    : options_(std::move(options)), peers_(std::move(peers)), store_(store), run_(std::move(run)) {}

ReconcileScheduler::~ReconcileScheduler() { Stop(); }

absl::Status ReconcileScheduler::Start() {
  if (absl::StatusOr<int64_t> check = ScheduledAt(options_, NowMs(), 0); !check.ok()) {
    return check.status();
  }
  started_ms_ = NowMs();
  thread_ = std::thread([this] { Loop(); });
  return absl::OkStatus();
}

void ReconcileScheduler::Stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

std::map<std::string, ReconcileSummary> SummarizeReports(const storage::Store& store) {
  std::map<std::string, ReconcileSummary> out;
  absl::StatusOr<std::vector<std::string>> reports = store.ListReports(1000);  // newest first
  if (!reports.ok()) return out;
  for (const std::string& bytes : *reports) {
    v1::ReconcileReport r;
    if (!r.ParseFromString(bytes)) continue;
    auto [it, first] = out.try_emplace(r.peer());
    if (first) it->second.last = r;
    if (it->second.last_success_ms == 0 && Succeeded(r)) {
      it->second.last_success_ms = r.end_unix_ms();
    }
  }
  return out;
}

int64_t ConfirmedBefore(const storage::Store& store, const std::vector<std::string>& peers) {
  if (peers.empty()) return std::numeric_limits<int64_t>::max();
  std::map<std::string, int64_t> equal_since;
  absl::StatusOr<std::vector<std::string>> reports = store.ListReports(1000);  // newest first
  if (!reports.ok()) return 0;
  for (const std::string& bytes : *reports) {
    v1::ReconcileReport r;
    if (r.ParseFromString(bytes) && r.equal() && r.error().empty()) {
      equal_since.try_emplace(r.peer(), r.start_unix_ms());
    }
  }
  int64_t before = std::numeric_limits<int64_t>::max();
  for (const std::string& peer : peers) {
    auto it = equal_since.find(peer);
    if (it == equal_since.end()) return 0;
    before = std::min(before, it->second);
  }
  return before;
}

int64_t ReconcileScheduler::LastSuccess(const std::string& peer) const {
  std::map<std::string, ReconcileSummary> summary = SummarizeReports(store_);
  auto it = summary.find(peer);
  return it == summary.end() ? 0 : it->second.last_success_ms;
}

void ReconcileScheduler::RunAll() {
  for (const std::string& peer : peers_) {
    absl::StatusOr<v1::ReconcileReport> r = run_(peer);
    if (!r.ok()) {
      base::Logger("reconcile")->error("peer={} scheduled run failed: {}", peer, r.status().message());
    }
  }
}

void ReconcileScheduler::CheckAlerts(int64_t now_ms) const {
  for (const std::string& peer : peers_) {
    int64_t last = LastSuccess(peer);
    // A node that never reconciled counts from its start, not from 1970.
    if (now_ms - std::max(last, started_ms_) > options_.alert_after_h * kHourMs) {
      base::Logger("reconcile")->error(
          "peer={} alert: no successful reconciliation for more than {} hours (last={})", peer,
          options_.alert_after_h, last == 0 ? std::string("never") : std::to_string(last));
    }
  }
}

void ReconcileScheduler::Loop() {
  std::mt19937_64 rng(std::random_device{}());
  auto log = base::Logger("reconcile");

  // A run missed while the node was down: the last scheduled time passed without one.
  int64_t now = NowMs();
  absl::StatusOr<int64_t> today = ScheduledAt(options_, now, 0);
  int64_t last_due = today.ok() && *today <= now ? *today : *today - kDayMs;
  int64_t next = 0;
  for (const std::string& peer : peers_) {
    if (LastSuccess(peer) < last_due) next = now + options_.startup_delay_s * 1000;
  }
  if (next != 0) log->info("a scheduled reconciliation was missed; running in {} s", options_.startup_delay_s);

  for (;;) {
    now = NowMs();
    if (next == 0) {
      absl::StatusOr<int64_t> at = ScheduledAt(options_, now, 0);
      if (at.ok() && *at <= now) at = ScheduledAt(options_, now, 1);
      int64_t jitter = options_.jitter_s > 0
                           ? static_cast<int64_t>(rng() % static_cast<uint64_t>(options_.jitter_s * 1000))
                           : 0;
      next = (at.ok() ? *at : now + kDayMs) + jitter;
      log->info("next reconciliation at unix_ms={}", next);
    }
    // Wake at least hourly for the alert check.
    int64_t wait = std::min(next - now, kHourMs);
    {
      std::unique_lock<std::mutex> lock(mu_);
      if (cv_.wait_for(lock, std::chrono::milliseconds(std::max<int64_t>(wait, 0)),
                       [&] { return stopping_; })) {
        return;
      }
    }
    now = NowMs();
    if (now >= next) {
      RunAll();
      next = 0;
    }
    CheckAlerts(NowMs());
  }
}

}  // namespace wlsync::daemon
