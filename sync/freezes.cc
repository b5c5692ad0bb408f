#include "sync/freezes.h"

#include "base/logging.h"
#include "base/strings.h"

namespace wlsync::sync {
namespace {

constexpr std::string_view kPrefix = "local/freeze/";

}  // namespace

PeerFreezes::PeerFreezes(storage::Store& store, std::function<int64_t()> now_ms)
    : store_(store), now_ms_(std::move(now_ms)) {}

absl::Status PeerFreezes::Load() {
  std::lock_guard<std::mutex> lock(mu_);
  absl::Status bad;
  absl::Status s = store_.Scan(storage::Table::kLocal, kPrefix, "",
                               [&](std::string_view key, std::string_view value) {
                                 v1::FrozenPeer f;
                                 if (!f.ParseFromArray(value.data(), static_cast<int>(value.size()))) {
                                   bad = absl::DataLossError(base::StrCat("freeze ", key, " does not parse"));
                                   return false;
                                 }
                                 frozen_[f.peer()] = f;
                                 return true;
                               });
  return s.ok() ? bad : s;
}

absl::Status PeerFreezes::Freeze(const std::string& peer, const std::string& reason) {
  v1::FrozenPeer f;
  f.set_peer(peer);
  f.set_reason(reason);
  f.set_since_unix_ms(now_ms_());
  storage::TableBatch b;
  b.puts.push_back({storage::Table::kLocal, base::StrCat(kPrefix, peer), f.SerializeAsString()});
  std::lock_guard<std::mutex> lock(mu_);
  if (frozen_.contains(peer)) return absl::OkStatus();
  if (absl::Status s = store_.Write(b, /*sync=*/true); !s.ok()) return s;
  frozen_[peer] = f;
  base::Logger("sync")->warn("peer={} frozen by the operator: no pulls from it, no calls served",
                             peer);
  return absl::OkStatus();
}

absl::Status PeerFreezes::Unfreeze(const std::string& peer) {
  storage::TableBatch b;
  b.deletes.push_back({storage::Table::kLocal, base::StrCat(kPrefix, peer)});
  std::lock_guard<std::mutex> lock(mu_);
  if (!frozen_.contains(peer)) return absl::OkStatus();
  if (absl::Status s = store_.Write(b, /*sync=*/true); !s.ok()) return s;
  frozen_.erase(peer);
  base::Logger("sync")->warn("peer={} unfrozen by the operator", peer);
  return absl::OkStatus();
}

std::optional<v1::FrozenPeer> PeerFreezes::Get(const std::string& peer) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = frozen_.find(peer);
  if (it == frozen_.end()) return std::nullopt;
  return it->second;
}

std::vector<v1::FrozenPeer> PeerFreezes::List() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<v1::FrozenPeer> out;
  for (const auto& [peer, f] : frozen_) out.push_back(f);
  return out;
}

}  // namespace wlsync::sync
