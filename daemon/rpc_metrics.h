// Counts and times every gRPC call the node serves, by method and status code, with a
// server interceptor: one histogram family (wlsync_rpc_duration_seconds, whose _count is
// the call count) for the client API, the Peer service and health alike.
#pragma once

#include <memory>

#include "metrics/metrics.h"

namespace grpc::experimental {
class ServerInterceptorFactoryInterface;
}

namespace wlsync::daemon {

// Adds the histogram to `registry` and returns the interceptor factory to hand to the
// ServerBuilder. Methods unknown to this build (a caller may send any path) are counted
// as method="unknown", so a caller cannot add label values. `registry` must outlive the
// server.
std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface> NewRpcMetrics(
    metrics::Registry& registry);

}  // namespace wlsync::daemon
