// The emergency lockdown: while it is on, Export and case unmasking are refused for
// everyone (and `wlsync emergency lockdown` revokes every tracer token as it starts it).
// Sync and operator writes go on. Kept in the store, so it survives a restart.
#pragma once

#include <cstdint>
#include <functional>
#include <mutex>

#include "absl/status/status.h"
#include "storage/store.h"
#include "wlsync/v1/emergency.pb.h"

namespace wlsync::access {

// Thread safe; `store` must outlive it. Load once before use.
class Lockdown {
 public:
  Lockdown(storage::Store& store, std::function<int64_t()> now_ms);

  absl::Status Load();
  // Durable when they return; take effect for every call admitted after.
  absl::Status Start(const std::string& reason);
  absl::Status Lift();

  bool active() const;
  // Fills the lockdown fields of `state`.
  void Describe(v1::EmergencyState* state) const;

 private:
  absl::Status Save(const v1::EmergencyState& next);

  storage::Store& store_;
  const std::function<int64_t()> now_ms_;
  mutable std::mutex mu_;
  v1::EmergencyState state_;  // lockdown fields only; guarded by mu_
};

}  // namespace wlsync::access
