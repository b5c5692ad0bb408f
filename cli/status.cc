// `wlsync status`: the whole picture of a node on one screen (or JSON with --json): the
// node, its health and records, each peer link with lag, last error and last
// reconciliation, the streams it holds, the quarantine.
#include <cstdio>
#include <string>

#include "absl/time/time.h"
#include "cli/client.h"
#include "cli/commands.h"
#include "cli/output.h"
#include "cli/progress.h"
#include "fmt/format.h"
#include "model/pid.h"

namespace wlsync::cli {
namespace {

std::string Count(uint64_t n) { return GroupDigits(n); }

std::string Bytes(uint64_t n) {
  if (n < 1024) return fmt::format("{} B", n);
  if (n < (1u << 20)) return fmt::format("{:.1f} KiB", n / 1024.0);
  if (n < (1u << 30)) return fmt::format("{:.1f} MiB", n / 1048576.0);
  return fmt::format("{:.2f} GiB", n / 1073741824.0);
}

// The CLI shows times in UTC+8, the zone of both jurisdictions.
std::string Time(int64_t unix_ms) { return ChinaTime(unix_ms, "%Y-%m-%d %H:%M:%S", "never"); }

std::string Ago(int64_t unix_ms, int64_t now_ms) {
  if (unix_ms == 0) return "never";
  int64_t s = std::max<int64_t>(0, (now_ms - unix_ms) / 1000);
  if (s < 120) return fmt::format("{} s ago", s);
  if (s < 7200) return fmt::format("{} min ago", s / 60);
  if (s < 172800) return fmt::format("{} h ago", s / 3600);
  return fmt::format("{} days ago", s / 86400);
}

std::string Uptime(int64_t started_ms, int64_t now_ms) {
  if (started_ms == 0) return "?";
  int64_t s = std::max<int64_t>(0, (now_ms - started_ms) / 1000);
  if (s < 3600) return fmt::format("{}m {}s", s / 60, s % 60);
  if (s < 86400) return fmt::format("{}h {}m", s / 3600, (s % 3600) / 60);
  return fmt::format("{}d {}h", s / 86400, (s % 86400) / 3600);
}

std::string Reconciliation(const v1::PeerStatus& p, int64_t now_ms) {
  if (p.last_reconcile_unix_ms() == 0) return "never";
  std::string what;
  if (!p.last_reconcile_error().empty()) {
    what = "FAILED";
  } else if (p.last_reconcile_unrepairable() > 0) {
    what = fmt::format("{} UNREPAIRABLE", Count(p.last_reconcile_unrepairable()));
  } else if (p.last_reconcile_equal()) {
    what = "equal";
  } else {
    what = fmt::format("{} differing", Count(p.last_reconcile_differing()));
  }
  std::string out = fmt::format("{} ({})", what, Ago(p.last_reconcile_unix_ms(), now_ms));
  if (p.last_reconcile_success_unix_ms() != p.last_reconcile_unix_ms()) {
    out += fmt::format("; last success {}", Ago(p.last_reconcile_success_unix_ms(), now_ms));
  }
  return out;
}

// Prints "  LABEL: TEXT" wrapped at word boundaries to kWidth columns, later lines indented.
void PrintWrapped(const std::string& label, const std::string& text) {
  constexpr size_t kWidth = 100;
  std::string line = "  " + label + ": ";
  const std::string indent(4, ' ');
  size_t at = 0;
  while (at < text.size()) {
    size_t space = text.find(' ', at);
    std::string word = text.substr(at, space == std::string::npos ? std::string::npos : space - at);
    bool fresh = line.size() <= indent.size() || line.back() == ' ';
    if (line.size() + word.size() + (fresh ? 0 : 1) > kWidth && line.size() > indent.size()) {
      std::printf("%s\n", line.c_str());
      line = indent;
      fresh = true;
    }
    if (!fresh) line += ' ';
    line += word;
    if (space == std::string::npos) break;
    at = space + 1;
  }
  std::printf("%s\n", line.c_str());
}

void PrintPeers(const v1::StatusResponse& r, int64_t now_ms) {
  if (r.peers().empty()) {
    std::printf("\npeers       none configured\n");
    return;
  }
  std::printf("\n%-12s %-12s %-22s %-14s %s\n", "PEER", "LINK", "LAG", "LAST CONTACT",
              "LAST RECONCILIATION");
  for (const v1::PeerStatus& p : r.peers()) {
    std::string link = !p.frozen_reason().empty() ? "FROZEN"
                       : p.connected()            ? "connected"
                                                  : "DOWN";
    std::string lag = p.lag_known()
                          ? fmt::format("{} events, {:.1f} s", Count(p.lag_events()), p.lag_seconds())
                          : std::string("unknown");
    std::printf("%-12s %-12s %-22s %-14s %s\n", p.name().c_str(), link.c_str(), lag.c_str(),
                Ago(p.last_contact_unix_ms(), now_ms).c_str(), Reconciliation(p, now_ms).c_str());
    if (!p.frozen_reason().empty()) PrintWrapped("frozen", p.frozen_reason());
    if (!p.last_error().empty()) PrintWrapped("last error", p.last_error());
    if (!p.last_reconcile_error().empty()) {
      PrintWrapped("reconciliation error", p.last_reconcile_error());
    }
    for (const std::string& o : p.held_back_origins()) {
      std::printf("  held back by the clock guard: origin %s\n", o.c_str());
    }
    for (const std::string& f : p.forked_origins()) {
      std::printf("  FORKED stream refused: %s\n", f.c_str());
    }
    for (const std::string& fp : p.revoked_certs()) {
      std::printf("  REVOKED certificate sha256=%s.. refused (`wlsync cert list`)\n",
                  fp.substr(0, 16).c_str());
    }
  }
}

void PrintScreen(const v1::StatusResponse& r) {
  int64_t now_ms = absl::ToUnixMillis(absl::Now());
  const v1::Counts& c = r.counts();
  std::printf("node        %s   epoch %s   up %s (since %s UTC+8)\n", r.node().c_str(),
              r.epoch().substr(0, 8).c_str(), Uptime(r.started_unix_ms(), now_ms).c_str(),
              Time(r.started_unix_ms()).c_str());
  std::printf("health      %s\n", r.health().empty() ? "?" : r.health().c_str());
  std::printf("records     %s held: %s registered (white %s, grey %s), %s deregistered\n",
              Count(c.records()).c_str(), Count(c.registered_white() + c.registered_grey()).c_str(),
              Count(c.registered_white()).c_str(), Count(c.registered_grey()).c_str(),
              Count(c.deregistered()).c_str());
  std::printf("writes      %s\n",
              r.write_error().empty() ? "accepted" : ("REFUSED: " + r.write_error()).c_str());
  std::printf("own stream  seq %s\n", Count(r.own_seq()).c_str());
  std::printf("quarantine  %s events%s\n", Count(r.quarantined_events()).c_str(),
              r.quarantined_events() > 0 ? " (see `wlsync quarantine`)" : "");
  std::printf("store       %s of SST files\n", Bytes(r.store_bytes()).c_str());
  std::printf("access      audit trail %s entries; lockdown %s\n",
              Count(r.audit_entries()).c_str(), r.lockdown() ? "ACTIVE" : "off");
  if (r.metrics_port() > 0) std::printf("metrics     port %d\n", r.metrics_port());
  for (const std::string& line : r.own_deltas_lost()) PrintWrapped("data dir", line);
  PrintPeers(r, now_ms);
  std::printf("\n%-12s %-10s %14s %14s\n", "STREAM", "EPOCH", "SEQ", "EVENTS");
  for (const v1::StreamCursor& s : r.streams()) {
    std::printf("%-12s %-10s %14s %14s\n", s.origin().c_str(), s.epoch().substr(0, 8).c_str(),
                Count(s.seq()).c_str(), Count(s.events()).c_str());
  }
}

}  // namespace

int RunStatus(const std::string& node, bool json) {
  v1::StatusResponse response;
  grpc::ClientContext context;
  grpc::Status status = Connect(node)->Status(&context, v1::StatusRequest(), &response);
  if (!status.ok()) return ReportRpcError("status", status);
  if (!json) {
    PrintScreen(response);
    return std::fflush(stdout) == 0 ? kExitOk : kExitFailure;
  }
  return PrintMessageJson(response, "status");
}

}  // namespace wlsync::cli
