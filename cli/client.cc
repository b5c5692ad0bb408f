#include "cli/client.h"

#include <grpc/support/log.h>
#include <grpcpp/support/client_interceptor.h>
#include <sys/stat.h>

#include <cstdio>

#include <cstdio>
#include <cstdlib>

#include "base/strings.h"
#include "cli/commands.h"
#include "base/strings.h"
#include "model/pid.h"
#include "net/credentials.h"

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

// Set once by ConfigureClient, before any command connects.
struct Transport {
  bool insecure = false;
  std::string ca_file;
  std::string ca_pem;
  std::string token;
};
Transport& TheTransport() {
  static Transport transport;
  return transport;
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

absl::Status ConfigureClient(const ClientOptions& options) {
  // gRPC's own log lines (a handshake failure, ...) repeat what ReportRpcError says; they
  // stay available with GRPC_VERBOSITY set.
  if (std::getenv("GRPC_VERBOSITY") == nullptr) gpr_set_log_function([](gpr_log_func_args*) {});
  Transport& t = TheTransport();
  t.insecure = options.insecure;
  t.ca_file = options.ca_file;
  t.token = options.token;
  if (options.insecure) return absl::OkStatus();
  if (options.ca_file.empty()) {
    return absl::InvalidArgumentError(
        "no CA to check the node's TLS certificate with: give --ca FILE or set WLSYNC_CA "
        "(`. DIR/cli.env` of `wlsync init` sets it); --insecure only for a node run with "
        "api.insecure = true");
  }
  absl::StatusOr<std::string> pem = model::ReadSmallFile(options.ca_file);
  if (!pem.ok()) return absl::InvalidArgumentError(base::StrCat("--ca: ", pem.status().message()));
  if (!net::FingerprintOfPem(*pem).ok()) {
    return absl::InvalidArgumentError(
        base::StrCat("--ca: ", options.ca_file, ": holds no PEM certificate"));
  }
  t.ca_pem = *std::move(pem);
  return absl::OkStatus();
}

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

std::shared_ptr<grpc::Channel> ChannelTo(const std::string& node) {
  const Transport& t = TheTransport();
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(64 << 20);
  std::vector<std::unique_ptr<grpc::experimental::ClientInterceptorFactoryInterface>> interceptors;
  if (!t.token.empty()) interceptors.push_back(std::make_unique<TokenInterceptorFactory>(t.token));
  return grpc::experimental::CreateCustomChannelWithInterceptors(
      node, t.insecure ? net::PlainChannelCredentials() : net::ClientChannelCredentials(t.ca_pem),
      args, std::move(interceptors));
}

std::unique_ptr<v1::Registry::Stub> Connect(const std::string& node) {
  return v1::Registry::NewStub(ChannelTo(node));
}

int ReportRpcError(const std::string& what, const grpc::Status& status) {
  std::fprintf(stderr, "wlsync: %s: %s: %s\n", what.c_str(), CodeName(status.error_code()),
               status.error_message().c_str());
  const Transport& t = TheTransport();
  if (status.error_code() == grpc::StatusCode::UNAUTHENTICATED && t.token.empty()) {
    std::fprintf(stderr, "wlsync: give a token with --token-file FILE or WLSYNC_TOKEN_FILE\n");
  }
  if (status.error_code() != grpc::StatusCode::UNAVAILABLE) return kExitFailure;
  // A TLS server closes a plain-TCP connection at once; "refused" means nothing listens.
  bool closed = status.error_message().find("Socket closed") != std::string::npos;
  if (t.insecure && closed) {
    std::fprintf(stderr,
                 "wlsync: hint: --insecure speaks plain TCP; if the node runs TLS (the "
                 "default), drop --insecure and give --ca FILE\n");
  } else if (net::LooksLikeHandshakeFailure(status.error_message())) {
    std::fprintf(stderr,
                 "wlsync: the TLS handshake with the node failed: check --ca (or WLSYNC_CA, "
                 "now %s): it must name the CA that signed the node's certificate, and the "
                 "--node address must be one the certificate names; a node run with "
                 "api.insecure = true needs --insecure\n",
                 t.ca_file.c_str());
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
