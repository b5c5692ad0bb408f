// wlsyncd: the jurisdiction node daemon. `wlsyncd --config FILE.toml`.
#include <signal.h>

#include <cstdio>

#include "CLI/CLI.hpp"
#include "base/logging.h"
#include "daemon/config.h"
#include "daemon/node.h"

namespace {

// Blocks SIGINT and SIGTERM in every thread and waits for one in the main thread, so that
// shutdown runs in ordinary code rather than in a signal handler.
int WaitForSignal() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  int sig = 0;
  sigwait(&set, &sig);
  return sig;
}

void BlockSignals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
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

  BlockSignals();  // before any thread starts, so that every thread inherits the mask
  absl::StatusOr<wlsync::daemon::Config> config = wlsync::daemon::LoadConfig(config_path);
  if (!config.ok()) {
    std::fprintf(stderr, "wlsyncd: %s\n", std::string(config.status().message()).c_str());
    return 1;
  }
  if (!log_format.empty()) config->log_format = log_format;
  wlsync::base::ConfigureLogging(config->log_format == "json" ? wlsync::base::LogFormat::kJson
                                                             : wlsync::base::LogFormat::kText,
                                 config->log_level);
  auto log = wlsync::base::Logger("node");

  absl::StatusOr<std::unique_ptr<wlsync::daemon::Node>> node =
      wlsync::daemon::Node::Open(*std::move(config));
  if (!node.ok()) {
    log->critical("cannot start: {}", node.status().message());
    std::fprintf(stderr, "wlsyncd: %s\n", std::string(node.status().message()).c_str());
    return 1;
  }
  if (absl::Status s = (*node)->Start(); !s.ok()) {
    log->critical("cannot start: {}", s.message());
    std::fprintf(stderr, "wlsyncd: %s\n", std::string(s.message()).c_str());
    return 1;
  }

  int sig = WaitForSignal();
  log->info("signal={} received", sig);
  (*node)->Shutdown();
  return 0;
}
