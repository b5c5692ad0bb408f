// Streaming RFC 4180 reader for the registry's CSV files (commuters, grids, changes) as real
// spreadsheets export them: optional BOM, CRLF or LF, padded cells, GB18030 from Chinese
// Excel. Start with CsvReader::Open and call Next until it returns false; check the first row
// with CheckHeader. Messages name the file and line, never cell contents.
#ifndef WLSYNC_MODEL_CSV_H_
#define WLSYNC_MODEL_CSV_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace wlsync::model {

enum class Encoding { kUtf8, kGb18030 };

// "utf-8", "utf8" or "gb18030", any case. InvalidArgument otherwise.
absl::StatusOr<Encoding> ParseEncoding(std::string_view name);

// One record. `line` is the 1-based physical line where the record starts (the header is
// line 1); a quoted cell with newlines makes the next record start further down.
struct CsvRow {
  int64_t line = 0;
  std::vector<std::string> cells;
};

namespace csv_internal {
class ByteSource;  // A chunked stream of UTF-8 bytes; defined in csv.cc.
}  // namespace csv_internal

// Reads records one at a time from a file or string, holding one chunk (about 1 MiB) of the
// input in memory, never the whole file.
//
// Accepted: a UTF-8 byte-order mark (also one produced by GB18030 conversion), CRLF and LF
// line ends, quoted cells with commas, newlines and "" escapes, spaces and tabs around cells
// outside quotes (dropped; inside quotes kept), blank lines (skipped). A quote inside an
// unquoted cell is kept as a literal character.
//
// Errors: an unterminated quote, characters after a closing quote, a record over 1 MiB, and
// for GB18030 input an invalid or truncated byte sequence. After "characters after a closing
// quote" the rest of that line is skipped and Next may be called again; every other error is
// sticky (each later Next returns it).
//
// Not thread safe; one reader per thread. Owns its file handle, closed on destruction.
class CsvReader {
 public:
  static constexpr size_t kDefaultChunkSize = size_t{1} << 20;
  static constexpr size_t kMaxRecordBytes = size_t{1} << 20;

  // Opens `path`. The whole file is first scanned (in chunks). For kUtf8 it is refused when it
  // is not valid UTF-8, with a hint to use --encoding gb18030. For kGb18030 it is refused
  // when it is UTF-8 Chinese (well-formed UTF-8 with ideographs or a UTF-8 byte-order mark),
  // else its bytes are converted to UTF-8 with iconv while reading.
  static absl::StatusOr<std::unique_ptr<CsvReader>> Open(const std::string& path, Encoding enc);

  // As Open, over `data` named `name` in messages. The input is handed to the decoder
  // `chunk_size` bytes at a time (at least 1), so tests can split sequences across chunks.
  static absl::StatusOr<std::unique_ptr<CsvReader>> FromString(
      std::string data, Encoding enc, size_t chunk_size = kDefaultChunkSize,
      std::string name = "<memory>");

  CsvReader(const CsvReader&) = delete;
  CsvReader& operator=(const CsvReader&) = delete;
  ~CsvReader();

  // Reads the next record into `row` (reusing its storage). Returns false at the end of input.
  absl::StatusOr<bool> Next(CsvRow* row);
  // After Next returned an error: why that record alone was skipped, when the next Next
  // reads on after it; empty when the error stops reading (it is sticky).
  std::string_view skipped_reason() const { return skipped_reason_; }

  // The path or name given at open, as used in messages.
  const std::string& name() const { return name_; }

 private:
  CsvReader(std::string name, std::unique_ptr<csv_internal::ByteSource> source);

  int Get();   // Next byte, or -1 at end of input or on a read error (then status_ is set).
  int Peek();  // As Get, without consuming.
  bool Fill();

  absl::StatusOr<bool> ReadRecord(CsvRow* row, bool* blank);
  absl::Status Fail(int64_t line, std::string_view what);
  void SkipRestOfLine();

  const std::string name_;
  std::unique_ptr<csv_internal::ByteSource> source_;
  std::string_view chunk_;
  size_t pos_ = 0;
  int64_t line_ = 1;
  bool eof_ = false;
  absl::Status status_;  // Sticky error; once set every Next returns it.
  std::string_view skipped_reason_;  // a literal, set when the last Next skipped a record
};

// Checks that a header row holds exactly `expected`, in order. The message names the first
// differing column by position and its expected name, never the text found (a file without
// a header would otherwise leak its first person).
absl::Status CheckHeader(const CsvRow& row, const std::vector<std::string_view>& expected);

}  // namespace wlsync::model

#endif  // WLSYNC_MODEL_CSV_H_
