#include "access/lockdown.h"

#include "base/logging.h"

namespace wlsync::access {
namespace {

constexpr std::string_view kKey = "local/lockdown";

}  // namespace

Lockdown::Lockdown(storage::Store& store, std::function<int64_t()> now_ms)
    : store_(store), now_ms_(std::move(now_ms)) {}

absl::Status Lockdown::Load() {
  auto raw = store_.Get(storage::Table::kLocal, kKey);
  if (!raw.ok()) return raw.status();
  std::lock_guard<std::mutex> lock(mu_);
  if (raw->has_value() && !state_.ParseFromString(**raw)) {
    return absl::DataLossError("lockdown: the stored state does not parse");
  }
  if (state_.lockdown()) {
    base::Logger("rpc")->warn("lockdown is on since unix_ms={}: Export and case unmasking refused",
                              state_.lockdown_since_unix_ms());
  }
  return absl::OkStatus();
}

absl::Status Lockdown::Save(const v1::EmergencyState& next) {
  storage::TableBatch b;
  b.puts.push_back({storage::Table::kLocal, std::string(kKey), next.SerializeAsString()});
  if (absl::Status s = store_.Write(b, /*sync=*/true); !s.ok()) return s;
  state_ = next;
  return absl::OkStatus();
}

absl::Status Lockdown::Start(const std::string& reason) {
  std::lock_guard<std::mutex> lock(mu_);
  if (state_.lockdown()) return absl::OkStatus();
  v1::EmergencyState next;
  next.set_lockdown(true);
  next.set_lockdown_since_unix_ms(now_ms_());
  next.set_lockdown_reason(reason);
  return Save(next);
}

absl::Status Lockdown::Lift() {
  std::lock_guard<std::mutex> lock(mu_);
  if (!state_.lockdown()) return absl::OkStatus();
  return Save(v1::EmergencyState());
}

bool Lockdown::active() const {
  std::lock_guard<std::mutex> lock(mu_);
  return state_.lockdown();
}

void Lockdown::Describe(v1::EmergencyState* state) const {
  std::lock_guard<std::mutex> lock(mu_);
  state->set_lockdown(state_.lockdown());
  state->set_lockdown_since_unix_ms(state_.lockdown_since_unix_ms());
  state->set_lockdown_reason(state_.lockdown_reason());
}

}  // namespace wlsync::access
