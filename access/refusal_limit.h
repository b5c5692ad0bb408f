// Bounds what callers without a valid token can make the node write: the first refusals of
// each source address in an interval are audited one by one, the rest are only counted here
// and written later as one summary entry per address and interval, so that a flood of
// bad-token calls costs a bounded number of synced audit appends. daemon/gate.cc uses it.
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace wlsync::access {

struct RefusalLimitOptions {
  // Refusals of one address audited individually per interval; the rest are summarized.
  int64_t per_address = 20;
  int64_t interval_ms = 60'000;
  // Addresses tracked at once. Beyond it, new addresses share one bucket named
  // RefusalLimiter::kOtherAddresses (limited and summarized like one address).
  size_t max_addresses = 1024;
};

// Refusals of `address` not audited one by one, between `first_ms` and `last_ms`.
struct RefusalSummary {
  std::string address;
  uint64_t count = 0;
  int64_t first_ms = 0;
  int64_t last_ms = 0;
};

// Per-address fixed windows: an address's interval starts at its first refusal. Memory is
// bounded by max_addresses + 1 entries: an address is forgotten once an interval has passed
// without refusals (its summary, if any, is handed out then). Thread safe; the clock is the
// caller's (every call takes `now_ms`).
class RefusalLimiter {
 public:
  static constexpr std::string_view kOtherAddresses = "other-addresses";

  explicit RefusalLimiter(RefusalLimitOptions options) : options_(options) {}

  struct Verdict {
    bool audit = true;             // write this refusal to the trail now
    bool first_held_back = false;  // the first refusal summarized in this interval: warn once
    std::string bucket;            // the address, or kOtherAddresses
    // The summary of the address's previous interval, due now (write it before this one).
    std::optional<RefusalSummary> due;
  };
  Verdict Admit(std::string_view address, int64_t now_ms);

  // Summaries of the intervals that have ended by `now_ms` (all of them with `all`, at
  // shutdown); the addresses whose interval ended are forgotten.
  std::vector<RefusalSummary> TakeDue(int64_t now_ms, bool all = false);

  size_t tracked() const;

 private:
  struct Window {
    int64_t start_ms = 0;
    int64_t audited = 0;
    RefusalSummary held;  // held.count refusals not audited yet
  };

  const RefusalLimitOptions options_;
  mutable std::mutex mu_;
  std::map<std::string, Window, std::less<>> windows_;  // guarded by mu_
};

// The source address of a gRPC peer string, without the port: "ipv4:10.0.0.5:43210" ->
// "10.0.0.5", "ipv6:[::1]:43210" -> "::1"; anything else is returned as it is.
std::string SourceAddress(std::string_view grpc_peer);

}  // namespace wlsync::access
