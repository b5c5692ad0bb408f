// The admin's control over the peer certificates this node accepts: revocations kept in the
// store and applied to the live pin set (net/pin_set.h), the pin files read again without a
// restart, the state `wlsync cert list` shows, and the audit entry of the first refusal of
// each revoked certificate. The Emergency service and SIGHUP call it; see docs/operations.md.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "access/audit_trail.h"
#include "net/node_tls.h"
#include "storage/store.h"
#include "wlsync/v1/emergency.pb.h"

namespace wlsync::daemon {

// Lifecycle: construct, Load once before the node serves, then any method from any thread.
// `store`, `tls` and `trail` must outlive it.
class PeerCerts {
 public:
  PeerCerts(storage::Store& store, const net::NodeTls& tls, access::AuditTrail& trail,
            std::function<int64_t()> now_ms);

  // Applies the stored revocations to tls.pins(), whatever the pin files list.
  absl::Status Load();

  // Refuses `fingerprint` (64 lowercase hex characters) for `peer` from now on: durable when
  // it returns, then in force for every handshake, Peer call and live stream. Returns false
  // (and changes nothing) when it was already revoked.
  absl::StatusOr<bool> Revoke(const std::string& peer, const std::string& fingerprint,
                              const std::string& reason);

  // Reads the pin files again (NodeTls::ReloadPins): one "peer=NAME pinned=N added=N
  // removed=N" line per peer, for the record.
  absl::StatusOr<std::vector<std::string>> Reload();
  // Reload on SIGHUP: there is no caller token, so the outcome is written to the audit
  // trail here (token "-"), and an error is also logged.
  void ReloadOnSignal();

  // Pinned and revoked certificates of each peer.
  void Describe(v1::CertState* state) const;

  // Appends one audit entry for each revoked certificate refused for the first time since
  // start (later refusals are only counted in wlsync_tls_refused_total). Called about once
  // a second by the node's monitor.
  absl::Status AuditRefusals();

 private:
  storage::Store& store_;
  const net::NodeTls& tls_;
  access::AuditTrail& trail_;
  const std::function<int64_t()> now_ms_;

  mutable std::mutex mu_;  // serializes Revoke; guards revoked_
  // By {peer, fingerprint}.
  std::map<std::pair<std::string, std::string>, v1::RevokedCert> revoked_;  // guarded by mu_
};

// True for 64 lowercase hex characters (a SHA-256 fingerprint as wlsync prints it).
bool IsFingerprint(std::string_view text);

}  // namespace wlsync::daemon
