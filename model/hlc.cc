#include "model/hlc.h"

#include <time.h>

#include <algorithm>

namespace wlsync::model {

int64_t SystemWallClock::NowMs() const {
  timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000 + ts.tv_nsec / 1000000;
}

HybridClock::HybridClock(const WallClock& wall, uint64_t high_water)
    : wall_(wall), last_(high_water) {}

void HybridClock::NoteWall(uint64_t wall) {
  uint64_t prev = max_wall_.load(std::memory_order_acquire);
  while (wall > prev &&
         !max_wall_.compare_exchange_weak(prev, wall, std::memory_order_acq_rel)) {
  }
}

uint64_t HybridClock::GuardNow() {
  NoteWall(WallNow());
  return max_wall_.load(std::memory_order_acquire);
}

uint64_t HybridClock::Tick() {
  uint64_t wall = WallNow();
  NoteWall(wall);
  uint64_t prev = last_.load(std::memory_order_acquire);
  uint64_t next;
  do {
    // Counter overflow simply carries into the millisecond part: still monotonic.
    next = std::max(wall, prev + 1);
  } while (!last_.compare_exchange_weak(prev, next, std::memory_order_acq_rel));
  return next;
}

void HybridClock::Observe(uint64_t remote) {
  uint64_t prev = last_.load(std::memory_order_acquire);
  while (remote > prev &&
         !last_.compare_exchange_weak(prev, remote, std::memory_order_acq_rel)) {
  }
}

}  // namespace wlsync::model
