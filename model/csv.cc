#include "model/csv.h"

#include <iconv.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "model/validate.h"

namespace wlsync::model {
namespace csv_internal {

// A stream of byte chunks. Read returns an empty view at the end of input; a returned view
// stays valid until the next Read.
class ByteSource {
 public:
  virtual ~ByteSource() = default;
  virtual absl::StatusOr<std::string_view> Read() = 0;
};

}  // namespace csv_internal

namespace {

using csv_internal::ByteSource;

constexpr std::string_view kBom = "\xEF\xBB\xBF";

// Debian's Abseil is built with its own absl::string_view, which does not convert from
// std::string_view.
absl::string_view Av(std::string_view s) { return absl::string_view(s.data(), s.size()); }

std::string JoinNames(const std::vector<std::string_view>& names) {
  std::string out;
  for (std::string_view n : names) {
    if (!out.empty()) out += ',';
    out += n;
  }
  return out;
}

int64_t CountNewlines(std::string_view s) { return std::count(s.begin(), s.end(), '\n'); }

class FileSource : public ByteSource {
 public:
  static absl::StatusOr<std::unique_ptr<ByteSource>> Open(const std::string& path) {
    std::FILE* f = std::fopen(path.c_str(), "rb");
    if (f == nullptr) {
      return absl::NotFoundError(absl::StrCat(path, ": cannot open: ", std::strerror(errno)));
    }
    return std::unique_ptr<ByteSource>(new FileSource(path, f));
  }

  absl::StatusOr<std::string_view> Read() override {
    const size_t n = std::fread(buf_.data(), 1, buf_.size(), file_.get());
    if (n == 0 && std::ferror(file_.get())) {
      return absl::DataLossError(absl::StrCat(path_, ": read failed: ", std::strerror(errno)));
    }
    return std::string_view(buf_.data(), n);
  }

 private:
  struct Closer {
    void operator()(std::FILE* f) const { std::fclose(f); }
  };

  FileSource(std::string path, std::FILE* f)
      : path_(std::move(path)), file_(f), buf_(CsvReader::kDefaultChunkSize, '\0') {}

  const std::string path_;
  const std::unique_ptr<std::FILE, Closer> file_;
  std::string buf_;
};

// Serves a shared in-memory string in chunks of a chosen size.
class StringSource : public ByteSource {
 public:
  StringSource(std::shared_ptr<const std::string> data, size_t chunk_size)
      : data_(std::move(data)), chunk_size_(std::max<size_t>(chunk_size, 1)) {}

  absl::StatusOr<std::string_view> Read() override {
    std::string_view rest = std::string_view(*data_).substr(pos_);
    std::string_view out = rest.substr(0, chunk_size_);
    pos_ += out.size();
    return out;
  }

 private:
  const std::shared_ptr<const std::string> data_;
  const size_t chunk_size_;
  size_t pos_ = 0;
};

// Drops a UTF-8 byte-order mark at the very start of the stream, even when the mark is split
// across the first chunks.
class BomSkipSource : public ByteSource {
 public:
  explicit BomSkipSource(std::unique_ptr<ByteSource> inner) : inner_(std::move(inner)) {}

  absl::StatusOr<std::string_view> Read() override {
    if (!deferred_.ok()) return deferred_;
    if (!first_) return inner_->Read();
    first_ = false;

    while (head_.size() < kBom.size()) {
      absl::StatusOr<std::string_view> chunk = inner_->Read();
      if (!chunk.ok()) {
        // Hand out the bytes already read (too few to be a BOM) before the error.
        if (head_.empty()) return chunk.status();
        deferred_ = chunk.status();
        return std::string_view(head_);
      }
      if (chunk->empty()) break;
      head_.append(*chunk);
    }
    std::string_view out = head_;
    if (out.substr(0, kBom.size()) == kBom) out.remove_prefix(kBom.size());
    // An empty view would mean the end of input; after a bare BOM there may be more.
    if (out.empty()) return inner_->Read();
    return out;
  }

 private:
  const std::unique_ptr<ByteSource> inner_;
  bool first_ = true;
  std::string head_;
  absl::Status deferred_;  // An error to report on the next Read.
};

// Converts GB18030 to UTF-8 with glibc iconv. A multibyte sequence cut by a chunk boundary
// (EINVAL) waits in pending_ for the next chunk; an invalid one (EILSEQ) is an error that
// names the line, counted from the newlines converted so far.
class Gb18030Source : public ByteSource {
 public:
  static absl::StatusOr<std::unique_ptr<ByteSource>> Create(std::string name,
                                                            std::unique_ptr<ByteSource> raw) {
    iconv_t cd = iconv_open("UTF-8", "GB18030");
    if (cd == reinterpret_cast<iconv_t>(-1)) {
      return absl::UnavailableError(absl::StrCat(name, ": iconv cannot convert from GB18030"));
    }
    return std::unique_ptr<ByteSource>(new Gb18030Source(std::move(name), std::move(raw), cd));
  }

  ~Gb18030Source() override { iconv_close(cd_); }

  absl::StatusOr<std::string_view> Read() override {
    if (!deferred_.ok()) return deferred_;
    out_.clear();
    while (out_.empty()) {
      absl::StatusOr<std::string_view> chunk = raw_->Read();
      if (!chunk.ok()) return chunk.status();
      if (chunk->empty()) {
        if (!pending_.empty()) return Fail(0, "GB18030 sequence cut off at end of file");
        return std::string_view();
      }
      pending_.append(*chunk);
      if (absl::Status s = Convert(); !s.ok()) {
        // Hand out the text converted before the bad sequence first, so that the records
        // ahead of it are still read.
        if (out_.empty()) return s;
        deferred_ = std::move(s);
        break;
      }
    }
    line_ += CountNewlines(out_);
    return std::string_view(out_);
  }

 private:
  Gb18030Source(std::string name, std::unique_ptr<ByteSource> raw, iconv_t cd)
      : name_(std::move(name)), raw_(std::move(raw)), cd_(cd) {}

  // Converts as much of pending_ as possible, appending to out_.
  absl::Status Convert() {
    char* in = pending_.data();
    size_t in_left = pending_.size();
    while (in_left > 0) {
      // UTF-8 never takes more than 1.5 times the GB18030 bytes, so one pass usually suffices.
      const size_t used = out_.size();
      out_.resize(used + in_left * 2 + 8);
      char* out = out_.data() + used;
      size_t out_left = out_.size() - used;
      const size_t rc = iconv(cd_, &in, &in_left, &out, &out_left);
      const int err = errno;
      out_.resize(out_.size() - out_left);
      if (rc != static_cast<size_t>(-1) || err == E2BIG) continue;
      if (err == EINVAL) break;  // Truncated sequence: keep it for the next chunk.
      if (err == EILSEQ) return Fail(CountNewlines(out_), "invalid GB18030 byte sequence");
      return Fail(CountNewlines(out_), absl::StrCat("iconv failed: ", std::strerror(err)));
    }
    pending_.erase(0, pending_.size() - in_left);
    return absl::OkStatus();
  }

  absl::Status Fail(int64_t extra_lines, std::string_view what) const {
    return absl::InvalidArgumentError(
        absl::StrCat(name_, ": line ", line_ + extra_lines, ": ", Av(what)));
  }

  const std::string name_;
  const std::unique_ptr<ByteSource> raw_;
  const iconv_t cd_;
  std::string pending_;    // Input bytes not converted yet.
  std::string out_;        // The chunk handed out by the last Read.
  int64_t line_ = 1;       // Line of the first byte of the next chunk.
  absl::Status deferred_;  // An error to report on the next Read.
};

// What a scan of raw bytes for UTF-8 found: whether every sequence is well formed (else
// the line of the first that is not), and the signs of UTF-8 Chinese text.
struct Utf8Scan {
  bool valid = true;
  int64_t bad_line = 0;
  int64_t ideographs = 0;  // of the CJK Unified Ideographs block, U+4E00 to U+9FFF
  bool bom = false;        // the bytes start with a UTF-8 byte-order mark
};

// Reads `source` to its end, or to its first ill-formed UTF-8 sequence.
absl::StatusOr<Utf8Scan> ScanUtf8Bytes(ByteSource& source) {
  Utf8Scan scan;
  std::string carry;  // An incomplete sequence at the end of the previous chunk.
  int64_t line = 1;
  bool at_start = true;  // no byte read yet (a sequence carried over is not read yet)
  const auto bad = [&] {
    scan.valid = false;
    scan.bad_line = line;
    return scan;
  };

  while (true) {
    absl::StatusOr<std::string_view> chunk = source.Read();
    if (!chunk.ok()) return chunk.status();
    if (chunk->empty()) return carry.empty() ? scan : bad();

    std::string joined;
    std::string_view data = *chunk;
    if (!carry.empty()) {
      joined = std::move(carry);
      joined.append(data);
      data = joined;
      carry.clear();
    }
    for (size_t i = 0; i < data.size();) {
      const auto c = static_cast<unsigned char>(data[i]);
      if (c < 0x80) {
        line += (c == '\n');
        at_start = false;
        ++i;
        continue;
      }
      const int len = Utf8SequenceLength(data.substr(i));
      if (len == 0) return bad();
      if (len < 0) {
        carry.assign(data.substr(i));
        break;
      }
      if (len == 3) {
        const auto byte = [&](size_t k) { return static_cast<unsigned char>(data[i + k]); };
        const uint32_t cp = (byte(0) & 0x0Fu) << 12 | (byte(1) & 0x3Fu) << 6 | (byte(2) & 0x3Fu);
        scan.ideographs += (cp >= 0x4E00 && cp <= 0x9FFF);
        scan.bom = scan.bom || (cp == 0xFEFF && at_start);
      }
      at_start = false;
      i += static_cast<size_t>(len);
    }
  }
}

// Fails on the first ill-formed UTF-8 sequence of `source`, naming its line.
absl::Status ScanUtf8(ByteSource& source, std::string_view name) {
  absl::StatusOr<Utf8Scan> scan = ScanUtf8Bytes(source);
  if (!scan.ok()) return scan.status();
  if (scan->valid) return absl::OkStatus();
  return absl::InvalidArgumentError(
      absl::StrCat(Av(name), ": line ", scan->bad_line,
                   " is not valid UTF-8; files saved by Chinese Excel are GB18030: "
                   "use --encoding gb18030"));
}

// Refuses, for --encoding gb18030, a file that is UTF-8 Chinese: it often converts without
// error as GB18030, into other characters, which would be stored. The sign is a whole file
// of well-formed UTF-8 with a UTF-8 byte-order mark or with ideographs. GB18030 text can be
// well-formed UTF-8 (伟业 reads as Greek and Cyrillic letters), but its bytes practically
// never spell an ideograph in UTF-8's three-byte form.
absl::Status RefuseUtf8AsGb18030(ByteSource& source, std::string_view name) {
  absl::StatusOr<Utf8Scan> scan = ScanUtf8Bytes(source);
  if (!scan.ok()) return scan.status();
  if (!scan->valid || (scan->ideographs == 0 && !scan->bom)) return absl::OkStatus();
  return absl::InvalidArgumentError(absl::StrCat(
      Av(name), ": is UTF-8, not GB18030 (",
      scan->bom ? "it starts with a UTF-8 byte-order mark"
                : absl::StrCat("its ", scan->ideographs, " Chinese characters read as UTF-8"),
      "): import it without --encoding gb18030"));
}

absl::StatusOr<std::unique_ptr<ByteSource>> Decode(std::string name,
                                                   std::unique_ptr<ByteSource> raw, Encoding enc) {
  if (enc == Encoding::kUtf8) return std::make_unique<BomSkipSource>(std::move(raw));
  absl::StatusOr<std::unique_ptr<ByteSource>> gb =
      Gb18030Source::Create(std::move(name), std::move(raw));
  if (!gb.ok()) return gb.status();
  return std::make_unique<BomSkipSource>(*std::move(gb));
}

bool IsPad(int c) { return c == ' ' || c == '\t'; }

void TrimTrailingPad(std::string* s) {
  while (!s->empty() && IsPad(s->back())) s->pop_back();
}

}  // namespace

absl::StatusOr<Encoding> ParseEncoding(std::string_view name) {
  const std::string lower = absl::AsciiStrToLower(Av(name));
  if (lower == "utf-8" || lower == "utf8") return Encoding::kUtf8;
  if (lower == "gb18030") return Encoding::kGb18030;
  return absl::InvalidArgumentError("encoding: must be utf-8 or gb18030");
}

CsvReader::CsvReader(std::string name, std::unique_ptr<csv_internal::ByteSource> source)
    : name_(std::move(name)), source_(std::move(source)) {}

CsvReader::~CsvReader() = default;

absl::StatusOr<std::unique_ptr<CsvReader>> CsvReader::Open(const std::string& path, Encoding enc) {
  // The scan reads the file once and the parse opens it again. A file rewritten in between is
  // parsed unscanned; that is not a safety gap because ValidateField checks UTF-8 per value.
  {
    absl::StatusOr<std::unique_ptr<ByteSource>> scan = FileSource::Open(path);
    if (!scan.ok()) return scan.status();
    absl::Status s =
        enc == Encoding::kUtf8 ? ScanUtf8(**scan, path) : RefuseUtf8AsGb18030(**scan, path);
    if (!s.ok()) return s;
  }

  absl::StatusOr<std::unique_ptr<ByteSource>> raw = FileSource::Open(path);
  if (!raw.ok()) return raw.status();
  absl::StatusOr<std::unique_ptr<ByteSource>> decoded = Decode(path, *std::move(raw), enc);
  if (!decoded.ok()) return decoded.status();
  return std::unique_ptr<CsvReader>(new CsvReader(path, *std::move(decoded)));
}

absl::StatusOr<std::unique_ptr<CsvReader>> CsvReader::FromString(std::string data, Encoding enc,
                                                                 size_t chunk_size,
                                                                 std::string name) {
  auto shared = std::make_shared<const std::string>(std::move(data));
  {
    StringSource scan(shared, chunk_size);
    absl::Status s =
        enc == Encoding::kUtf8 ? ScanUtf8(scan, name) : RefuseUtf8AsGb18030(scan, name);
    if (!s.ok()) return s;
  }

  absl::StatusOr<std::unique_ptr<ByteSource>> decoded =
      Decode(name, std::make_unique<StringSource>(shared, chunk_size), enc);
  if (!decoded.ok()) return decoded.status();
  return std::unique_ptr<CsvReader>(new CsvReader(std::move(name), *std::move(decoded)));
}

bool CsvReader::Fill() {
  if (eof_ || !status_.ok()) return false;
  absl::StatusOr<std::string_view> chunk = source_->Read();
  if (!chunk.ok()) {
    status_ = chunk.status();
    return false;
  }
  if (chunk->empty()) {
    eof_ = true;
    return false;
  }
  chunk_ = *chunk;
  pos_ = 0;
  return true;
}

int CsvReader::Get() {
  if (pos_ == chunk_.size() && !Fill()) return -1;
  return static_cast<unsigned char>(chunk_[pos_++]);
}

int CsvReader::Peek() {
  if (pos_ == chunk_.size() && !Fill()) return -1;
  return static_cast<unsigned char>(chunk_[pos_]);
}

absl::Status CsvReader::Fail(int64_t line, std::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat(name_, ": line ", line, ": ", Av(what)));
}

void CsvReader::SkipRestOfLine() {
  for (int c = Get(); c >= 0; c = Get()) {
    if (c == '\n') {
      ++line_;
      return;
    }
  }
}

absl::StatusOr<bool> CsvReader::Next(CsvRow* row) {
  skipped_reason_ = {};
  while (status_.ok()) {
    bool blank = false;
    absl::StatusOr<bool> got = ReadRecord(row, &blank);
    if (!got.ok() || !*got || !blank) return got;
  }
  return status_;
}

// A byte-at-a-time state machine over one record. Cells are written in place into
// row->cells so that their storage is reused from record to record.
absl::StatusOr<bool> CsvReader::ReadRecord(CsvRow* row, bool* blank) {
  enum class State { kCellStart, kUnquoted, kQuoted, kQuoteInQuoted, kAfterClose };
  State state = State::kCellStart;
  size_t cells = 0;
  size_t bytes = 0;
  bool saw_quote = false;
  int64_t quote_line = line_;
  row->line = line_;

  int c = Get();
  if (c < 0) {
    if (!status_.ok()) return status_;
    return false;
  }
  const auto start_cell = [&]() -> std::string& {
    if (cells == row->cells.size()) row->cells.emplace_back();
    std::string& cell = row->cells[cells++];
    cell.clear();
    return cell;
  };
  std::string* cell = &start_cell();
  const auto finish = [&] {
    if (state == State::kUnquoted || state == State::kCellStart) TrimTrailingPad(cell);
    row->cells.resize(cells);
    *blank = cells == 1 && cell->empty() && !saw_quote;
    return true;
  };

  for (;; c = Get()) {
    if (c < 0) {
      if (!status_.ok()) return status_;
      if (state == State::kQuoted) return status_ = Fail(quote_line, "unterminated quote");
      return finish();
    }
    if (++bytes > kMaxRecordBytes) {
      return status_ = Fail(row->line, "record longer than 1 MiB (unbalanced quote?)");
    }

    // Line ends and separators outside quotes: a CR counts only before LF or at the end.
    if (state != State::kQuoted) {
      if (c == '\r') {
        const int next = Peek();
        if (next == '\n' || next < 0) continue;
      }
      if (c == '\n') {
        ++line_;
        return finish();
      }
      if (c == ',') {
        if (state == State::kUnquoted) TrimTrailingPad(cell);
        cell = &start_cell();
        state = State::kCellStart;
        continue;
      }
    }

    switch (state) {
      case State::kCellStart:
        if (IsPad(c)) break;
        if (c == '"') {
          state = State::kQuoted;
          saw_quote = true;
          quote_line = line_;
          break;
        }
        state = State::kUnquoted;
        cell->push_back(static_cast<char>(c));
        break;
      case State::kUnquoted:
        cell->push_back(static_cast<char>(c));
        break;
      case State::kQuoted:
        if (c == '"') {
          state = State::kQuoteInQuoted;
          break;
        }
        line_ += (c == '\n');
        cell->push_back(static_cast<char>(c));
        break;
      case State::kQuoteInQuoted:
        if (c == '"') {
          cell->push_back('"');
          state = State::kQuoted;
          break;
        }
        [[fallthrough]];
      case State::kAfterClose:
        if (IsPad(c)) {
          state = State::kAfterClose;
          break;
        }
        {
          const int64_t bad_line = line_;
          SkipRestOfLine();
          row->cells.resize(cells);
          skipped_reason_ = "characters after a closing quote";
          return Fail(bad_line, skipped_reason_);
        }
    }
  }
}

absl::Status CheckHeader(const CsvRow& row, const std::vector<std::string_view>& expected) {
  const auto fail = [&](std::string_view what) {
    return absl::InvalidArgumentError(absl::StrCat("line ", row.line, ": header ", Av(what)));
  };
  if (row.cells.size() != expected.size()) {
    return fail(absl::StrCat("has ", row.cells.size(), " columns, expected ", expected.size(), ": ",
                             JoinNames(expected)));
  }
  for (size_t i = 0; i < expected.size(); ++i) {
    if (row.cells[i] != expected[i]) {
      return fail(absl::StrCat("column ", i + 1, " should be '", Av(expected[i]), "'; expected ",
                               JoinNames(expected)));
    }
  }
  return absl::OkStatus();
}

}  // namespace wlsync::model
