// The client-API services beside Registry: Query (flow tracing), Access (tokens) and Audit
// (the trail). Each checks the caller through the Gate first. gRPC headers stay in the .cc
// files.
#pragma once

#include <memory>
#include <string>

#include "access/audit_trail.h"
#include "access/lockdown.h"
#include "access/tokens.h"
#include "daemon/peer_certs.h"
#include "query/engine.h"
#include "storage/store.h"
#include "sync/forks.h"
#include "sync/freezes.h"
#include "sync/signer.h"

namespace grpc {
class Service;
}

namespace wlsync::sync {
class Writer;
}

namespace wlsync::daemon {

class Gate;

// Masks phones and identity numbers for tracers unless the request names a case.
// `audit_key` keys the hashes of personal filter values in the trail.
std::unique_ptr<grpc::Service> NewQueryService(Gate& gate, const query::QueryEngine& engine,
                                               std::string audit_key);
std::unique_ptr<grpc::Service> NewAccessService(Gate& gate, access::TokenStore& tokens);
// `pid_of` turns an identity number into its pid for WhoSaw.
std::unique_ptr<grpc::Service> NewAuditService(
    Gate& gate, const access::AuditTrail& trail,
    std::function<absl::StatusOr<std::string>(std::string_view)> pid_of);

struct EmergencyDeps {
  Gate& gate;
  access::TokenStore& tokens;
  access::Lockdown& lockdown;
  sync::PeerFreezes& freezes;
  sync::ForkedStreams& forks;
  const access::AuditTrail& trail;
  PeerCerts* certs;                                 // null: plain TCP, no certificates
  std::function<bool(const std::string&)> is_peer;  // a configured peer's name
  std::function<int64_t()> now_ms;
  std::function<void()> resync;  // every puller pulls again from the cursors
};
// The admin's emergency actions: freeze and unfreeze a peer, lockdown and lift, the state,
// the leak report, revoking, listing and reloading peer certificates, and listing and
// clearing forked streams. Each action is recorded in the trail.
std::unique_ptr<grpc::Service> NewEmergencyService(EmergencyDeps deps);

struct KeysDeps {
  Gate& gate;
  sync::Writer& writer;
  const sync::TrustStore& trust;
  const sync::NodeKey& key;
  const storage::Store& store;
  std::string node;              // this node's name
  std::string signing_key_path;  // node.signing_key; the history and next key sit beside it
};
// The admin's key lifecycle: rotate, revoke, list, report. Each change is recorded in the
// trail.
std::unique_ptr<grpc::Service> NewKeysService(KeysDeps deps);

}  // namespace wlsync::daemon
