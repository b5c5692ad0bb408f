// Reconciliation: the independent check that two nodes hold the same records. Compares
// digest trees from the root down, lists the differing records, and repairs this node's
// side from the signed deltas that produced the peer's state, never from bare record state.
// Differences explained by deltas still in flight are re-checked once they arrive.
#pragma once

#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "model/hlc.h"
#include "net/node_tls.h"
#include "storage/store.h"
#include "sync/signer.h"
#include "sync/writer.h"
#include "wlsync/v1/registry.pb.h"

namespace wlsync::v1 {
class TreeResponse;
}

namespace wlsync::sync {

class Session;

struct ReconcileOptions {
  std::string self;     // this node's name
  std::string peer;     // the peer's name
  std::string address;  // host:port
  int64_t max_message_bytes = 4 << 20;
  // How long to wait for deltas in flight before reporting them as such.
  std::chrono::milliseconds catch_up_timeout{30000};
  // Per-call deadline towards the peer.
  std::chrono::milliseconds rpc_timeout{60000};
  // Mutual TLS with the peer's certificate pinned; null for plain TCP (api.insecure).
  std::shared_ptr<const net::NodeTls> tls;
};

// Holds references that must outlive it. Run may be called from several threads, but
// runs against the same peer should not overlap (the caller serializes them).
class Reconciler {
 public:
  Reconciler(storage::Store& store, Writer& writer, const TrustStore& trust,
             const NodeKey& key, const model::HybridClock& clock)
      : store_(store), writer_(writer), trust_(trust), key_(key), clock_(clock) {}

  // Runs one reconciliation and returns its report (also when the peer could not be
  // reached: then `error` is set). The report is stored in the store.
  v1::ReconcileReport Run(const ReconcileOptions& options);

  // Makes a running Run end at its next step with "stopped" (and every later Run at once):
  // for shutdown, so that a SIGTERM is not held up by a long repair. Thread safe.
  void Stop() { stopping_.store(true); }

  // The running reconciliation's progress; nothing when none runs. Thread safe.
  std::optional<v1::ReconcileProgress> progress() const;

 private:
  void SetProgress(const std::string& phase, uint64_t done, uint64_t total);

  void Certify(Session& session, const ReconcileOptions& o, const v1::TreeResponse& root,
               const storage::TreeNode& mine, v1::ReconcileReport* report);

  storage::Store& store_;
  Writer& writer_;
  const TrustStore& trust_;
  const NodeKey& key_;
  const model::HybridClock& clock_;

  std::atomic<bool> stopping_{false};
  mutable std::mutex progress_mu_;
  std::optional<v1::ReconcileProgress> progress_;  // guarded by progress_mu_
};

// Checks a certificate offline: every signature against `trust`, and that both nodes
// named in the statement signed it. Returns the statement on success.
absl::StatusOr<std::string> VerifyCertificate(const v1::AgreementCertificate& cert,
                                              const TrustStore& trust);

}  // namespace wlsync::sync
