// `wlsync emergency ...` (admin): freeze and unfreeze a peer link, lockdown and lift, the
// current state, and the leak report from the audit trail.
#include <cstdio>

#include "base/strings.h"
#include "cli/client.h"
#include "cli/commands.h"
#include "cli/output.h"
#include "wlsync/v1/emergency.grpc.pb.h"

namespace wlsync::cli {
namespace {

std::string Time(int64_t unix_ms) { return ChinaTime(unix_ms, "%Y-%m-%dT%H:%M:%S%Ez", ""); }

int PrintState(const v1::EmergencyState& s) {
  std::string frozen = "[";
  for (int i = 0; i < s.frozen_size(); ++i) {
    const v1::FrozenPeer& f = s.frozen(i);
    if (i > 0) frozen += ",";
    base::StrAppend(&frozen, "{\"peer\":", JsonString(f.peer()), ",\"since\":",
                    JsonString(Time(f.since_unix_ms())), ",\"reason\":", JsonString(f.reason()),
                    "}");
  }
  frozen += "]";
  std::printf("{\"lockdown\":%s,\"lockdown_since\":%s,\"lockdown_reason\":%s,"
              "\"revoked_tracer_tokens\":%u,\"frozen\":%s}\n",
              s.lockdown() ? "true" : "false", JsonString(Time(s.lockdown_since_unix_ms())).c_str(),
              JsonString(s.lockdown_reason()).c_str(), s.revoked_tracer_tokens(), frozen.c_str());
  return kExitOk;
}

std::string ReportJson(const v1::LeakReport& r) {
  std::string tokens = "[";
  for (int i = 0; i < r.tokens_size(); ++i) {
    const v1::TokenReads& t = r.tokens(i);
    if (i > 0) tokens += ",";
    base::StrAppend(&tokens, "{\"token\":", JsonString(t.token()), ",\"role\":",
                    JsonString(t.role()), ",\"calls\":", t.calls(), ",\"refused\":", t.refused(),
                    ",\"records_read\":", t.records_read(), ",\"people\":", t.people(),
                    ",\"full_exports\":", t.full_exports(), ",\"cases\":", JsonStrings(t.cases()),
                    ",\"methods\":", JsonStrings(t.methods()), ",\"first\":",
                    JsonString(Time(t.first_unix_ms())), ",\"last\":",
                    JsonString(Time(t.last_unix_ms())), "}");
  }
  tokens += "]";
  return base::StrCat("{\"since\":", JsonString(Time(r.since_unix_ms())), ",\"until\":",
                      JsonString(Time(r.until_unix_ms())), ",\"entries\":", r.entries(),
                      ",\"people\":", r.people(), ",\"full_exports\":", r.full_exports(),
                      ",\"head_seq\":", r.head_seq(), ",\"tokens\":", tokens,
                      ",\"pids\":", JsonStrings(r.pids()), "}");
}

void PrintSummary(const v1::LeakReport& r) {
  std::printf("Reads of personal data from %s to %s (audit entries: %llu)\n",
              Time(r.since_unix_ms()).c_str(), Time(r.until_unix_ms()).c_str(),
              static_cast<unsigned long long>(r.entries()));
  std::printf("People shown: %llu%s\n", static_cast<unsigned long long>(r.people()),
              r.full_exports() > 0
                  ? base::StrCat(" (and ", r.full_exports(), " full exports showing everyone)")
                        .c_str()
                  : "");
  for (const v1::TokenReads& t : r.tokens()) {
    std::printf("  %-24s %-8s calls=%llu refused=%llu records=%llu people=%llu exports=%llu "
                "%s .. %s%s\n",
                t.token().c_str(), t.role().c_str(), static_cast<unsigned long long>(t.calls()),
                static_cast<unsigned long long>(t.refused()),
                static_cast<unsigned long long>(t.records_read()),
                static_cast<unsigned long long>(t.people()),
                static_cast<unsigned long long>(t.full_exports()), Time(t.first_unix_ms()).c_str(),
                Time(t.last_unix_ms()).c_str(),
                t.cases_size() > 0 ? base::StrCat(" cases=", t.cases_size()).c_str() : "");
  }
  std::printf("The pids are in the JSON report (--json).\n");
}

}  // namespace

int RunEmergency(const std::string& node, const EmergencyArgs& args) {
  auto stub = v1::Emergency::NewStub(ChannelTo(node));
  grpc::ClientContext context;
  v1::EmergencyState state;
  grpc::Status status;
  std::string what = "emergency " + args.action;
  if (args.action == "freeze" || args.action == "unfreeze") {
    v1::FreezeRequest request;
    request.set_peer(args.peer);
    request.set_reason(args.reason);
    status = args.action == "freeze" ? stub->Freeze(&context, request, &state)
                                     : stub->Unfreeze(&context, request, &state);
  } else if (args.action == "lockdown" || args.action == "lift") {
    v1::LockdownRequest request;
    request.set_reason(args.reason);
    status = args.action == "lockdown" ? stub->Lockdown(&context, request, &state)
                                       : stub->Lift(&context, request, &state);
  } else if (args.action == "state") {
    status = stub->State(&context, v1::EmergencyStateRequest(), &state);
  } else {
    v1::LeakReportRequest request;
    absl::StatusOr<int64_t> since = ParseTime(args.since);
    if (!since.ok()) {
      std::fprintf(stderr, "wlsync: emergency report: --since: %s\n",
                   std::string(since.status().message()).c_str());
      return kExitUsage;
    }
    request.set_since_unix_ms(*since);
    v1::LeakReport report;
    status = stub->Report(&context, request, &report);
    if (!status.ok()) return ReportRpcError(what, status);
    if (args.json) {
      std::printf("%s\n", ReportJson(report).c_str());
    } else {
      PrintSummary(report);
    }
    return kExitOk;
  }
  if (!status.ok()) return ReportRpcError(what, status);
  return PrintState(state);
}

}  // namespace wlsync::cli
