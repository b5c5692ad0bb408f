// The Peer gRPC service: streams signed deltas to pulling peers, every origin this node
// holds (its own and those it relays), first the backlog after the caller's cursors, then
// the live tail. Heavy gRPC headers stay in the .cc file.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "base/tally.h"
#include "model/hlc.h"
#include "net/node_tls.h"
#include "storage/store.h"
#include "sync/signer.h"

namespace grpc {
class Service;
}

namespace wlsync::sync {

class PeerFreezes;

// What the Peer service streamed to pulling peers, keyed {peer, origin}; the peer is the
// caller's authenticated name, the origin a stream this node holds. Thread safe.
struct SendCounters {
  base::Tally deltas;
  base::Tally events;
  base::Tally bytes;
};

// Events in a serialized SignedDelta, counted from the wire format without parsing them;
// 0 for bytes that are not a SignedDelta.
uint64_t CountEvents(std::string_view signed_delta);

inline constexpr std::string_view kAgreementDomain = "wlsync/agreement/v1\n";

// Creates the service. `store`, `clock`, `trust` and `key` must outlive it. With `tls`, a
// caller must present a client certificate pinned for the node it names and not revoked
// (tls->pins(), read at every call), else UNAUTHENTICATED; without (plain TCP) any caller is
// served. Callers must also name a node in `trust`; others get PERMISSION_DENIED. A caller
// frozen in `freezes` (may be null) gets FAILED_PRECONDITION naming the freeze. A live Pull
// stream checks the freeze and the caller's certificate again about once a second and ends
// when either fails. What Pull sends is counted in `sent` (may be null; must outlive the
// service). Thread safe.
std::unique_ptr<grpc::Service> NewPeerService(const storage::Store& store,
                                              const model::HybridClock& clock,
                                              const TrustStore& trust, const NodeKey& key,
                                              std::string node, std::string federation_check,
                                              std::shared_ptr<const net::NodeTls> tls,
                                              const PeerFreezes* freezes = nullptr,
                                              SendCounters* sent = nullptr);

}  // namespace wlsync::sync
