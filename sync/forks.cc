#include "sync/forks.h"

#include "base/logging.h"
#include "base/strings.h"
#include "model/pid.h"

namespace wlsync::sync {
namespace {

// local/fork/<origin>/<epoch hex> -> ForkedStream. Origin names hold no '/'.
constexpr std::string_view kPrefix = "local/fork/";

std::string Key(const storage::StreamId& id) { return base::StrCat(kPrefix, StreamName(id)); }

}  // namespace

std::string StreamName(const storage::StreamId& id) {
  return base::StrCat(id.origin, "/", model::HexEncode(id.epoch));
}

absl::StatusOr<storage::StreamId> ParseStreamName(std::string_view name) {
  size_t slash = name.find('/');
  absl::StatusOr<std::string> epoch = absl::InvalidArgumentError("");
  if (slash != std::string_view::npos) epoch = model::HexDecode(name.substr(slash + 1));
  if (slash == 0 || !epoch.ok() || epoch->size() != 16) {
    return absl::InvalidArgumentError(
        "stream: give ORIGIN/EPOCH as `wlsync fork list` prints it (EPOCH: 32 hex characters)");
  }
  return storage::StreamId{std::string(name.substr(0, slash)), *std::move(epoch)};
}

absl::Status ForkedStreams::Load() {
  std::lock_guard<std::mutex> lock(mu_);
  absl::Status bad;
  absl::Status s = store_.Scan(
      storage::Table::kLocal, kPrefix, "", [&](std::string_view key, std::string_view value) {
        v1::ForkedStream f;
        if (!f.ParseFromArray(value.data(), static_cast<int>(value.size()))) {
          bad = absl::DataLossError(base::StrCat("fork record ", key, " does not parse"));
          return false;
        }
        forks_[{f.origin(), f.epoch()}] = std::move(f);
        return true;
      });
  if (!s.ok()) return s;
  if (!bad.ok()) return bad;
  for (const auto& [id, f] : forks_) {
    base::Logger("sync")->warn(
        "origin={} epoch={} seq={} stream refused after a fork recorded before the restart; "
        "`wlsync fork list` shows it",
        id.origin, model::HexEncode(id.epoch), f.seq());
  }
  return absl::OkStatus();
}

bool ForkedStreams::Contains(const storage::StreamId& stream) const {
  std::lock_guard<std::mutex> lock(mu_);
  return forks_.contains(stream);
}

absl::Status ForkedStreams::Add(const v1::ForkedStream& fork) {
  storage::StreamId id{fork.origin(), fork.epoch()};
  storage::TableBatch b;
  b.puts.push_back({storage::Table::kLocal, Key(id), fork.SerializeAsString()});
  std::lock_guard<std::mutex> lock(mu_);
  if (!forks_.emplace(id, fork).second) return absl::OkStatus();
  if (absl::Status s = store_.Write(b, /*sync=*/true); !s.ok()) {
    return absl::Status(s.code(),
                        base::StrCat("fork of ", StreamName(id),
                                     " not recorded, refused until a restart only: ", s.message()));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::optional<v1::ForkedStream>> ForkedStreams::Clear(
    const storage::StreamId& stream) {
  storage::TableBatch b;
  b.deletes.push_back({storage::Table::kLocal, Key(stream)});
  std::lock_guard<std::mutex> lock(mu_);
  auto it = forks_.find(stream);
  if (it == forks_.end()) return std::nullopt;
  if (absl::Status s = store_.Write(b, /*sync=*/true); !s.ok()) return s;
  v1::ForkedStream cleared = std::move(it->second);
  forks_.erase(it);
  base::Logger("sync")->warn("origin={} epoch={} fork cleared: the stream is accepted again",
                             stream.origin, model::HexEncode(stream.epoch));
  return cleared;
}

std::vector<v1::ForkedStream> ForkedStreams::List() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<v1::ForkedStream> out;
  for (const auto& [id, f] : forks_) out.push_back(f);
  return out;
}

}  // namespace wlsync::sync
