// wlsyncd: the jurisdiction node daemon. `wlsyncd --config FILE.toml`. Under systemd
// (Type=notify) it reports readiness, status and stopping with sd_notify, and feeds the
// watchdog while the node's monitor thread runs; elsewhere those calls do nothing. SIGHUP
// reads the peers' pin files again (`systemctl reload wlsyncd`).
#include <malloc.h>
#include <signal.h>
#include <systemd/sd-daemon.h>

#include <cstdlib>
#include <ctime>
#include <string>

#include "CLI/CLI.hpp"
#include "absl/synchronization/mutex.h"
#include "base/logging.h"
#include "daemon/config.h"
#include "daemon/node.h"

namespace {

// glibc's allocator, tuned for a daemon with bursts of large buffers (an import's 1 MiB
// deltas and gRPC messages): allocations of 256 KiB and more are mapped and returned to the
// system when freed, instead of kept in a heap that only grows. Measured on a 1M-row import
// (docs/benchmarks.md, "Causal send order, SHA-256 through libcrypto, glibc's arenas"):
// peak RSS 345-350 MB -> 293-295 MB. Two arenas
// instead of glibc's eight per core saved a few MB more but cost 6-10% of the import's rate
// in lock waits, so glibc keeps its arena count. An operator's own MALLOC_MMAP_THRESHOLD_,
// or WLSYNC_MALLOC_DEFAULTS=1, keeps glibc's threshold; MALLOC_ARENA_MAX works as usual.
void TuneAllocator() {
  if (std::getenv("WLSYNC_MALLOC_DEFAULTS") != nullptr) return;
  if (std::getenv("MALLOC_MMAP_THRESHOLD_") == nullptr) mallopt(M_MMAP_THRESHOLD, 256 << 10);
}

// Debian builds Abseil without NDEBUG, so absl::Mutex, which gRPC locks on every call,
// runs its deadlock detector: each lock and unlock updates a lock graph under one global
// spin lock, shared by every thread. It is a debugging aid; a profile of phone Searches
// showed it among the top user-space symbols. WLSYNC_MUTEX_DEADLOCK_CHECK=1 keeps it on.
void TuneMutexes() {
  if (std::getenv("WLSYNC_MUTEX_DEADLOCK_CHECK") != nullptr) return;
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
}

sigset_t HandledSignals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGHUP);
  return set;
}

// SIGHUP re-reads the peers' pin files (like `wlsync cert reload`) and the wait goes on.
// Returns true for it.
bool Reloaded(int sig, wlsync::daemon::Node& node) {
  if (sig != SIGHUP) return false;
  wlsync::base::Logger("node")->info("signal=SIGHUP received: reloading the peers' pin files");
  sd_notify(0, "RELOADING=1");
  node.ReloadPeerCerts();
  sd_notify(0, "READY=1");
  return true;
}

// Blocks SIGINT, SIGTERM and SIGHUP in every thread and waits for them in the main thread, so
// that shutdown and reloads run in ordinary code rather than in a signal handler. Returns
// SIGINT or SIGTERM. With a systemd watchdog, wakes every half period to feed it, but only
// while the node's monitor thread keeps running: a wedged node is then restarted by systemd.
int WaitForSignal(wlsync::daemon::Node& node) {
  sigset_t set = HandledSignals();
  uint64_t watchdog_us = 0;
  if (sd_watchdog_enabled(/*unset_environment=*/0, &watchdog_us) <= 0) watchdog_us = 0;
  if (watchdog_us == 0) {
    int sig = 0;
    while (sigwait(&set, &sig) == 0 && Reloaded(sig, node)) {
    }
    return sig;
  }
  uint64_t half_us = watchdog_us / 2;
  timespec every{static_cast<time_t>(half_us / 1000000), static_cast<long>(half_us % 1000000) * 1000};
  auto log = wlsync::base::Logger("node");
  for (;;) {
    int sig = sigtimedwait(&set, nullptr, &every);
    if (sig > 0 && Reloaded(sig, node)) continue;
    if (sig > 0) return sig;
    if (node.Responsive(static_cast<int64_t>(watchdog_us / 1000))) {
      sd_notify(0, "WATCHDOG=1");
    } else {
      log->error("watchdog: the node's monitor thread has not run for {} ms; not feeding the "
                 "systemd watchdog",
                 watchdog_us / 1000);
    }
  }
}

void BlockSignals() {
  sigset_t set = HandledSignals();
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
}

// Logs why the node cannot start (one line in the configured format, JSON included) and
// tells systemd.
int CannotStart(const absl::Status& status) {
  std::string message(status.message());
  wlsync::base::Logger("node")->critical("cannot start: {}", message);
  sd_notifyf(0, "STATUS=cannot start: %s", message.c_str());
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"wlsyncd: keeps the shared commuter registry in step with peer jurisdictions"};
  std::string config_path;
  std::string log_format;
  app.add_option("--config", config_path, "node configuration (TOML)")->required();
  app.add_option("--log-format", log_format, "text or json (overrides log.format)")
      ->check(CLI::IsMember({"text", "json"}));
  CLI11_PARSE(app, argc, argv);

  TuneAllocator();  // before any thread starts, while one arena exists
  TuneMutexes();    // before any lock is taken
  BlockSignals();  // before any thread starts, so that every thread inherits the mask
  // Until the config is read, the format of --log-format (a refused config is then logged
  // as JSON too when asked).
  wlsync::base::ConfigureLogging(
      log_format == "json" ? wlsync::base::LogFormat::kJson : wlsync::base::LogFormat::kText,
      "info");
  absl::StatusOr<wlsync::daemon::Config> config = wlsync::daemon::LoadConfig(config_path);
  if (!config.ok()) return CannotStart(config.status());
  if (!log_format.empty()) config->log_format = log_format;
  wlsync::base::ConfigureLogging(config->log_format == "json" ? wlsync::base::LogFormat::kJson
                                                             : wlsync::base::LogFormat::kText,
                                 config->log_level);
  auto log = wlsync::base::Logger("node");

  absl::StatusOr<std::unique_ptr<wlsync::daemon::Node>> node =
      wlsync::daemon::Node::Open(*std::move(config));
  if (!node.ok()) return CannotStart(node.status());
  if (absl::Status s = (*node)->Start(); !s.ok()) return CannotStart(s);
  if ((*node)->metrics_port() > 0) {
    sd_notifyf(0, "READY=1\nSTATUS=serving on port %d, metrics on port %d", (*node)->port(),
               (*node)->metrics_port());
  } else {
    sd_notifyf(0, "READY=1\nSTATUS=serving on port %d, metrics off", (*node)->port());
  }

  int sig = WaitForSignal(**node);
  log->info("signal={} received", sig);
  sd_notify(0, "STOPPING=1\nSTATUS=stopping: finishing queued writes");
  (*node)->Shutdown();
  return 0;
}
