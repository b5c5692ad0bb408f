// Emergency freezes of peer links: while a peer is frozen this node neither pulls from it
// nor serves it, whatever either side's configuration says. Kept in the store, so a freeze
// survives a restart; changed only by the admin's `wlsync emergency freeze|unfreeze`.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "storage/store.h"
#include "wlsync/v1/emergency.pb.h"

namespace wlsync::sync {

// Thread safe; `store` must outlive it. Load once before use.
class PeerFreezes {
 public:
  PeerFreezes(storage::Store& store, std::function<int64_t()> now_ms);

  absl::Status Load();
  // Durable when it returns; takes effect for every pull and every peer call after it.
  absl::Status Freeze(const std::string& peer, const std::string& reason);
  absl::Status Unfreeze(const std::string& peer);

  // The freeze of `peer`, or nullopt while the link is open.
  std::optional<v1::FrozenPeer> Get(const std::string& peer) const;
  std::vector<v1::FrozenPeer> List() const;

 private:
  storage::Store& store_;
  const std::function<int64_t()> now_ms_;
  mutable std::mutex mu_;
  std::map<std::string, v1::FrozenPeer> frozen_;  // guarded by mu_
};

}  // namespace wlsync::sync
