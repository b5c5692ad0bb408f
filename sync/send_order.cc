#include "sync/send_order.h"

#include <algorithm>
#include <set>
#include <string_view>

#include "sync/delta_scan.h"

namespace wlsync::sync {

std::vector<const StreamEntry*> InWrittenOrder(const std::vector<StreamEntry>& streams) {
  std::vector<const StreamEntry*> out;
  out.reserve(streams.size());
  for (const StreamEntry& s : streams) out.push_back(&s);
  std::stable_sort(out.begin(), out.end(), [](const StreamEntry* a, const StreamEntry* b) {
    if (a->first.origin != b->first.origin) return a->first.origin < b->first.origin;
    return a->second.max_hlc < b->second.max_hlc;
  });
  return out;
}

absl::Status SendOrder::Fill(const storage::Store& store,
                             const std::vector<const StreamEntry*>& streams) {
  std::set<std::string_view> behind;  // origins with an earlier epoch still to read
  for (const StreamEntry* entry : streams) {
    const auto& [id, state] = *entry;
    uint64_t& read = read_[id];
    if (behind.contains(id.origin) || state.seq <= read) continue;
    std::deque<Delta>& queue = queues_[id.origin];
    if (queue.empty()) {
      // No further than the listed position: `streams` is one snapshot, so what it holds
      // is causally closed. A delta committed since may edit a registration of another
      // origin that the snapshot lists as read to its end; read now, it would go first.
      absl::StatusOr<std::vector<std::pair<uint64_t, std::string>>> entries =
          store.ReadLog(id, read, std::min<uint64_t>(kReadAhead, state.seq - read));
      if (!entries.ok()) return entries.status();
      for (auto& [seq, bytes] : *entries) {
        uint64_t max_hlc = DeltaMaxHlc(bytes);
        queue.push_back(Delta{id, seq, std::move(bytes), max_hlc});
        read = seq;
      }
    }
    // A later epoch of the origin is read only once this one is read to its end.
    if (read < state.seq) behind.insert(id.origin);
  }
  return absl::OkStatus();
}

std::optional<SendOrder::Delta> SendOrder::Pop() {
  std::deque<Delta>* first = nullptr;
  for (auto& [origin, queue] : queues_) {
    if (queue.empty()) continue;
    if (first == nullptr || queue.front().max_hlc < first->front().max_hlc) first = &queue;
  }
  if (first == nullptr) return std::nullopt;
  Delta next = std::move(first->front());
  first->pop_front();
  return next;
}

bool SendOrder::Pending(const std::vector<StreamEntry>& streams) const {
  for (const auto& [origin, queue] : queues_) {
    if (!queue.empty()) return true;
  }
  for (const auto& [id, state] : streams) {
    auto it = read_.find(id);
    if (state.seq > (it == read_.end() ? 0 : it->second)) return true;
  }
  return false;
}

}  // namespace wlsync::sync
