// The Registry gRPC service: registration, edits, deregistration, reads, bulk import and
// export, and node status. Validation happens here on the RPC threads; every write then
// goes through the node's single Writer. gRPC headers stay in the .cc file.
#pragma once

#include <functional>
#include <memory>
#include <vector>

#include "base/tally.h"
#include "model/hlc.h"
#include "model/writes.h"
#include "storage/store.h"
#include "sync/writer.h"
#include "wlsync/v1/registry.pb.h"

namespace grpc {
class Service;
}

namespace wlsync::daemon {

class Gate;

struct RegistryDeps {
  Gate& gate;
  storage::Store& store;
  sync::Writer& writer;
  const model::WritePlanner& planner;
  const model::HybridClock& clock;
  // Per-peer status, filled in by the node.
  std::function<std::vector<v1::PeerStatus>()> peers;
  // Fills the node-wide parts of Status (health, lockdown, audit, ...); may be empty.
  std::function<void(v1::StatusResponse*)> describe;
  // Runs a reconciliation against a configured peer; NOT_FOUND for an unknown name.
  std::function<absl::StatusOr<v1::ReconcileReport>(const std::string& peer)> reconcile;
  // Rows accepted in one ImportRequest at most.
  size_t max_rows_per_request = 10000;
  // Import rows by outcome ({"created"}, {"updated"}, {"unchanged"}, {"rejected"}), counted
  // as each batch is answered; may be null.
  base::Tally* import_rows = nullptr;
};

// A record as the client API shows it; with `tombstone_only`, a deregistered person shows
// only home and status.
v1::Person ToPerson(const v1::Record& record, bool tombstone_only);

// All references in `deps` must outlive the service. Thread safe.
std::unique_ptr<grpc::Service> NewRegistryService(RegistryDeps deps);

}  // namespace wlsync::daemon
