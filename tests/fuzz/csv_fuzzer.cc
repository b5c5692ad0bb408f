// Fuzz target: a CSV file as `wlsync import` (commuters) or `wlsync apply` (changes) reads
// it, and the node's validation of each row. The file goes through model::CsvReader, the
// CLI's header mapping and row building (cli/import_rows.h), then the planner's checks that
// the node's Import runs on every row (daemon/registry_service.cc, PrepareRow).
//
// An input is one flags byte and the file's bytes:
//   bit 0: the changes format (op,id_doc,field,value) instead of commuters;
//   bit 1: GB18030 instead of UTF-8;
//   bits 2-7: n > 0 hands the file to the decoder n bytes at a time (splitting sequences
//             and line ends across chunks), 0 in one chunk.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "base/strings.h"
#include "cli/import_rows.h"
#include "model/csv.h"
#include "model/fields.h"
#include "model/grids.h"
#include "model/validate.h"
#include "model/writes.h"
#include "tests/fuzz/fuzz_support.h"

namespace wlsync::fuzz {
namespace {

constexpr size_t kMaxRecords = 10000;

struct Validation {
  ScratchDir dir{"csv"};
  model::FederationKey federation = TestFederationKey(dir);
  model::Grids grids;
  model::OwnershipPolicy policy;
  model::WritePlanner planner{"waihai", federation, grids, policy};

  Validation() {
    absl::StatusOr<model::Grids> loaded = model::Grids::LoadFile(SampleGridsPath());
    WLSYNC_FUZZ_CHECK(loaded.ok(), loaded.status().message());
    grids = *std::move(loaded);
  }
};

Validation* validation = nullptr;

// An upsert row as the node prepares it. A prepared row must pass again unchanged, with the
// same pid: normalization is idempotent and only yields values that validate.
void CheckUpsert(const v1::PersonFields& row) {
  v1::PersonFields fields = row;
  absl::StatusOr<std::string> pid = validation->planner.PrepareUpsert(&fields);
  if (!pid.ok()) return;
  WLSYNC_FUZZ_CHECK(model::IsValidPid(*pid), "prepared row without a valid pid");

  v1::PersonFields again = fields;
  absl::StatusOr<std::string> pid_again = validation->planner.PrepareUpsert(&again);
  WLSYNC_FUZZ_CHECK(pid_again.ok(), base::StrCat("a prepared row is refused the second time: ",
                                                 pid_again.status().message()));
  WLSYNC_FUZZ_CHECK(*pid_again == *pid && again.SerializeAsString() == fields.SerializeAsString(),
                    "preparing a prepared row changed it");
}

// A change row as the node prepares it, with the same idempotence as CheckUpsert.
void CheckChange(const v1::ChangeRow& row) {
  absl::StatusOr<std::string> pid = validation->planner.PidOf(row.id_doc());
  if (!pid.ok() || row.op() != "set") return;
  model::FieldEdit edit{row.field(), row.value()};
  if (!validation->planner.PrepareEdit(&edit).ok()) return;

  model::FieldEdit again = edit;
  absl::Status s = validation->planner.PrepareEdit(&again);
  WLSYNC_FUZZ_CHECK(s.ok(),
                    base::StrCat("a prepared edit is refused the second time: ", s.message()));
  WLSYNC_FUZZ_CHECK(again.field == edit.field && again.value == edit.value,
                    "preparing a prepared edit changed it");
}

// Every cell the reader hands out is UTF-8 (checked or converted), and lines only grow.
void CheckRow(const model::CsvRow& row, int64_t* last_line) {
  WLSYNC_FUZZ_CHECK(row.line >= 1 && row.line >= *last_line, "row line went backwards");
  *last_line = row.line;
  for (const std::string& cell : row.cells) {
    WLSYNC_FUZZ_CHECK(model::IsValidUtf8(cell), "the reader handed out a cell that is not UTF-8");
  }
}

// The rows read, written back with every cell quoted, read back the same, each starting at
// the line where it was written: nothing the reader hands out depends on how the file
// happened to spell it, and quoted line breaks count as lines.
void CheckRoundTrip(const std::vector<std::vector<std::string>>& rows) {
  std::string text;
  std::vector<int64_t> lines;
  for (const std::vector<std::string>& cells : rows) {
    lines.push_back(1 + std::count(text.begin(), text.end(), '\n'));
    for (size_t i = 0; i < cells.size(); ++i) {
      if (i > 0) text += ',';
      text += '"';
      for (char c : cells[i]) text.append(c == '"' ? 2 : 1, c);
      text += '"';
    }
    text += "\r\n";
  }
  absl::StatusOr<std::unique_ptr<model::CsvReader>> reader =
      model::CsvReader::FromString(text, model::Encoding::kUtf8);
  WLSYNC_FUZZ_CHECK(reader.ok(), reader.status().message());
  model::CsvRow row;
  for (size_t i = 0; i < rows.size(); ++i) {
    absl::StatusOr<bool> more = (*reader)->Next(&row);
    WLSYNC_FUZZ_CHECK(more.ok() && *more && row.cells == rows[i],
                      "a row written back quoted reads back different");
    WLSYNC_FUZZ_CHECK(row.line == lines[i], base::StrCat("a row written at line ", lines[i],
                                                         " reads back at line ", row.line));
  }
  absl::StatusOr<bool> more = (*reader)->Next(&row);
  WLSYNC_FUZZ_CHECK(more.ok() && !*more, "a file written back quoted reads back longer");
}

void Run(std::string_view file, bool changes, model::Encoding encoding, size_t chunk) {
  absl::StatusOr<std::unique_ptr<model::CsvReader>> reader = model::CsvReader::FromString(
      std::string(file), encoding, chunk == 0 ? model::CsvReader::kDefaultChunkSize : chunk,
      "fuzz.csv");
  if (!reader.ok()) return;

  model::CsvRow header;
  absl::StatusOr<bool> has_header = (*reader)->Next(&header);
  if (!has_header.ok() || !*has_header) return;
  int64_t last_line = 0;
  CheckRow(header, &last_line);
  std::vector<std::vector<std::string>> read = {header.cells};
  const std::vector<std::string_view>& columns =
      changes ? cli::ChangeColumns() : model::DataColumns();
  (void)model::CheckHeader(header, columns);
  absl::StatusOr<std::vector<int>> index = cli::MapHeader(header, columns, "fuzz.csv");

  model::CsvRow row;
  std::string last_error;
  for (size_t n = 0; n < kMaxRecords; ++n) {
    absl::StatusOr<bool> more = (*reader)->Next(&row);
    if (!more.ok()) {
      // The same error twice is the sticky kind: the reader is done.
      std::string error(more.status().message());
      if (error == last_error) break;
      last_error = std::move(error);
      continue;
    }
    if (!*more) break;
    last_error.clear();
    CheckRow(row, &last_line);
    read.push_back(row.cells);
    if (!index.ok()) continue;
    absl::StatusOr<v1::ImportRow> r = cli::ToRow(row, *index, header.cells.size(), changes);
    if (!r.ok()) continue;
    if (r->has_upsert()) CheckUpsert(r->upsert());
    if (r->has_change()) CheckChange(r->change());
  }
  CheckRoundTrip(read);
}

}  // namespace
}  // namespace wlsync::fuzz

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  wlsync::fuzz::validation = new wlsync::fuzz::Validation();
  std::atexit([] { delete wlsync::fuzz::validation; });
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const uint8_t flags = data[0];
  std::string_view file(reinterpret_cast<const char*>(data) + 1, size - 1);
  wlsync::fuzz::Run(
      file, /*changes=*/(flags & 1) != 0,
      (flags & 2) != 0 ? wlsync::model::Encoding::kGb18030 : wlsync::model::Encoding::kUtf8,
      /*chunk=*/flags >> 2);
  return 0;
}
