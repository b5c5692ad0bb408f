// Counters keyed by label values ("peer", "origin", "outcome", ...), kept by the component
// that counts and read by the metrics exposition at scrape time. No metrics library here:
// components stay free of it, and daemon/node_metrics.cc turns tallies into metric families.
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace wlsync::base {

// Monotonic counters, one per distinct tuple of label values. The caller bounds the label
// values (configured peer names, trusted origins, fixed outcome words): a value that comes
// from the outside must be mapped to a fixed word first, or a hostile peer could grow the
// map without end. Thread safe.
class Tally {
 public:
  using Key = std::vector<std::string>;

  void Add(std::vector<std::string> key, uint64_t n = 1) {
    std::lock_guard<std::mutex> lock(mu_);
    counts_[std::move(key)] += n;
  }

  // Every tuple seen so far with its count, in label order.
  std::vector<std::pair<Key, uint64_t>> Snapshot() const {
    std::lock_guard<std::mutex> lock(mu_);
    return {counts_.begin(), counts_.end()};
  }

  // The count of one tuple; 0 when never added.
  uint64_t Get(const Key& key) const {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = counts_.find(key);
    return it == counts_.end() ? 0 : it->second;
  }

 private:
  mutable std::mutex mu_;
  std::map<Key, uint64_t> counts_;  // guarded by mu_
};

}  // namespace wlsync::base
