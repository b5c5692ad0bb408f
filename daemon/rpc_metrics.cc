#include "daemon/rpc_metrics.h"

#include <google/protobuf/descriptor.h>
#include <grpcpp/support/server_interceptor.h>

#include <chrono>
#include <set>
#include <string>

namespace wlsync::daemon {
namespace {

using grpc::experimental::InterceptionHookPoints;

// From a millisecond to five minutes: Pull streams live long, unary calls take milliseconds.
const std::vector<double> kBounds = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
                                     0.25,   0.5,   1,      2.5,   5,    10,   30,    300};

const char* CodeName(grpc::StatusCode code) {
  switch (code) {
    case grpc::StatusCode::OK: return "OK";
    case grpc::StatusCode::CANCELLED: return "CANCELLED";
    case grpc::StatusCode::UNKNOWN: return "UNKNOWN";
    case grpc::StatusCode::INVALID_ARGUMENT: return "INVALID_ARGUMENT";
    case grpc::StatusCode::DEADLINE_EXCEEDED: return "DEADLINE_EXCEEDED";
    case grpc::StatusCode::NOT_FOUND: return "NOT_FOUND";
    case grpc::StatusCode::ALREADY_EXISTS: return "ALREADY_EXISTS";
    case grpc::StatusCode::PERMISSION_DENIED: return "PERMISSION_DENIED";
    case grpc::StatusCode::RESOURCE_EXHAUSTED: return "RESOURCE_EXHAUSTED";
    case grpc::StatusCode::FAILED_PRECONDITION: return "FAILED_PRECONDITION";
    case grpc::StatusCode::ABORTED: return "ABORTED";
    case grpc::StatusCode::OUT_OF_RANGE: return "OUT_OF_RANGE";
    case grpc::StatusCode::UNIMPLEMENTED: return "UNIMPLEMENTED";
    case grpc::StatusCode::INTERNAL: return "INTERNAL";
    case grpc::StatusCode::UNAVAILABLE: return "UNAVAILABLE";
    case grpc::StatusCode::DATA_LOSS: return "DATA_LOSS";
    case grpc::StatusCode::UNAUTHENTICATED: return "UNAUTHENTICATED";
    default: return "OTHER";
  }
}

// "/wlsync.v1.Registry/Get" -> "wlsync.v1.Registry/Get" when this build knows the method.
std::string MethodLabel(const char* path) {
  std::string_view p = path == nullptr ? "" : path;
  size_t slash = p.rfind('/');
  if (p.size() < 2 || p.front() != '/' || slash == 0 || slash == std::string_view::npos) {
    return "unknown";
  }
  std::string service(p.substr(1, slash - 1));
  std::string method(p.substr(slash + 1));
  // Built into gRPC, not in the generated descriptor pool.
  static const std::set<std::string> kBuiltIn = {
      "grpc.health.v1.Health/Check", "grpc.health.v1.Health/Watch",
      "grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo"};
  if (kBuiltIn.contains(service + "/" + method)) return service + "/" + method;
  const google::protobuf::ServiceDescriptor* s =
      google::protobuf::DescriptorPool::generated_pool()->FindServiceByName(service);
  if (s == nullptr || s->FindMethodByName(method) == nullptr) return "unknown";
  return service + "/" + method;
}

// LIMITATION: a request over sync.max_message_bytes is refused (RESOURCE_EXHAUSTED) by
// gRPC's transport before any interceptor runs, so it is not counted here; gRPC 1.51's C++
// API has no server hook below the interceptors (a channel filter is core-internal).
class RpcTimer final : public grpc::experimental::Interceptor {
 public:
  RpcTimer(metrics::Histogram& histogram, const char* method)
      : histogram_(histogram), method_(MethodLabel(method)),
        start_(std::chrono::steady_clock::now()) {}

  ~RpcTimer() override {
    // A call that ends without sending a status (the client went away) still counts.
    if (!observed_) Observe(grpc::StatusCode::CANCELLED);
  }

  void Intercept(grpc::experimental::InterceptorBatchMethods* methods) override {
    if (methods->QueryInterceptionHookPoint(InterceptionHookPoints::PRE_SEND_STATUS)) {
      Observe(methods->GetSendStatus().error_code());
    }
    methods->Proceed();
  }

 private:
  void Observe(grpc::StatusCode code) {
    observed_ = true;
    std::chrono::duration<double> took = std::chrono::steady_clock::now() - start_;
    histogram_.Observe({{"method", method_}, {"code", CodeName(code)}}, took.count());
  }

  metrics::Histogram& histogram_;
  const std::string method_;
  const std::chrono::steady_clock::time_point start_;
  bool observed_ = false;
};

// Only for methods with one request message (unary and server streaming): there, no
// message after the receive is a request that did not parse. On a request stream the same
// nullptr also marks its normal end, so the two cannot be told apart here.
// LIMITATION: on Import (the one request stream) a message that does not parse ends the
// stream like a half-close: the rows before it are answered with an OK summary.
class RequestChecker final : public grpc::experimental::Interceptor {
 public:
  explicit RequestChecker(const char* method) : method_(method == nullptr ? "" : method) {}

  void Intercept(grpc::experimental::InterceptorBatchMethods* methods) override {
    if (methods->QueryInterceptionHookPoint(InterceptionHookPoints::POST_RECV_MESSAGE) &&
        methods->GetRecvMessage() == nullptr) {
      malformed_ = true;
    }
    if (malformed_ &&
        methods->QueryInterceptionHookPoint(InterceptionHookPoints::PRE_SEND_STATUS)) {
      methods->ModifySendStatus(grpc::Status(
          grpc::StatusCode::INVALID_ARGUMENT,
          "request: a message does not parse as the request of " + MethodLabel(method_.c_str()) +
              " (malformed protobuf, a wrong message type, or a string that is not UTF-8)"));
    }
    methods->Proceed();
  }

 private:
  const std::string method_;
  bool malformed_ = false;
};

class RequestCheckerFactory final
    : public grpc::experimental::ServerInterceptorFactoryInterface {
 public:
  grpc::experimental::Interceptor* CreateServerInterceptor(
      grpc::experimental::ServerRpcInfo* info) override {
    using Type = grpc::experimental::ServerRpcInfo::Type;
    if (info->type() == Type::CLIENT_STREAMING || info->type() == Type::BIDI_STREAMING) {
      return nullptr;  // no interceptor for this call
    }
    return new RequestChecker(info->method());  // gRPC owns and deletes it
  }
};

class RpcTimerFactory final : public grpc::experimental::ServerInterceptorFactoryInterface {
 public:
  explicit RpcTimerFactory(metrics::Histogram& histogram) : histogram_(histogram) {}
  grpc::experimental::Interceptor* CreateServerInterceptor(
      grpc::experimental::ServerRpcInfo* info) override {
    return new RpcTimer(histogram_, info->method());  // gRPC owns and deletes it
  }

 private:
  metrics::Histogram& histogram_;
};

}  // namespace

std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface> NewRequestChecker() {
  return std::make_unique<RequestCheckerFactory>();
}

std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface> NewRpcMetrics(
    metrics::Registry& registry) {
  metrics::Histogram& h = registry.AddHistogram(
      "wlsync_rpc_duration_seconds",
      "gRPC calls served, by method and status code: duration from the call's start to its "
      "status (Pull streams last as long as the peer stays connected)",
      kBounds);
  return std::make_unique<RpcTimerFactory>(h);
}

}  // namespace wlsync::daemon
