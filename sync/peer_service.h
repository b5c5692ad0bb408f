// The Peer gRPC service: streams signed deltas to pulling peers, every origin this node
// holds (its own and those it relays), first the backlog after the caller's cursors, then
// the live tail. Heavy gRPC headers stay in the .cc file.
#pragma once

#include <memory>

#include "model/hlc.h"
#include "storage/store.h"
#include "sync/signer.h"

namespace grpc {
class Service;
}

namespace wlsync::sync {

// Creates the service. `store`, `clock` and `trust` must outlive it. Callers must name
// a node in `trust`; others get PERMISSION_DENIED. Thread safe.
std::unique_ptr<grpc::Service> NewPeerService(const storage::Store& store,
                                              const model::HybridClock& clock,
                                              const TrustStore& trust);

}  // namespace wlsync::sync
