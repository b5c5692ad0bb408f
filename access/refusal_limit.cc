#include "access/refusal_limit.h"

namespace wlsync::access {

RefusalLimiter::Verdict RefusalLimiter::Admit(std::string_view address, int64_t now_ms) {
  std::lock_guard<std::mutex> lock(mu_);
  Verdict v;
  v.bucket = std::string(address);
  if (!windows_.contains(address) && windows_.size() >= options_.max_addresses) {
    v.bucket = std::string(kOtherAddresses);
  }
  auto [it, added] = windows_.try_emplace(v.bucket);
  Window& w = it->second;
  if (added) w.start_ms = now_ms;

  // A new interval: hand out what the last one held back.
  if (now_ms - w.start_ms >= options_.interval_ms) {
    if (w.held.count > 0) v.due = w.held;
    w = Window{now_ms, 0, {}};
  }

  if (w.audited < options_.per_address) {
    ++w.audited;
    return v;
  }
  v.audit = false;
  if (w.held.count++ == 0) {
    v.first_held_back = true;
    w.held.address = v.bucket;
    w.held.first_ms = now_ms;
  }
  w.held.last_ms = now_ms;
  return v;
}

std::vector<RefusalSummary> RefusalLimiter::TakeDue(int64_t now_ms, bool all) {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<RefusalSummary> out;
  for (auto it = windows_.begin(); it != windows_.end();) {
    if (!all && now_ms - it->second.start_ms < options_.interval_ms) {
      ++it;
      continue;
    }
    if (it->second.held.count > 0) out.push_back(std::move(it->second.held));
    it = windows_.erase(it);
  }
  return out;
}

size_t RefusalLimiter::tracked() const {
  std::lock_guard<std::mutex> lock(mu_);
  return windows_.size();
}

std::string SourceAddress(std::string_view peer) {
  auto starts = [&](std::string_view prefix) { return peer.substr(0, prefix.size()) == prefix; };
  if (starts("ipv6:[")) {
    std::string_view rest = peer.substr(6);
    size_t close = rest.find(']');
    if (close != std::string_view::npos) return std::string(rest.substr(0, close));
  } else if (starts("ipv4:")) {
    std::string_view rest = peer.substr(5);
    return std::string(rest.substr(0, rest.rfind(':')));
  }
  return std::string(peer);
}

}  // namespace wlsync::access
