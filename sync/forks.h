// Streams refused after a fork: two different bodies signed for one position of an
// origin's stream. Kept in the store (docs/storage.md, `local/fork/`), so a forked stream
// stays refused across restarts until an admin clears it (`wlsync fork clear`). The writer
// records and checks forks here; the Emergency service lists and clears them.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "storage/store.h"
#include "wlsync/v1/delta.pb.h"

namespace wlsync::sync {

// "origin/epoch-hex", as status and the CLI name a stream.
std::string StreamName(const storage::StreamId& id);
// Inverse of StreamName; INVALID_ARGUMENT when `name` is not of that shape.
absl::StatusOr<storage::StreamId> ParseStreamName(std::string_view name);

// Lifecycle: construct, Load once before use, then any method from any thread. `store`
// must outlive it. Thread safe; each change is written (synced) to the store before it
// takes effect.
class ForkedStreams {
 public:
  explicit ForkedStreams(storage::Store& store) : store_(store) {}

  // Reads the forks recorded before; DATA_LOSS when one does not parse.
  absl::Status Load();

  bool Contains(const storage::StreamId& stream) const;

  // Refuses the stream from now on and records why. The first record of a stream is kept
  // (later conflicts of a refused stream are not checked). The stream is refused even when
  // the store cannot record it; the error says that it would not survive a restart.
  absl::Status Add(const v1::ForkedStream& fork);

  // Accepts the stream again (durable when it returns). Returns the record cleared, or
  // nullopt when the stream was not refused (nothing changes then).
  absl::StatusOr<std::optional<v1::ForkedStream>> Clear(const storage::StreamId& stream);

  // Every refused stream, in stream order.
  std::vector<v1::ForkedStream> List() const;

 private:
  storage::Store& store_;
  // Serializes the store writes with the map, so that the store and memory agree.
  mutable std::mutex mu_;
  std::map<storage::StreamId, v1::ForkedStream> forks_;  // guarded by mu_
};

}  // namespace wlsync::sync
