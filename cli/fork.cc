// `wlsync fork ...` (admin): the streams this node refuses after a fork, and clearing one
// once the admin has found which copy is right (docs/operations.md, "Forks").
#include <cstdio>

#include "cli/client.h"
#include "cli/commands.h"
#include "cli/output.h"
#include "wlsync/v1/emergency.grpc.pb.h"

namespace wlsync::cli {
namespace {

void PrintFork(const v1::ForkInfo& f) {
  std::printf("%s  seq %llu  since %s UTC+8  (refused delta: seq %llu)\n", f.stream().c_str(),
              static_cast<unsigned long long>(f.seq()),
              ChinaTime(f.since_unix_ms(), "%Y-%m-%d %H:%M:%S", "unknown").c_str(),
              static_cast<unsigned long long>(f.refused_seq()));
  std::printf("  held here  sha256=%s\n", f.held_sha256().c_str());
  std::printf("  other      sha256=%s\n", f.other_sha256().c_str());
}

}  // namespace

int RunFork(const std::string& node, const ForkArgs& args) {
  auto stub = v1::Emergency::NewStub(ChannelTo(node));
  grpc::ClientContext context;
  v1::ForkState state;
  grpc::Status status;
  std::string what = "fork " + args.action;
  if (args.action == "clear") {
    v1::ClearForkRequest request;
    request.set_stream(args.stream);
    request.set_reason(args.reason);
    status = stub->ClearFork(&context, request, &state);
  } else {
    status = stub->ListForks(&context, v1::ForkStateRequest(), &state);
  }
  if (!status.ok()) return ReportRpcError(what, status);
  if (args.json) return PrintMessageJson(state, what);

  if (state.has_cleared()) {
    std::printf("cleared %s: its deltas are accepted again from the cursor\n",
                state.cleared().stream().c_str());
  }
  if (state.forks().empty()) {
    std::printf("no forked stream\n");
    return kExitOk;
  }
  for (const v1::ForkInfo& f : state.forks()) PrintFork(f);
  return kExitOk;
}

}  // namespace wlsync::cli
