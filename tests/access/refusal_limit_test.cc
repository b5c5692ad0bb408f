#include "access/refusal_limit.h"

#include <catch2/catch.hpp>

namespace wlsync::access {
namespace {

constexpr int64_t kT0 = 1'700'000'000'000;

RefusalLimitOptions Small() {
  RefusalLimitOptions o;
  o.per_address = 3;
  o.interval_ms = 60'000;
  o.max_addresses = 2;
  return o;
}

// Admits `n` refusals of `address` one millisecond apart from `at`; returns how many were
// to be audited one by one.
int Flood(RefusalLimiter& limiter, const std::string& address, int n, int64_t at) {
  int audited = 0;
  for (int i = 0; i < n; ++i) audited += limiter.Admit(address, at + i).audit ? 1 : 0;
  return audited;
}

TEST_CASE("RefusalLimiter: beyond the limit an address's refusals are summarized, none lost",
          "[access]") {
  RefusalLimiter limiter(Small());
  REQUIRE(Flood(limiter, "10.0.0.1", 3, kT0) == 3);
  RefusalLimiter::Verdict v = limiter.Admit("10.0.0.1", kT0 + 10);
  CHECK(!v.audit);
  CHECK(v.first_held_back);
  CHECK(Flood(limiter, "10.0.0.1", 96, kT0 + 11) == 0);
  // Another address has a budget of its own.
  CHECK(limiter.Admit("10.0.0.2", kT0 + 20).audit);

  // Nothing is due before the interval ends; then one summary of the 97 held back.
  CHECK(limiter.TakeDue(kT0 + 59'999).empty());
  std::vector<RefusalSummary> due = limiter.TakeDue(kT0 + 60'020);
  REQUIRE(due.size() == 1);
  CHECK(due[0].address == "10.0.0.1");
  CHECK(due[0].count == 97);
  CHECK(due[0].first_ms == kT0 + 10);
  CHECK(due[0].last_ms == kT0 + 106);
  // Both addresses' intervals ended: forgotten, and a new interval audits again.
  CHECK(limiter.tracked() == 0);
  CHECK(Flood(limiter, "10.0.0.1", 3, kT0 + 70'000) == 3);
}

TEST_CASE("RefusalLimiter: a refusal after the interval hands out the last one's summary",
          "[access]") {
  RefusalLimiter limiter(Small());
  Flood(limiter, "10.0.0.1", 5, kT0);
  RefusalLimiter::Verdict v = limiter.Admit("10.0.0.1", kT0 + 61'000);
  CHECK(v.audit);
  REQUIRE(v.due.has_value());
  CHECK(v.due->count == 2);
  CHECK(limiter.TakeDue(kT0 + 62'000).empty());  // handed out once only
  SECTION("at shutdown everything held back is due") {
    Flood(limiter, "10.0.0.1", 4, kT0 + 61'001);
    std::vector<RefusalSummary> all = limiter.TakeDue(kT0 + 61'100, /*all=*/true);
    REQUIRE(all.size() == 1);
    CHECK(all[0].count == 2);
    CHECK(limiter.tracked() == 0);
  }
}

TEST_CASE("RefusalLimiter: addresses beyond the cap share one bucket", "[access]") {
  RefusalLimiter limiter(Small());
  CHECK(limiter.Admit("10.0.0.1", kT0).bucket == "10.0.0.1");
  CHECK(limiter.Admit("10.0.0.2", kT0).bucket == "10.0.0.2");
  int audited = 0;
  for (int i = 3; i < 1003; ++i) {
    RefusalLimiter::Verdict v = limiter.Admit("10.0.0." + std::to_string(i), kT0 + i);
    CHECK(v.bucket == RefusalLimiter::kOtherAddresses);
    audited += v.audit ? 1 : 0;
  }
  CHECK(audited == 3);
  CHECK(limiter.tracked() == 3);
  std::vector<RefusalSummary> due = limiter.TakeDue(kT0 + 120'000);
  REQUIRE(due.size() == 1);
  CHECK(due[0].address == RefusalLimiter::kOtherAddresses);
  CHECK(due[0].count == 997);
}

TEST_CASE("RefusalLimiter: the source address drops the port", "[access]") {
  auto [peer, address] = GENERATE(table<std::string, std::string>({
      {"ipv4:127.0.0.1:43210", "127.0.0.1"},
      {"ipv6:[::1]:43210", "::1"},
      {"ipv6:[2001:db8::7]:1", "2001:db8::7"},
      {"unix:/run/wlsync.sock", "unix:/run/wlsync.sock"},
      {"", ""},
  }));
  CHECK(SourceAddress(peer) == address);
}

}  // namespace
}  // namespace wlsync::access
