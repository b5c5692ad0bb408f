// Fault suite, bad input and hostile callers at the RPC layer: every method of every
// service gets an empty request, bytes that are not its message, a string that is not
// UTF-8 and an oversized message; a flood of connections and of unauthenticated calls is
// opened. Each gets a clear error (and is counted in the metrics), nothing is stored, and
// the node keeps serving everyone else.
#include <catch2/catch.hpp>

#include <google/protobuf/descriptor.h>
#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <string>
#include <thread>
#include <vector>

#include "net/credentials.h"
#include "tests/faults/fault_support.h"
#include "wlsync/v1/access.pb.h"
#include "wlsync/v1/audit.pb.h"
#include "wlsync/v1/emergency.pb.h"
#include "wlsync/v1/peer.pb.h"
#include "wlsync/v1/query.pb.h"
#include "wlsync/v1/registry.pb.h"

namespace wlsync::testing {
namespace {

// The outcome of one raw call: the status, and how many response messages came back.
struct RawResult {
  grpc::Status status;
  int responses = 0;
};

// Sends `payload` as the one request message of `method` ("/pkg.Service/Method"), half
// closes, reads every response and the status; works for unary and streaming methods alike.
RawResult RawCall(grpc::Channel* channel, const std::string& method, const std::string& payload,
                  const std::string& token) {
  grpc::GenericStub stub(channel->shared_from_this());
  grpc::CompletionQueue cq;
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  if (!token.empty()) context.AddMetadata("authorization", "Bearer " + token);
  auto call = stub.PrepareCall(&context, method, &cq);
  void* tag = nullptr;
  bool ok = false;
  auto step = [&](int id) {
    return cq.Next(&tag, &ok) && tag == reinterpret_cast<void*>(static_cast<intptr_t>(id)) && ok;
  };
  RawResult result;
  call->StartCall(reinterpret_cast<void*>(1));
  if (step(1)) {
    grpc::Slice slice(payload);
    grpc::ByteBuffer request(&slice, 1);
    call->Write(request, reinterpret_cast<void*>(2));
    if (step(2)) {
      call->WritesDone(reinterpret_cast<void*>(3));
      step(3);
    }
    for (;;) {
      grpc::ByteBuffer response;
      call->Read(&response, reinterpret_cast<void*>(4));
      if (!step(4)) break;
      ++result.responses;
    }
  }
  call->Finish(&result.status, reinterpret_cast<void*>(5));
  while (cq.Next(&tag, &ok) && tag != reinterpret_cast<void*>(5)) {
  }
  cq.Shutdown();
  while (cq.Next(&tag, &ok)) {
  }
  return result;
}

// Every method of the wlsync services, as gRPC paths.
std::vector<std::string> AllMethods() {
  // Each service's file, named through one of its messages: that also links its generated
  // descriptors into this binary, which nothing else here might.
  const google::protobuf::FileDescriptor* files[] = {
      v1::StatusRequest::descriptor()->file(),      v1::QueryFilter::descriptor()->file(),
      v1::CreateTokenRequest::descriptor()->file(), v1::AuditEntry::descriptor()->file(),
      v1::FreezeRequest::descriptor()->file(),      v1::Cursor::descriptor()->file()};
  std::vector<std::string> out;
  for (const google::protobuf::FileDescriptor* file : files) {
    for (int s = 0; s < file->service_count(); ++s) {
      const google::protobuf::ServiceDescriptor* service = file->service(s);
      for (int i = 0; i < service->method_count(); ++i) {
        out.push_back("/" + service->full_name() + "/" + service->method(i)->name());
      }
    }
  }
  return out;
}

std::shared_ptr<grpc::Channel> ChannelTo(const Node& node) {
  grpc::ChannelArguments args;
  args.SetMaxSendMessageSize(64 << 20);
  return grpc::CreateCustomChannel(node.address(),
                                   net::ClientChannelCredentials(ReadFile(node.ca())), args);
}

TEST_CASE("Faults: malformed requests on every RPC get a clear error and change nothing",
          "[faults][e2e]") {
  TempDir root("hostile-rpc");
  auto nodes = StartMesh(root.path(), {"waihai"});
  REQUIRE(nodes.size() == 1);
  Node& node = *nodes[0];
  auto channel = ChannelTo(node);
  std::string token = TokenOf(node, "operator");
  std::vector<std::string> methods = AllMethods();
  REQUIRE(methods.size() > 20);  // the descriptor pool knows the services

  // Field 1 with wire type 2 and bytes that are not UTF-8: a string field in every request
  // that has one at 1, a nested message elsewhere (then it does not parse either).
  const std::string bad_utf8("\x0a\x03\xc0\xaf\xff", 5);
  const std::string not_a_message("\xff\xff\xff\xff\x0f\x01", 6);
  const std::string oversized(5 << 20, 'x');  // over the 4 MiB default

  for (const std::string& method : methods) {
    INFO(method);
    RawResult empty = RawCall(channel.get(), method, "", token);
    // An empty request is a valid message: answered or refused by the service, never a
    // failure of the node.
    CHECK(empty.status.error_code() != grpc::StatusCode::UNKNOWN);
    CHECK(empty.status.error_code() != grpc::StatusCode::UNAVAILABLE);
    if (!empty.status.ok()) CHECK_FALSE(empty.status.error_message().empty());

    // Bytes that are not the request: INVALID_ARGUMENT naming the method. Import's request
    // stream just ends there (LIMITATION in daemon/rpc_metrics.cc): an empty summary.
    RawResult garbage = RawCall(channel.get(), method, not_a_message, token);
    if (method == "/wlsync.v1.Registry/Import") {
      CHECK(garbage.responses == 1);
    } else {
      CHECK(garbage.status.error_code() == grpc::StatusCode::INVALID_ARGUMENT);
      CHECK(garbage.status.error_message().rfind("request: a message does not parse as the "
                                                 "request of " + method.substr(1), 0) == 0);
      CHECK(garbage.responses == 0);
    }

    RawResult utf8 = RawCall(channel.get(), method, bad_utf8, token);
    CHECK(utf8.status.error_code() != grpc::StatusCode::UNKNOWN);
    CHECK(utf8.status.error_code() != grpc::StatusCode::UNAVAILABLE);

    RawResult big = RawCall(channel.get(), method, oversized, token);
    CHECK(big.status.error_code() == grpc::StatusCode::RESOURCE_EXHAUSTED);
  }

  // Nothing was stored, and the node serves a well-formed call.
  std::optional<v1::StatusResponse> status = Status(node);
  REQUIRE(status);
  CHECK(status->counts().records() == 0);
  CHECK(status->own_seq() == 0);
  CHECK(node.log().find("critical") == std::string::npos);

  // Each refusal was counted by method and code.
  std::string m = node.Metrics();
  INFO(m);
  CHECK(MetricValue(m, R"(wlsync_rpc_duration_seconds_count{method="wlsync.v1.Registry/Register",code="INVALID_ARGUMENT"})") >= 1);
  // (Messages over the size limit are refused by gRPC's transport before any interceptor
  // runs: not counted, see docs/limitations.md.)

  SECTION("a request with too many rows is refused by name") {
    v1::ImportRequest request;
    for (int i = 0; i < 10001; ++i) request.add_rows()->set_line(i + 2);
    RawResult r = RawCall(channel.get(), "/wlsync.v1.Registry/Import",
                          request.SerializeAsString(), token);
    CHECK(r.status.error_code() == grpc::StatusCode::INVALID_ARGUMENT);
    CHECK(r.status.error_message() == "rows: at most 10000 rows per ImportRequest");
  }
}

TEST_CASE("Faults: floods of connections and of unauthenticated calls leave the node "
          "serving others",
          "[faults][e2e]") {
  TempDir root("hostile-flood");
  auto nodes = StartMesh(root.path(), {"waihai", "guzhen"});
  REQUIRE(nodes.size() == 2);
  Node& node = *nodes[0];

  // 400 idle TCP connections that never say anything (bounded; closed at the end).
  std::vector<int> fds;
  for (int i = 0; i < 400; ++i) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = htons(static_cast<uint16_t>(node.port()));
    if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0) {
      fds.push_back(fd);
    } else {
      close(fd);
    }
  }
  CHECK(fds.size() == 400);

  // 300 calls with a token the node never issued, from 4 threads.
  double audit_before = MetricValue(node.Metrics(), "wlsync_audit_entries_total");
  auto channel = ChannelTo(node);
  std::atomic<int> unauthenticated{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 75; ++i) {
        RawResult r = RawCall(channel.get(), "/wlsync.v1.Registry/Status", "",
                              "wlt_aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa");
        if (r.status.error_code() == grpc::StatusCode::UNAUTHENTICATED) ++unauthenticated;
      }
    });
  }
  // Meanwhile the operator and the peer are served.
  auto started = std::chrono::steady_clock::now();
  CommandResult imported = node.Cli({"import", SampleRows(root.path(), 50)});
  auto took = std::chrono::steady_clock::now() - started;
  for (auto& t : threads) t.join();
  INFO(imported.err);
  REQUIRE(imported.exit_code == 0);
  CHECK(took < std::chrono::seconds(10));
  CHECK(unauthenticated == 300);
  REQUIRE(WaitFor([&] { return nodes[1]->Records() == 50; }, std::chrono::seconds(20)));

  std::string m = node.Metrics();
  CHECK(MetricValue(m, R"(wlsync_rpc_duration_seconds_count{method="wlsync.v1.Registry/Status",code="UNAUTHENTICATED"})") == 300);
  // The trail grew by the per-address limit (20 a minute), not by one synced entry per
  // call; the rest are counted and wait for their summary entry.
  double audited = MetricValue(m, "wlsync_audit_entries_total") - audit_before;
  CHECK(audited >= 20);
  CHECK(audited <= 22);
  CHECK(MetricValue(m, R"(wlsync_refusals_total{reason="unauthenticated",audit="entry"})") == 20);
  CHECK(MetricValue(m, R"(wlsync_refusals_total{reason="unauthenticated",audit="summary"})") ==
        280);
  for (int fd : fds) close(fd);
  CHECK(node.Cli({"health"}).out == "SERVING\n");

  // Nothing is dropped: a stop writes the summary of what was held back.
  REQUIRE(node.Stop() == 0);
  REQUIRE(node.Start());
  REQUIRE(node.MakeToken("auditor-1", "auditor", node.token_file("auditor")));
  std::string trail = node.Cli({"--token-file", node.token_file("auditor"), "audit", "export"}).out;
  CHECK(trail.find("\"method\":\"Gate.Refusals\"") != std::string::npos);
  CHECK(trail.find("UNAUTHENTICATED: 280 more refusals from 127.0.0.1 between") !=
        std::string::npos);
}

}  // namespace
}  // namespace wlsync::testing
