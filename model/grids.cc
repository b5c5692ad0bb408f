#include "model/grids.h"

#include "absl/strings/str_cat.h"
#include "model/csv.h"

namespace wlsync::model {
namespace {

// Debian's Abseil is built with its own absl::string_view, which does not convert from
// std::string_view.
absl::string_view Av(std::string_view s) { return absl::string_view(s.data(), s.size()); }

}  // namespace

const std::vector<std::string_view>& Grids::Columns() {
  static const auto* const kColumns =
      new std::vector<std::string_view>{"grid", "jurisdiction", "name", "kind"};
  return *kColumns;
}

absl::StatusOr<Grids> Grids::LoadFile(const std::string& path) {
  absl::StatusOr<std::unique_ptr<CsvReader>> reader = CsvReader::Open(path, Encoding::kUtf8);
  if (!reader.ok()) return reader.status();

  CsvRow row;
  absl::StatusOr<bool> more = (*reader)->Next(&row);
  if (!more.ok()) return more.status();
  if (!*more) return absl::InvalidArgumentError(absl::StrCat(path, ": empty file, no header"));
  if (absl::Status s = CheckHeader(row, Columns()); !s.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": ", s.message()));
  }

  Grids grids;
  while (true) {
    more = (*reader)->Next(&row);
    if (!more.ok()) return more.status();
    if (!*more) break;
    const auto fail = [&](absl::string_view why) {
      return absl::InvalidArgumentError(absl::StrCat(path, ": line ", row.line, ": ", why));
    };
    if (row.cells.size() != Columns().size()) {
      return fail(absl::StrCat("expected ", Columns().size(), " cells, found ", row.cells.size()));
    }
    absl::Status added = grids.Add(GridInfo{.grid = std::move(row.cells[0]),
                                            .jurisdiction = std::move(row.cells[1]),
                                            .name = std::move(row.cells[2]),
                                            .kind = std::move(row.cells[3])});
    if (!added.ok()) return fail(added.message());
  }
  return grids;
}

Grids Grids::FromLists(const std::vector<std::pair<std::string, std::string>>& grids) {
  Grids out;
  for (const auto& [grid, jurisdiction] : grids) {
    // A repeat is documented to keep the first pair, so the AlreadyExists is expected.
    out.Add(GridInfo{.grid = grid, .jurisdiction = jurisdiction, .name = "", .kind = "residential"})
        .IgnoreError();
  }
  return out;
}

absl::Status Grids::Add(GridInfo info) {
  if (info.grid.empty()) return absl::InvalidArgumentError("grid: required");
  if (info.jurisdiction.empty()) return absl::InvalidArgumentError("jurisdiction: required");
  if (info.kind != "residential" && info.kind != "industrial") {
    return absl::InvalidArgumentError("kind: must be residential or industrial");
  }
  if (by_grid_.contains(info.grid)) return absl::AlreadyExistsError("grid: listed twice");

  by_grid_.emplace(info.grid, entries_.size());
  jurisdictions_.insert(info.jurisdiction);
  entries_.push_back(std::move(info));
  return absl::OkStatus();
}

bool Grids::HasGrid(std::string_view grid) const { return by_grid_.contains(Av(grid)); }

bool Grids::HasJurisdiction(std::string_view jurisdiction) const {
  return jurisdictions_.contains(Av(jurisdiction));
}

std::optional<std::string> Grids::JurisdictionOf(std::string_view grid) const {
  auto it = by_grid_.find(Av(grid));
  if (it == by_grid_.end()) return std::nullopt;
  return entries_[it->second].jurisdiction;
}

}  // namespace wlsync::model
