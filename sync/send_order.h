// The order in which Pull sends a peer the deltas this node holds: causal across origins.
// Start with SendOrder.
#pragma once

#include <cstdint>
#include <deque>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "storage/store.h"

namespace wlsync::sync {

using StreamEntry = std::pair<storage::StreamId, storage::StreamState>;

// The streams of each origin in the order they were written, oldest epoch first. Epoch ids
// are random, so the cursors' key order is not that order. An origin's epochs follow one
// another (every start of a node begins one, and its clock never goes back), so the
// highest HLC of each orders them. A later epoch may edit a person an earlier one
// registered: sent first, that edit would meet no record at a peer catching up, and the
// ownership rule would quarantine it for want of a home.
std::vector<const StreamEntry*> InWrittenOrder(const std::vector<StreamEntry>& streams);

// Deltas read ahead from the log, a few per origin, handed out in causal order: each
// origin's in the order written, and among origins the one with the lowest highest-HLC
// first. A node that applies a delta observes its HLC, so whatever it writes afterwards
// carries a higher one: a delta always goes out after every delta it could depend on, from
// any origin. A peer catching up through this node thus gets waihai's registration of a
// person before guzhen's later edit of them; sent origin by origin, the edit could arrive
// first, meet no home, and be quarantined. Not thread safe (one per Pull).
class SendOrder {
 public:
  struct Delta {
    storage::StreamId stream;
    uint64_t seq = 0;
    std::string bytes;  // the signed delta as logged
    uint64_t max_hlc = 0;
  };

  // Reading starts after the peer's cursors.
  explicit SendOrder(const std::map<storage::StreamId, uint64_t>& cursors) : read_(cursors) {}

  // Reads ahead, from `streams` (one snapshot of the store's stream positions, in written
  // order), for every origin with nothing queued; never past a listed position.
  absl::Status Fill(const storage::Store& store, const std::vector<const StreamEntry*>& streams);

  // The next delta to send, taken off its queue; nothing when no origin has one queued.
  std::optional<Delta> Pop();

  // True while something of `streams` is queued or not yet read.
  bool Pending(const std::vector<StreamEntry>& streams) const;

  static constexpr size_t kReadAhead = 16;  // deltas read ahead per origin

 private:
  std::map<std::string, std::deque<Delta>> queues_;  // by origin
  std::map<storage::StreamId, uint64_t> read_;       // highest seq read, per stream
};

}  // namespace wlsync::sync
