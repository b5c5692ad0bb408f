// Server interceptors for every gRPC call the node serves (client API, Peer service and
// health alike): one names a request that does not parse, the other counts and times each
// call by method and status code (wlsync_rpc_duration_seconds, whose _count is the call
// count).
#pragma once

#include <memory>

#include "metrics/metrics.h"

namespace grpc::experimental {
class ServerInterceptorFactoryInterface;
}

namespace wlsync::daemon {

// A request message that does not parse (bad wire format, or a string that is not UTF-8)
// is answered INVALID_ARGUMENT "request: ... does not parse ..." instead of gRPC's INTERNAL
// with no message, also on a stream whose handler saw it as the end of the requests. Put
// it before NewRpcMetrics so that the metrics count the code the caller gets.
std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface> NewRequestChecker();

// Adds the histogram to `registry` and returns the interceptor factory to hand to the
// ServerBuilder. Methods unknown to this build (a caller may send any path) are counted
// as method="unknown", so a caller cannot add label values. `registry` must outlive the
// server.
std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface> NewRpcMetrics(
    metrics::Registry& registry);

}  // namespace wlsync::daemon
