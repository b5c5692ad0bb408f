// The peer certificates a node accepts and those an admin has revoked: the one part of a
// node's TLS material that changes while it runs (`wlsync cert reload`, `wlsync cert
// revoke`). NodeTls owns one; the handshake verifier, AuthenticatePeer and every live Pull
// stream read it, so that a change applies to the next handshake, call and streamed message.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <set>
#include <string>
#include <string_view>
#include <tuple>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"

namespace wlsync::net {

// One certificate of a pin file.
struct PinnedCert {
  std::string fingerprint;  // lowercase hex SHA-256 of the DER
  int64_t not_after_unix_ms = 0;
};

// Which end of a link presented a refused certificate: the peer calling this node, or the
// peer's server that this node called. Also the metric label ("caller", "server").
enum class PeerSide { kCaller, kServer };
std::string_view PeerSideName(PeerSide side);

// A revoked certificate that was presented again, noted once per peer, fingerprint and
// side for the audit trail (later refusals are only counted).
struct RevokedRefusal {
  std::string peer;
  std::string fingerprint;
  PeerSide side = PeerSide::kCaller;
};

using PinMap = std::map<std::string, std::vector<PinnedCert>, std::less<>>;

// Thread safe. Readers (Accepts: every handshake, Peer call and streamed message) take a
// shared lock and search a few small containers; writers (a reload or a revocation, both
// rare) take it exclusively. A revocation outlives reloads: a revoked fingerprint stays
// refused even while a pin file still lists it.
class PinSet {
 public:
  // True when `fingerprint` is pinned for `peer` and not revoked for it.
  bool Accepts(std::string_view peer, std::string_view fingerprint) const;
  bool IsRevoked(std::string_view peer, std::string_view fingerprint) const;
  // True when `peer` has a pin file (a configured peer).
  bool HasPeer(std::string_view peer) const;

  // Replaces the pinned certificates of every peer (the pin files were read again).
  void ReplacePinned(PinMap pinned);
  // Refuses `fingerprint` for `peer` from now on. False when it was already revoked.
  bool Revoke(const std::string& peer, const std::string& fingerprint);

  PinMap Pinned() const;
  // Revoked fingerprints of `peer`, sorted.
  std::vector<std::string> RevokedOf(std::string_view peer) const;

  // Called when a revoked certificate is refused; the first time per peer, fingerprint and
  // side it is kept for TakeRevokedRefusals.
  void NoteRevokedRefusal(std::string_view peer, std::string_view fingerprint, PeerSide side);
  // The refusals noted since the last call, oldest first.
  std::vector<RevokedRefusal> TakeRevokedRefusals();

 private:
  mutable absl::Mutex mu_;
  PinMap pinned_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, std::set<std::string, std::less<>>, std::less<>> revoked_
      ABSL_GUARDED_BY(mu_);
  std::set<std::tuple<std::string, std::string, PeerSide>> noted_ ABSL_GUARDED_BY(mu_);
  std::vector<RevokedRefusal> pending_ ABSL_GUARDED_BY(mu_);
};

}  // namespace wlsync::net
