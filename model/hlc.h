// Hybrid logical clock: stamps every write so that last-writer-wins merges agree on every
// node. A stamp is 48 bits of wall-clock milliseconds and a 16-bit counter in one uint64.
#pragma once

#include <atomic>
#include <cstdint>

namespace wlsync::model {

// Source of wall-clock time; tests inject their own.
class WallClock {
 public:
  virtual ~WallClock() = default;
  virtual int64_t NowMs() const = 0;
};

// The system clock (CLOCK_REALTIME).
class SystemWallClock final : public WallClock {
 public:
  int64_t NowMs() const override;
};

inline constexpr uint64_t HlcPack(uint64_t ms, uint64_t counter) {
  return (ms << 16) | (counter & 0xffff);
}
inline constexpr uint64_t HlcMillis(uint64_t hlc) { return hlc >> 16; }
inline constexpr uint64_t HlcCounter(uint64_t hlc) { return hlc & 0xffff; }

// The node's clock. Never goes backwards: it starts above the persisted high-water mark
// and above every stamp it has observed, even when the wall clock jumps back.
// Thread safe (lock-free). Does not own `wall`, which must outlive it.
class HybridClock {
 public:
  HybridClock(const WallClock& wall, uint64_t high_water);

  // A new stamp, strictly greater than every stamp issued or observed before.
  uint64_t Tick();
  // Takes a remote stamp into account so that later Ticks exceed it.
  void Observe(uint64_t remote);
  // The last stamp issued or observed.
  uint64_t Current() const { return last_.load(std::memory_order_acquire); }
  // Wall-clock now as an HLC with counter 0.
  uint64_t WallNow() const { return HlcPack(static_cast<uint64_t>(wall_.NowMs()), 0); }
  // What the clock-skew guard measures remote stamps against: the latest wall-clock time
  // this clock has read since it was made (as an HLC with counter 0). After the wall clock
  // jumps back, peers' stamps of the real time are not "ahead"; remote stamps never move
  // it, so a peer whose clock runs ahead cannot drag it along.
  uint64_t GuardNow();

 private:
  void NoteWall(uint64_t wall);

  const WallClock& wall_;
  std::atomic<uint64_t> last_;
  std::atomic<uint64_t> max_wall_{0};  // the latest WallNow() read by Tick or GuardNow
};

}  // namespace wlsync::model
