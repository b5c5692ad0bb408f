// How `wlsync import` and `wlsync apply` turn CSV rows into ImportRows: the header's columns
// are found by name, then each row becomes an upsert (commuters format) or a change (changes
// format). Without gRPC, so that tests and the CSV fuzz target (tests/fuzz) run it directly.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "model/csv.h"
#include "wlsync/v1/registry.pb.h"

namespace wlsync::cli {

// The columns of a changes file (`wlsync apply`), in their usual order.
const std::vector<std::string_view>& ChangeColumns();

// Position in `header` of each name of `expected` (a name found twice: its last position).
// The error names `file`, the line and the first missing name.
absl::StatusOr<std::vector<int>> MapHeader(const model::CsvRow& header,
                                           const std::vector<std::string_view>& expected,
                                           const std::string& file);

// The ImportRow of one row, or why the row is refused (a cell count other than the
// header's). `index` comes from MapHeader with model::DataColumns() (or ChangeColumns()
// when `changes`) and a header of `header_cells` cells. Values are passed on as read: the
// node normalizes and validates them.
absl::StatusOr<v1::ImportRow> ToRow(const model::CsvRow& row, const std::vector<int>& index,
                                    size_t header_cells, bool changes);

}  // namespace wlsync::cli
