// The catalogue of known grids (the smallest management areas) and the jurisdictions that own
// them, loaded from grids.csv (`grid,jurisdiction,name,kind`). Validation asks it whether a
// grid or jurisdiction exists; the generator walks its entries in file order.
#ifndef WLSYNC_MODEL_GRIDS_H_
#define WLSYNC_MODEL_GRIDS_H_

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace wlsync::model {

// One row of grids.csv.
struct GridInfo {
  std::string grid;          // e.g. "WH-MAYI-01"; unique.
  std::string jurisdiction;  // e.g. "waihai".
  std::string name;          // display name, may be empty.
  std::string kind;          // "residential" or "industrial".
};

// An immutable-after-load set of grids. Copyable and movable; const methods are safe to call
// from many threads at once, Add is not.
class Grids {
 public:
  // Column names of grids.csv, in file order.
  static const std::vector<std::string_view>& Columns();

  // Reads grids.csv (UTF-8). Errors name the file and the line: a bad header, a wrong cell
  // count, an empty grid or jurisdiction, an unknown kind, a repeated grid id.
  static absl::StatusOr<Grids> LoadFile(const std::string& path);

  // For tests: (grid, jurisdiction) pairs, kind "residential". A repeated grid keeps the
  // first pair.
  static Grids FromLists(const std::vector<std::pair<std::string, std::string>>& grids);

  // Adds one grid. Returns AlreadyExists when the grid id is taken, InvalidArgument when the
  // grid id or jurisdiction is empty or the kind is not residential/industrial.
  absl::Status Add(GridInfo info);

  bool HasGrid(std::string_view grid) const;
  bool HasJurisdiction(std::string_view jurisdiction) const;
  std::optional<std::string> JurisdictionOf(std::string_view grid) const;

  // Entries in insertion (file) order; stable across runs, unlike the hash containers.
  const std::vector<GridInfo>& entries() const { return entries_; }
  size_t size() const { return entries_.size(); }

 private:
  std::vector<GridInfo> entries_;
  absl::flat_hash_map<std::string, size_t> by_grid_;  // grid id -> index in entries_.
  absl::flat_hash_set<std::string> jurisdictions_;
};

}  // namespace wlsync::model

#endif  // WLSYNC_MODEL_GRIDS_H_
