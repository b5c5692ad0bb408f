#include <catch2/catch.hpp>

#include "model/hlc.h"

namespace wlsync::model {
namespace {

class FakeClock final : public WallClock {
 public:
  int64_t NowMs() const override { return now; }
  int64_t now = 1'700'000'000'000;
};

TEST_CASE("Hlc: stamps strictly increase while the wall clock stands still", "[model]") {
  FakeClock wall;
  HybridClock clock(wall, 0);
  uint64_t a = clock.Tick();
  uint64_t b = clock.Tick();
  REQUIRE(b > a);
  REQUIRE(HlcMillis(a) == static_cast<uint64_t>(wall.now));
  REQUIRE(HlcCounter(b) == HlcCounter(a) + 1);
}

TEST_CASE("Hlc: never goes backwards when the wall clock jumps back", "[model]") {
  FakeClock wall;
  HybridClock clock(wall, 0);
  uint64_t before = clock.Tick();
  wall.now -= 3'600'000;
  REQUIRE(clock.Tick() > before);
}

TEST_CASE("Hlc: starts above the persisted high-water mark", "[model]") {
  FakeClock wall;
  uint64_t high_water = HlcPack(static_cast<uint64_t>(wall.now) + 5000, 7);
  HybridClock clock(wall, high_water);
  REQUIRE(clock.Tick() > high_water);
}

TEST_CASE("Hlc: an observed remote stamp orders later local stamps after it", "[model]") {
  FakeClock wall;
  HybridClock clock(wall, 0);
  uint64_t remote = HlcPack(static_cast<uint64_t>(wall.now) + 2000, 3);
  clock.Observe(remote);
  REQUIRE(clock.Current() == remote);
  REQUIRE(clock.Tick() > remote);
  clock.Observe(HlcPack(1, 0));  // an older stamp changes nothing
  REQUIRE(clock.Current() > remote);
}

TEST_CASE("Hlc: a full counter carries into the milliseconds", "[model]") {
  FakeClock wall;
  HybridClock clock(wall, HlcPack(static_cast<uint64_t>(wall.now), 0xffff));
  uint64_t next = clock.Tick();
  REQUIRE(HlcMillis(next) == static_cast<uint64_t>(wall.now) + 1);
  REQUIRE(HlcCounter(next) == 0);
}

}  // namespace
}  // namespace wlsync::model
