#include "cli/client.h"

#include <cstdio>

#include "cli/commands.h"
#include "model/pid.h"

namespace wlsync::cli {
namespace {

const char* CodeName(grpc::StatusCode code) {
  switch (code) {
    case grpc::StatusCode::INVALID_ARGUMENT: return "INVALID_ARGUMENT";
    case grpc::StatusCode::NOT_FOUND: return "NOT_FOUND";
    case grpc::StatusCode::ALREADY_EXISTS: return "ALREADY_EXISTS";
    case grpc::StatusCode::PERMISSION_DENIED: return "PERMISSION_DENIED";
    case grpc::StatusCode::FAILED_PRECONDITION: return "FAILED_PRECONDITION";
    case grpc::StatusCode::UNAVAILABLE: return "UNAVAILABLE";
    case grpc::StatusCode::UNAUTHENTICATED: return "UNAUTHENTICATED";
    case grpc::StatusCode::RESOURCE_EXHAUSTED: return "RESOURCE_EXHAUSTED";
    case grpc::StatusCode::DEADLINE_EXCEEDED: return "DEADLINE_EXCEEDED";
    case grpc::StatusCode::CANCELLED: return "CANCELLED";
    case grpc::StatusCode::DATA_LOSS: return "DATA_LOSS";
    default: return "ERROR";
  }
}

}  // namespace

std::unique_ptr<v1::Registry::Stub> Connect(const std::string& node) {
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(64 << 20);
  // LIMITATION: the CLI connects without TLS or a token for now; both come with the
  // access-control issue.
  return v1::Registry::NewStub(
      grpc::CreateCustomChannel(node, grpc::InsecureChannelCredentials(), args));
}

int ReportRpcError(const std::string& what, const grpc::Status& status) {
  std::fprintf(stderr, "wlsync: %s: %s: %s\n", what.c_str(), CodeName(status.error_code()),
               status.error_message().c_str());
  return kExitFailure;
}

v1::PersonRef PersonRefOf(const std::string& who) {
  v1::PersonRef ref;
  if (model::IsValidPid(who)) {
    ref.set_pid(who);
  } else {
    ref.set_id_doc(who);
  }
  return ref;
}

}  // namespace wlsync::cli
