#include "cli/import_rows.h"

#include "base/strings.h"
#include "model/fields.h"
#include "model/validate.h"

namespace wlsync::cli {

const std::vector<std::string_view>& ChangeColumns() {
  static const auto* const kColumns =
      new std::vector<std::string_view>{"op", "id_doc", "field", "value"};
  return *kColumns;
}

absl::StatusOr<std::vector<int>> MapHeader(const model::CsvRow& header,
                                           const std::vector<std::string_view>& expected,
                                           const std::string& file) {
  std::vector<int> index(expected.size(), -1);
  for (size_t c = 0; c < header.cells.size(); ++c) {
    for (size_t e = 0; e < expected.size(); ++e) {
      if (header.cells[c] == expected[e]) index[e] = static_cast<int>(c);
    }
  }
  for (size_t e = 0; e < expected.size(); ++e) {
    if (index[e] < 0) {
      return absl::InvalidArgumentError(
          base::StrCat(file, ": line ", header.line, ": header lacks column ", expected[e]));
    }
  }
  return index;
}

absl::StatusOr<v1::ImportRow> ToRow(const model::CsvRow& row, const std::vector<int>& index,
                                    size_t header_cells, bool changes) {
  if (row.cells.size() != header_cells) {
    return absl::InvalidArgumentError(
        base::StrCat("expected ", header_cells, " cells, found ", row.cells.size()));
  }
  v1::ImportRow out;
  out.set_line(row.line);
  if (changes) {
    v1::ChangeRow* c = out.mutable_change();
    c->set_op(row.cells[index[0]]);
    c->set_id_doc(row.cells[index[1]]);
    c->set_field(row.cells[index[2]]);
    c->set_value(row.cells[index[3]]);
    return out;
  }
  const std::vector<std::string_view>& columns = model::DataColumns();
  v1::PersonFields* f = out.mutable_upsert();
  for (size_t e = 0; e < columns.size(); ++e) {
    *model::MutableField(f, columns[e]) = row.cells[index[e]];
  }
  return out;
}

}  // namespace wlsync::cli
