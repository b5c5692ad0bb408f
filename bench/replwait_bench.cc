// wlsync-bench-replwait: times replication for bench/replication_bench.sh. Polls the
// Status of the target node until it holds `--records` records and its cursor on the
// source node's own stream has reached the source's own_seq, then prints how long that
// took. Polling an RPC every few milliseconds from one process costs far less CPU than
// starting `wlsync status` in a loop, which matters on a 2-core machine.
//
//   wlsync-bench-replwait --source HOST:PORT --target HOST:PORT --records N [--timeout 280]
//                         --source-token-file F --target-token-file F
//
// Status needs a token of any role; each node has its own tokens.
//
// Times are measured from this program's start; start it when the clock should start.
#include <grpcpp/grpcpp.h>

#include <chrono>
#include <cstdio>
#include <string>
#include <thread>

#include "CLI/CLI.hpp"
#include "bench/transport.h"
#include "bench/bench_token.h"
#include "wlsync/v1/registry.grpc.pb.h"

namespace wlsync::bench {
namespace {

using Clock = std::chrono::steady_clock;

struct Args {
  std::string source;
  std::string target;
  std::string source_token_file;
  std::string target_token_file;
  uint64_t records = 0;
  double timeout_s = 280;
  int poll_ms = 10;
};

bool GetStatus(v1::Registry::Stub& stub, const std::string& token, v1::StatusResponse* out) {
  grpc::ClientContext context;
  Authorize(&context, token);
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(2));
  return stub.Status(&context, v1::StatusRequest(), out).ok();
}

// The target's cursor on the source's own stream, 0 when it holds none.
uint64_t CursorOn(const v1::StatusResponse& target, const v1::StatusResponse& source) {
  for (const v1::StreamCursor& c : target.streams()) {
    if (c.origin() == source.node() && c.epoch() == source.epoch()) return c.seq();
  }
  return 0;
}

std::shared_ptr<grpc::ChannelCredentials> credentials;  // set by main before Run

std::unique_ptr<v1::Registry::Stub> Connect(const std::string& address) {
  return v1::Registry::NewStub(grpc::CreateChannel(address, credentials));
}

int Run(const Args& args) {
  Clock::time_point start = Clock::now();
  absl::StatusOr<std::string> source_token = ReadTokenFile(args.source_token_file);
  absl::StatusOr<std::string> target_token = ReadTokenFile(args.target_token_file);
  for (const auto* t : {&source_token, &target_token}) {
    if (!t->ok()) {
      std::fprintf(stderr, "wlsync-bench-replwait: %s\n",
                   std::string(t->status().message()).c_str());
      return 1;
    }
  }
  auto source = Connect(args.source);
  auto target = Connect(args.target);
  double first_answer = -1;
  double last_report = 0;
  for (;;) {
    double now = std::chrono::duration<double>(Clock::now() - start).count();
    if (now > args.timeout_s) {
      std::fprintf(stderr, "wlsync-bench-replwait: timed out after %.0f s\n", now);
      return 1;
    }
    v1::StatusResponse t;
    if (!GetStatus(*target, *target_token, &t)) {
      // The target may still be starting. A refused connection puts a channel into gRPC's
      // reconnect backoff (seconds), which would be counted as replication time: until the
      // first answer, every attempt gets a fresh channel.
      if (first_answer < 0) target = Connect(args.target);
      std::this_thread::sleep_for(std::chrono::milliseconds(args.poll_ms));
      continue;
    }
    if (first_answer < 0) first_answer = now;
    v1::StatusResponse s;
    bool source_ok = GetStatus(*source, *source_token, &s);
    uint64_t cursor = source_ok ? CursorOn(t, s) : 0;
    if (now - last_report >= 5) {
      std::fprintf(stderr, "t=%.1fs target_records=%llu cursor=%llu source_seq=%llu\n", now,
                   static_cast<unsigned long long>(t.counts().records()),
                   static_cast<unsigned long long>(cursor),
                   static_cast<unsigned long long>(s.own_seq()));
      last_report = now;
    }
    if (source_ok && t.counts().records() >= args.records && s.own_seq() > 0 &&
        cursor >= s.own_seq()) {
      std::printf("seconds=%.3f seconds_from_first_answer=%.3f records=%llu deltas=%llu\n", now,
                  now - first_answer, static_cast<unsigned long long>(t.counts().records()),
                  static_cast<unsigned long long>(cursor));
      return 0;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(args.poll_ms));
  }
}

}  // namespace
}  // namespace wlsync::bench

int main(int argc, char** argv) {
  wlsync::bench::Args args;
  CLI::App app{"Waits until a node has replicated another node's own stream"};
  app.add_option("--source", args.source, "address of the node written to")->required();
  app.add_option("--target", args.target, "address of the replicating node")->required();
  app.add_option("--records", args.records, "records the target must hold")->required();
  app.add_option("--source-token-file", args.source_token_file, "a token of the source node")
      ->required();
  app.add_option("--target-token-file", args.target_token_file, "a token of the target node")
      ->required();
  app.add_option("--timeout", args.timeout_s, "give up after this many seconds");
  app.add_option("--poll-ms", args.poll_ms, "status poll interval");
  wlsync::bench::Transport transport;
  wlsync::bench::AddTransportOptions(app, &transport);
  CLI11_PARSE(app, argc, argv);
  std::string error;
  wlsync::bench::credentials = wlsync::bench::Credentials(transport, &error);
  if (wlsync::bench::credentials == nullptr) {
    std::fprintf(stderr, "%s: %s\n", "wlsync-bench-replwait", error.c_str());
    return 2;
  }
  return wlsync::bench::Run(args);
}
