#include "cli/client.h"

#include <grpcpp/support/client_interceptor.h>
#include <sys/stat.h>

#include <cstdio>

#include "cli/commands.h"
#include "base/strings.h"
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

ConnectOptions& Options() {
  static ConnectOptions options;
  return options;
}

// Adds the bearer token to the initial metadata of every call on the channel.
class TokenInterceptor final : public grpc::experimental::Interceptor {
 public:
  explicit TokenInterceptor(const std::string& token) : header_("Bearer " + token) {}
  void Intercept(grpc::experimental::InterceptorBatchMethods* methods) override {
    if (methods->QueryInterceptionHookPoint(
            grpc::experimental::InterceptionHookPoints::PRE_SEND_INITIAL_METADATA)) {
      methods->GetSendInitialMetadata()->insert({"authorization", header_});
    }
    methods->Proceed();
  }

 private:
  const std::string header_;
};

class TokenInterceptorFactory final
    : public grpc::experimental::ClientInterceptorFactoryInterface {
 public:
  explicit TokenInterceptorFactory(std::string token) : token_(std::move(token)) {}
  grpc::experimental::Interceptor* CreateClientInterceptor(
      grpc::experimental::ClientRpcInfo*) override {
    return new TokenInterceptor(token_);  // gRPC owns it
  }

 private:
  const std::string token_;
};

}  // namespace

void SetConnectOptions(ConnectOptions options) { Options() = std::move(options); }

absl::StatusOr<std::string> ReadTokenFile(const std::string& path) {
  absl::StatusOr<std::string> text = model::ReadSmallFile(path);
  if (!text.ok()) {
    return absl::InvalidArgumentError(base::StrCat("token file ", path, ": cannot read it"));
  }
  std::string token(base::TrimAscii(*text));
  if (token.empty() || token.find_first_of(" \t\r\n") != std::string::npos) {
    return absl::InvalidArgumentError(
        base::StrCat("token file ", path, ": must hold one token on one line"));
  }
  struct stat st;
  if (::stat(path.c_str(), &st) == 0 && (st.st_mode & 077) != 0) {
    std::fprintf(stderr, "wlsync: warning: token file %s is readable by others; chmod 600 it\n",
                 path.c_str());
  }
  return token;
}

std::shared_ptr<grpc::Channel> OpenChannel(const std::string& node) {
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(64 << 20);
  std::vector<std::unique_ptr<grpc::experimental::ClientInterceptorFactoryInterface>> interceptors;
  if (!Options().token.empty()) {
    interceptors.push_back(std::make_unique<TokenInterceptorFactory>(Options().token));
  }
  return grpc::experimental::CreateCustomChannelWithInterceptors(
      node, grpc::InsecureChannelCredentials(), args, std::move(interceptors));
}

std::unique_ptr<v1::Registry::Stub> Connect(const std::string& node) {
  return v1::Registry::NewStub(OpenChannel(node));
}

int ReportRpcError(const std::string& what, const grpc::Status& status) {
  std::fprintf(stderr, "wlsync: %s: %s: %s\n", what.c_str(), CodeName(status.error_code()),
               status.error_message().c_str());
  if (status.error_code() == grpc::StatusCode::UNAUTHENTICATED && Options().token.empty()) {
    std::fprintf(stderr, "wlsync: give a token with --token-file FILE or WLSYNC_TOKEN_FILE\n");
  }
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
