#include "access/rate_limit.h"

#include <algorithm>

#include "base/strings.h"

namespace wlsync::access {

RateLimiter::RateLimiter(std::map<Role, RoleLimits> limits, std::function<int64_t()> now_ms)
    : limits_(std::move(limits)), now_ms_(std::move(now_ms)) {}

bool RateLimiter::Take(Bucket* b, int64_t capacity, double per_ms, int64_t amount) {
  int64_t now = now_ms_();
  if (b->level < 0) {
    b->level = static_cast<double>(capacity);
  } else if (now > b->at_ms) {
    b->level = std::min<double>(capacity, b->level + per_ms * static_cast<double>(now - b->at_ms));
  }
  b->at_ms = std::max(b->at_ms, now);
  if (b->level < static_cast<double>(amount)) return false;
  b->level -= static_cast<double>(amount);
  return true;
}

absl::Status RateLimiter::AdmitRequest(const std::string& token, Role role) {
  auto it = limits_.find(role);
  if (it == limits_.end() || it->second.requests_per_minute <= 0) return absl::OkStatus();
  int64_t cap = it->second.requests_per_minute;
  std::lock_guard<std::mutex> lock(mu_);
  if (Take(&requests_[token], cap, static_cast<double>(cap) / 60000.0, 1)) return absl::OkStatus();
  return absl::ResourceExhaustedError(base::StrCat("rate limit: token ", token, " exceeded ", cap,
                                                   " requests per minute (role ",
                                                   RoleName(role), ")"));
}

absl::Status RateLimiter::TakeRecords(const std::string& token, Role role, int64_t records) {
  auto it = limits_.find(role);
  if (records <= 0 || it == limits_.end() || it->second.records_per_hour <= 0) {
    return absl::OkStatus();
  }
  int64_t cap = it->second.records_per_hour;
  std::lock_guard<std::mutex> lock(mu_);
  if (Take(&records_[token], cap, static_cast<double>(cap) / 3600000.0, records)) {
    return absl::OkStatus();
  }
  return absl::ResourceExhaustedError(base::StrCat("rate limit: token ", token, " exceeded ", cap,
                                                   " records per hour (role ", RoleName(role),
                                                   ")"));
}

}  // namespace wlsync::access
