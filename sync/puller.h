// Pulls signed deltas from one peer and hands them to the writer. One thread per peer;
// reconnects with exponential backoff and jitter and always resumes from the cursors
// persisted in the store, so a restart or a cut connection loses nothing.
#pragma once

#include <atomic>
#include <map>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "base/tally.h"
#include "net/node_tls.h"
#include "storage/store.h"
#include "sync/writer.h"
#include "wlsync/v1/registry.pb.h"

namespace grpc {
class ClientContext;
class ChannelCredentials;
}

namespace wlsync::v1 {
class Heartbeat;
}

namespace wlsync::sync {

class PeerFreezes;

struct PullerOptions {
  std::string self;      // this node's name, sent to the peer
  std::string peer;      // the peer's name
  std::string endpoint;  // the peer's host:port
  int64_t reconnect_min_ms = 100;
  int64_t reconnect_max_ms = 10000;
  int64_t max_message_bytes = 4 << 20;
  std::string federation_check;  // FederationKey::Fingerprint()
  // Mutual TLS with the peer's certificate pinned (checked at each handshake and again at
  // each message of a live stream); null for plain TCP (api.insecure).
  std::shared_ptr<const net::NodeTls> tls;
  // Emergency freezes (may be null): while the peer is frozen, no pull is made.
  const PeerFreezes* freezes = nullptr;
};

// Lifecycle: construct, Start, Stop (or destroy). `store` and `writer` must outlive it.
// Status() may be called from any thread.
class Puller {
 public:
  Puller(PullerOptions options, const storage::Store& store, Writer& writer);
  ~Puller();

  Puller(const Puller&) = delete;
  Puller& operator=(const Puller&) = delete;

  void Start();
  void Stop();

  // The peer's name, as configured.
  const std::string& peer() const { return options_.peer; }
  // Connection state, last error, lag and held-back origins, for Status.
  v1::PeerStatus Status() const;
  // Ends the live pull at its next message (heartbeats: 1 s), so that the next one starts
  // from the persisted cursors: after a fork is cleared, the deltas refused meanwhile come
  // again. Thread safe.
  void Resync() { resync_.store(true); }
  // Milliseconds since the Unix epoch when the peer last answered; 0 for never.
  int64_t last_contact_ms() const { return last_contact_ms_.load(); }

  // Deltas and their events received from this peer, keyed {origin, outcome}: outcome is
  // a RemoteOutcomeName ("applied", "duplicate", "gap", "fork", "held_back", "rejected") or
  // "bad_signature"; events also count "quarantined". An origin the delta names but that
  // did not verify is counted as "unknown", so that a peer cannot add label values.
  const base::Tally& received_deltas() const { return received_deltas_; }
  const base::Tally& received_events() const { return received_events_; }
  // Keyed {epoch hex}: deltas of this node's own earlier epochs applied from this peer,
  // i.e. deltas this node's data dir had lost (wiped, or restored from an old copy) and got
  // back. The first of each epoch is logged at warn.
  const base::Tally& own_deltas_recovered() const { return own_recovered_; }

 private:
  struct Held;

  void Run();
  // One connection: returns when it ends; the error, if any, is recorded.
  void PullOnce();
  // True (and the reason set as last error) while the peer is frozen.
  bool Frozen();
  // True (and the refusal set as last error) once the certificate the peer's server showed
  // on this connection is no longer accepted (revoked, or no longer pinned).
  bool CertRefused(const std::string& fingerprint);
  // Handles the result of one delta; returns false when the connection should be restarted.
  bool Handle(RemoteResult r, std::string signed_delta, std::vector<Held>* held);
  bool RetryHeld(std::vector<Held>* held);
  void UpdateLag(const v1::Heartbeat& heartbeat);
  void Count(const RemoteResult& r);
  void SetError(std::string error);

  const PullerOptions options_;
  const storage::Store& store_;
  Writer& writer_;

  base::Tally received_deltas_;
  base::Tally received_events_;
  base::Tally own_recovered_;

  std::atomic<bool> stopping_{false};
  std::atomic<bool> resync_{false};
  std::atomic<int64_t> last_contact_ms_{0};
  std::thread thread_;

  mutable std::mutex mu_;
  grpc::ClientContext* context_ = nullptr;  // guarded by mu_; the live call, if any
  bool connected_ = false;                  // guarded by mu_
  std::string last_error_;                  // guarded by mu_
  uint64_t lag_events_ = 0;                 // guarded by mu_
  double lag_seconds_ = 0;                  // guarded by mu_
  bool lag_known_ = false;                  // guarded by mu_
  // When this node first saw it was behind on a stream it holds nothing of (for lag).
  std::map<storage::StreamId, int64_t> behind_since_;  // guarded by mu_
  std::vector<std::string> held_origins_;   // guarded by mu_
  std::condition_variable stop_cv_;
};

}  // namespace wlsync::sync
