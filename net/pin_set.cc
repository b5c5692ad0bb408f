#include "net/pin_set.h"

#include <algorithm>

namespace wlsync::net {

std::string_view PeerSideName(PeerSide side) {
  return side == PeerSide::kCaller ? "caller" : "server";
}

bool PinSet::Accepts(std::string_view peer, std::string_view fingerprint) const {
  absl::ReaderMutexLock lock(&mu_);
  auto it = pinned_.find(peer);
  if (it == pinned_.end()) return false;
  bool pinned = std::any_of(it->second.begin(), it->second.end(),
                            [&](const PinnedCert& c) { return c.fingerprint == fingerprint; });
  if (!pinned) return false;
  auto revoked = revoked_.find(peer);
  return revoked == revoked_.end() || !revoked->second.contains(fingerprint);
}

bool PinSet::IsRevoked(std::string_view peer, std::string_view fingerprint) const {
  absl::ReaderMutexLock lock(&mu_);
  auto it = revoked_.find(peer);
  return it != revoked_.end() && it->second.contains(fingerprint);
}

bool PinSet::HasPeer(std::string_view peer) const {
  absl::ReaderMutexLock lock(&mu_);
  return pinned_.contains(peer);
}

void PinSet::ReplacePinned(PinMap pinned) {
  absl::MutexLock lock(&mu_);
  pinned_ = std::move(pinned);
}

bool PinSet::Revoke(const std::string& peer, const std::string& fingerprint) {
  absl::MutexLock lock(&mu_);
  return revoked_[peer].insert(fingerprint).second;
}

PinMap PinSet::Pinned() const {
  absl::ReaderMutexLock lock(&mu_);
  return pinned_;
}

std::vector<std::string> PinSet::RevokedOf(std::string_view peer) const {
  absl::ReaderMutexLock lock(&mu_);
  auto it = revoked_.find(peer);
  if (it == revoked_.end()) return {};
  return {it->second.begin(), it->second.end()};
}

void PinSet::NoteRevokedRefusal(std::string_view peer, std::string_view fingerprint,
                                PeerSide side) {
  absl::MutexLock lock(&mu_);
  if (!noted_.emplace(std::string(peer), std::string(fingerprint), side).second) return;
  pending_.push_back({std::string(peer), std::string(fingerprint), side});
}

std::vector<RevokedRefusal> PinSet::TakeRevokedRefusals() {
  absl::MutexLock lock(&mu_);
  return std::exchange(pending_, {});
}

}  // namespace wlsync::net
