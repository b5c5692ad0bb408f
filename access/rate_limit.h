// Per-token rate limits: requests per minute and personal records returned per hour, each
// a token bucket that refills continuously. Limits are set per role in the config.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <string>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "access/roles.h"

namespace wlsync::access {

struct RoleLimits {
  int64_t requests_per_minute = 0;  // 0: no limit
  int64_t records_per_hour = 0;     // 0: no limit
};

// Thread safe. The clock is injected (milliseconds).
class RateLimiter {
 public:
  RateLimiter(std::map<Role, RoleLimits> limits, std::function<int64_t()> now_ms);

  // Takes one request from the token's budget; RESOURCE_EXHAUSTED naming the limit when
  // the budget is empty.
  absl::Status AdmitRequest(const std::string& token, Role role);
  // Takes `records` from the token's record budget, all or nothing.
  absl::Status TakeRecords(const std::string& token, Role role, int64_t records);

 private:
  struct Bucket {
    double level = -1;  // < 0 until first use: starts full
    int64_t at_ms = 0;
  };
  // REQUIRES: mu_ held.
  bool Take(Bucket* bucket, int64_t capacity, double per_ms, int64_t amount);

  const std::map<Role, RoleLimits> limits_;
  const std::function<int64_t()> now_ms_;
  std::mutex mu_;
  absl::flat_hash_map<std::string, Bucket> requests_;  // guarded by mu_
  absl::flat_hash_map<std::string, Bucket> records_;   // guarded by mu_
};

}  // namespace wlsync::access
