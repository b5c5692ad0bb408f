// Tests for model/csv.h: the spreadsheet quirks of the data README (BOM, CRLF, quoting,
// padding, blank lines), structural errors, UTF-8 refusal and the GB18030 path. Most cases
// run at several chunk sizes so that every construct is also split across chunk boundaries.
#include "model/csv.h"

#include <iconv.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"

namespace wlsync::model {
namespace {

using Cells = std::vector<std::string>;

struct Parsed {
  std::vector<CsvRow> rows;
  absl::Status error;  // The first error, if any; reading stops there.
};

Parsed ParseAll(const std::string& data, Encoding enc, size_t chunk) {
  Parsed out;
  absl::StatusOr<std::unique_ptr<CsvReader>> reader = CsvReader::FromString(data, enc, chunk);
  if (!reader.ok()) {
    out.error = reader.status();
    return out;
  }
  CsvRow row;
  while (true) {
    absl::StatusOr<bool> more = (*reader)->Next(&row);
    if (!more.ok()) {
      out.error = more.status();
      break;
    }
    if (!*more) break;
    out.rows.push_back(row);
  }
  return out;
}

std::vector<Cells> CellsOf(const Parsed& p) {
  std::vector<Cells> out;
  for (const CsvRow& r : p.rows) out.push_back(r.cells);
  return out;
}

std::vector<int64_t> LinesOf(const Parsed& p) {
  std::vector<int64_t> out;
  for (const CsvRow& r : p.rows) out.push_back(r.line);
  return out;
}

std::string Msg(const absl::Status& s) { return std::string(s.message()); }

// Converts UTF-8 text to GB18030 with iconv, the way Chinese Excel saves files.
std::string ToGb18030(const std::string& utf8) {
  iconv_t cd = iconv_open("GB18030", "UTF-8");
  REQUIRE(cd != reinterpret_cast<iconv_t>(-1));
  std::string in = utf8;
  std::string out(in.size() * 4 + 16, '\0');
  char* in_ptr = in.data();
  size_t in_left = in.size();
  char* out_ptr = out.data();
  size_t out_left = out.size();
  const size_t rc = iconv(cd, &in_ptr, &in_left, &out_ptr, &out_left);
  iconv_close(cd);
  REQUIRE(rc != static_cast<size_t>(-1));
  out.resize(out.size() - out_left);
  return out;
}

// A temporary file removed at scope exit.
class TempFile {
 public:
  explicit TempFile(const std::string& content) {
    char name[] = "/tmp/wlsync-csv-XXXXXX";
    const int fd = mkstemp(name);
    REQUIRE(fd >= 0);
    path_ = name;
    std::FILE* f = fdopen(fd, "wb");
    REQUIRE(f != nullptr);
    REQUIRE(std::fwrite(content.data(), 1, content.size(), f) == content.size());
    std::fclose(f);
  }
  ~TempFile() { std::remove(path_.c_str()); }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// Chunk sizes that split every multi-byte construct, plus the production size.
size_t AnyChunk() { return GENERATE(as<size_t>{}, 1, 2, 3, 5, 64, CsvReader::kDefaultChunkSize); }

TEST_CASE("Csv: ParseEncoding knows utf-8 and gb18030 in any case", "[model]") {
  auto [name, want] = GENERATE(table<std::string, Encoding>({
      {"utf-8", Encoding::kUtf8},
      {"UTF-8", Encoding::kUtf8},
      {"utf8", Encoding::kUtf8},
      {"gb18030", Encoding::kGb18030},
      {"GB18030", Encoding::kGb18030},
  }));
  absl::StatusOr<Encoding> enc = ParseEncoding(name);
  REQUIRE(enc.ok());
  CHECK(*enc == want);
}

TEST_CASE("Csv: ParseEncoding refuses other names", "[model]") {
  auto name = GENERATE(as<std::string>{}, "", "gbk", "latin1", "utf-16");
  CHECK(ParseEncoding(name).status().code() == absl::StatusCode::kInvalidArgument);
}

TEST_CASE("Csv: records split at commas and line ends", "[model]") {
  const size_t chunk = AnyChunk();
  auto [data, want] = GENERATE(table<std::string, std::vector<Cells>>({
      {"a,b,c\n1,2,3\n", {{"a", "b", "c"}, {"1", "2", "3"}}},
      {"a,b,c\r\n1,2,3\r\n", {{"a", "b", "c"}, {"1", "2", "3"}}},
      {"a,b\r\n1,2", {{"a", "b"}, {"1", "2"}}},
      {"a,b\n1,2\r", {{"a", "b"}, {"1", "2"}}},
      {"a,,c\n,,\n", {{"a", "", "c"}, {"", "", ""}}},
      {"", {}},
      {"a", {{"a"}}},
  }));
  INFO("chunk " << chunk);
  Parsed p = ParseAll(data, Encoding::kUtf8, chunk);
  REQUIRE(p.error.ok());
  CHECK(CellsOf(p) == want);
}

TEST_CASE("Csv: a UTF-8 byte-order mark is dropped", "[model]") {
  const size_t chunk = AnyChunk();
  auto data =
      GENERATE(as<std::string>{}, "\xEF\xBB\xBFid,name\n1,2\n", "\xEF\xBB\xBFid,name\r\n1,2");
  Parsed p = ParseAll(data, Encoding::kUtf8, chunk);
  REQUIRE(p.error.ok());
  REQUIRE(CellsOf(p) == std::vector<Cells>{{"id", "name"}, {"1", "2"}});
  CHECK(LinesOf(p) == std::vector<int64_t>{1, 2});
}

TEST_CASE("Csv: a byte-order mark is kept as data when it is not at the start", "[model]") {
  const std::string bom = "\xEF\xBB\xBF";
  Parsed p = ParseAll("a\n" + bom + "b\n", Encoding::kUtf8, AnyChunk());
  REQUIRE(p.error.ok());
  CHECK(CellsOf(p) == std::vector<Cells>{{"a"}, {bom + "b"}});
}

TEST_CASE("Csv: a quoted field keeps its commas, quotes and newlines", "[model]") {
  const size_t chunk = AnyChunk();
  auto [data, want] = GENERATE(table<std::string, Cells>({
      {"\"a,b\",c\n", {"a,b", "c"}},
      {"\"say \"\"hi\"\"\",x\n", {"say \"hi\"", "x"}},
      {"\"\"\"\"\n", {"\""}},
      {"\"line1\nline2\",x\n", {"line1\nline2", "x"}},
      {"\"crlf\r\ninside\"\r\n", {"crlf\r\ninside"}},
      {"\"\",\"\"\n", {"", ""}},
      {"x,\"last\"", {"x", "last"}},
      {"\"\xE9\xBA\xBB,\xE4\xB8\x80\"\n", {"\xE9\xBA\xBB,\xE4\xB8\x80"}},
  }));
  Parsed p = ParseAll(data, Encoding::kUtf8, chunk);
  REQUIRE(p.error.ok());
  REQUIRE(p.rows.size() == 1);
  CHECK(p.rows[0].cells == want);
}

TEST_CASE("Csv: spaces and tabs around cells are trimmed outside quotes only", "[model]") {
  const size_t chunk = AnyChunk();
  auto [data, want] = GENERATE(table<std::string, Cells>({
      {"  a  ,\tb\t, c d \n", {"a", "b", "c d"}},
      {" \" a \" , \"b\"\t\n", {" a ", "b"}},
      {"  ,  \r\n", {"", ""}},
      {"x ,\" y\"  \r\n", {"x", " y"}},
  }));
  Parsed p = ParseAll(data, Encoding::kUtf8, chunk);
  REQUIRE(p.error.ok());
  REQUIRE(p.rows.size() == 1);
  CHECK(p.rows[0].cells == want);
}

TEST_CASE("Csv: a quote inside an unquoted cell is kept literally", "[model]") {
  Parsed p = ParseAll("5\" pipe,b\n", Encoding::kUtf8, AnyChunk());
  REQUIRE(p.error.ok());
  CHECK(CellsOf(p) == std::vector<Cells>{{"5\" pipe", "b"}});
}

TEST_CASE("Csv: blank lines are skipped and line numbers stay physical", "[model]") {
  const size_t chunk = AnyChunk();
  const std::string data =
      "h1,h2\r\n"            // line 1
      "\r\n"                 // 2: blank
      "a,b\r\n"              // 3
      "   \t \n"             // 4: only padding counts as blank
      "\"multi\nline\",c\n"  // 5-6
      "\n"                   // 7: blank
      "\"\"\n"               // 8: one empty quoted cell is a record
      "d,e\n"                // 9
      "\n\n";                // 10-11
  Parsed p = ParseAll(data, Encoding::kUtf8, chunk);
  REQUIRE(p.error.ok());
  CHECK(CellsOf(p) ==
        std::vector<Cells>{{"h1", "h2"}, {"a", "b"}, {"multi\nline", "c"}, {""}, {"d", "e"}});
  CHECK(LinesOf(p) == std::vector<int64_t>{1, 3, 5, 8, 9});
}

TEST_CASE("Csv: an unterminated quote is an error naming its line, not its text", "[model]") {
  const size_t chunk = AnyChunk();
  Parsed p = ParseAll("h\nok\n\"Secret Name,\nmore text\n", Encoding::kUtf8, chunk);
  CHECK(CellsOf(p) == std::vector<Cells>{{"h"}, {"ok"}});
  REQUIRE(p.error.code() == absl::StatusCode::kInvalidArgument);
  CHECK_THAT(Msg(p.error), Catch::Contains("line 3: unterminated quote"));
  CHECK_THAT(Msg(p.error), !Catch::Contains("Secret"));
}

TEST_CASE("Csv: characters after a closing quote fail that record only", "[model]") {
  const size_t chunk = AnyChunk();
  auto bad = GENERATE(as<std::string>{}, "\"Secret\"Name,x", "\"Secret\" Name,x",
                      "\"Secret\"\"\" x", "a,\"Secret\"\"b\"c");
  absl::StatusOr<std::unique_ptr<CsvReader>> reader =
      CsvReader::FromString("h\r\n" + bad + "\r\nnext,row\r\n", Encoding::kUtf8, chunk, "t.csv");
  REQUIRE(reader.ok());
  CsvRow row;
  REQUIRE(*(*reader)->Next(&row));

  absl::StatusOr<bool> more = (*reader)->Next(&row);
  REQUIRE_FALSE(more.ok());
  CHECK_THAT(Msg(more.status()),
             Catch::StartsWith("t.csv: line 2: characters after a closing quote"));
  CHECK_THAT(Msg(more.status()), !Catch::Contains("Secret"));

  more = (*reader)->Next(&row);
  REQUIRE(more.ok());
  REQUIRE(*more);
  CHECK(row.cells == Cells{"next", "row"});
  CHECK(row.line == 3);
  CHECK_FALSE(*(*reader)->Next(&row));
}

TEST_CASE("Csv: a record over 1 MiB is refused", "[model]") {
  const std::string data = "\"" + std::string(CsvReader::kMaxRecordBytes + 10, 'a') + "\"\n";
  Parsed p = ParseAll(data, Encoding::kUtf8, CsvReader::kDefaultChunkSize);
  CHECK(p.rows.empty());
  CHECK_THAT(Msg(p.error), Catch::Contains("line 1: record longer than 1 MiB"));
}

TEST_CASE("Csv: invalid UTF-8 is refused before any record, with a GB18030 hint", "[model]") {
  const size_t chunk = AnyChunk();
  auto [data, line] = GENERATE(table<std::string, int>({
      {"h\nok\n\xC0\xAF\n", 3},
      {"h\n\xE4\xB8\n", 2},      // truncated sequence before a newline
      {"h\nx\n\xE4\xB8", 3},     // truncated at the end of input
      {"\xED\xA0\x80\n", 1},     // surrogate
      {"h\n\"q\nq\"\xFF\n", 3},  // inside a quoted cell on its second line
  }));
  absl::StatusOr<std::unique_ptr<CsvReader>> reader =
      CsvReader::FromString(data, Encoding::kUtf8, chunk, "people.csv");
  REQUIRE_FALSE(reader.ok());
  CHECK(Msg(reader.status()) ==
        absl::StrCat("people.csv: line ", line,
                     " is not valid UTF-8; files saved by Chinese Excel are GB18030: "
                     "use --encoding gb18030"));
}

TEST_CASE("Csv: a GB18030 export is refused as UTF-8 and read as GB18030", "[model]") {
  const std::string utf8 =
      "id_doc,name,residence_address\r\n"
      "44070419750123230X,\xE5\xB0\x8F\xE6\x98\x8E,\"\xE9\xBA\xBB\xE4\xB8\x80\xE6\x9D\x91,"
      "\xE5\x8C\x97\xE5\xB7\xB7 12\"\r\n"
      "44200019630304685X,\xF0\xA0\x80\x80\xE2\x82\xAC,\xE5\x8F\xA4\xE9\x95\x87\r\n";
  const std::string gb = ToGb18030(utf8);
  REQUIRE(gb != utf8);

  SECTION("as UTF-8 it is refused") {
    absl::StatusOr<std::unique_ptr<CsvReader>> reader =
        CsvReader::FromString(gb, Encoding::kUtf8, CsvReader::kDefaultChunkSize, "x.csv");
    REQUIRE_FALSE(reader.ok());
    CHECK_THAT(Msg(reader.status()), Catch::StartsWith("x.csv: line 2 is not valid UTF-8"));
  }
  SECTION("as GB18030 it reads the same as the UTF-8 original at any chunk size") {
    const size_t chunk = AnyChunk();
    const bool with_bom = GENERATE(false, true);
    const std::string input = with_bom ? ToGb18030("\xEF\xBB\xBF") + gb : gb;
    Parsed got = ParseAll(input, Encoding::kGb18030, chunk);
    Parsed want = ParseAll(utf8, Encoding::kUtf8, CsvReader::kDefaultChunkSize);
    REQUIRE(got.error.ok());
    CHECK(CellsOf(got) == CellsOf(want));
    CHECK(LinesOf(got) == std::vector<int64_t>{1, 2, 3});
  }
}

// UTF-8 Chinese of an even number of bytes per cell often converts without error as
// GB18030, into other characters: such a file is refused rather than stored garbled. Some
// GB18030 text is well-formed UTF-8 too, but never spells ideographs in it.
TEST_CASE("Csv: UTF-8 Chinese given as GB18030 is refused, GB18030 and ASCII files are read",
          "[model]") {
  const size_t chunk = AnyChunk();
  const std::string utf8 =
      "id_doc,name\r\n44070419750123230X,\xE8\xB0\xA2\xE8\xB1\xAA\r\n";  // 2 ideographs
  SECTION("UTF-8 Chinese is refused before any row is read") {
    absl::StatusOr<std::unique_ptr<CsvReader>> reader =
        CsvReader::FromString(utf8, Encoding::kGb18030, chunk, "u.csv");
    REQUIRE_FALSE(reader.ok());
    CHECK(Msg(reader.status()) ==
          "u.csv: is UTF-8, not GB18030 (its 2 Chinese characters read as UTF-8): import it "
          "without --encoding gb18030");
  }
  SECTION("a UTF-8 byte-order mark is refused, even before ASCII only") {
    const std::string rest = GENERATE(as<std::string>{}, "id_doc\r\n1\r\n", "");
    absl::StatusOr<std::unique_ptr<CsvReader>> reader =
        CsvReader::FromString("\xEF\xBB\xBF" + rest, Encoding::kGb18030, chunk, "u.csv");
    REQUIRE_FALSE(reader.ok());
    CHECK(Msg(reader.status()) ==
          "u.csv: is UTF-8, not GB18030 (it starts with a UTF-8 byte-order mark): import it "
          "without --encoding gb18030");
  }
  SECTION("the same text in GB18030 reads back as the UTF-8 original") {
    Parsed got = ParseAll(ToGb18030(utf8), Encoding::kGb18030, chunk);
    REQUIRE(got.error.ok());
    CHECK(CellsOf(got) == CellsOf(ParseAll(utf8, Encoding::kUtf8, chunk)));
  }
  SECTION("GB18030 whose bytes happen to be well-formed UTF-8 is read as GB18030") {
    // \u4F1F\u4E1A in GB18030 is CE B0 D2 B5: in UTF-8 a Greek and a Cyrillic letter.
    const std::string name = "\xE4\xBC\x9F\xE4\xB8\x9A";
    const std::string gb = ToGb18030("id_doc,name\n44070419750123230X," + name + "\n");
    REQUIRE(gb.find("\xCE\xB0\xD2\xB5") != std::string::npos);
    Parsed got = ParseAll(gb, Encoding::kGb18030, chunk);
    REQUIRE(got.error.ok());
    CHECK(CellsOf(got) == std::vector<Cells>{{"id_doc", "name"}, {"44070419750123230X", name}});
  }
  SECTION("an ASCII file is the same in both and is read") {
    Parsed got = ParseAll("id_doc,name\r\n44070419750123230X,a\r\n", Encoding::kGb18030, chunk);
    REQUIRE(got.error.ok());
    CHECK(CellsOf(got) == std::vector<Cells>{{"id_doc", "name"}, {"44070419750123230X", "a"}});
  }
}

TEST_CASE("Csv: a bad GB18030 sequence is an error naming its line, after the good records",
          "[model]") {
  const size_t chunk = AnyChunk();
  auto [data, before, want] = GENERATE(table<std::string, std::vector<Cells>, std::string>({
      {"h\r\nok\r\n\x81\x20x\r\n", {{"h"}, {"ok"}}, "g.csv: line 3: invalid GB18030 byte sequence"},
      {"h\n\"a\nb\",\xFF\n", {{"h"}}, "g.csv: line 3: invalid GB18030 byte sequence"},
      {"h\nok\n\x81", {{"h"}, {"ok"}}, "g.csv: line 3: GB18030 sequence cut off at end of file"},
      {"h\n\x81\x30\x81", {{"h"}}, "g.csv: line 2: GB18030 sequence cut off at end of file"},
  }));
  absl::StatusOr<std::unique_ptr<CsvReader>> reader =
      CsvReader::FromString(data, Encoding::kGb18030, chunk, "g.csv");
  REQUIRE(reader.ok());
  Parsed p;
  CsvRow row;
  for (int i = 0; i < 10 && p.error.ok(); ++i) {
    absl::StatusOr<bool> more = (*reader)->Next(&row);
    if (!more.ok()) p.error = more.status();
    if (more.ok() && !*more) break;
    if (more.ok()) p.rows.push_back(row);
  }
  CHECK(CellsOf(p) == before);
  CHECK(Msg(p.error) == want);
  // The error is sticky.
  CHECK(Msg((*reader)->Next(&row).status()) == want);
}

TEST_CASE("Csv: files are read in chunks, with records spanning chunk boundaries", "[model]") {
  // About 4 MiB of rows with multi-byte text and quoted newlines, so that every 1 MiB chunk
  // boundary falls inside some record.
  std::string utf8 = "\xEF\xBB\xBFn,text,note\r\n";
  const int kRows = 60000;
  for (int i = 0; i < kRows; ++i) {
    absl::StrAppend(&utf8, i, ", \xE9\xBA\xBB\xE4\xB8\x80\xE6\x9D\x91\xE5\x8C\x97\xE5\xB7\xB7",
                    i % 97, " ,\"two\nlines, and \"\"quotes\"\" ", i, "\"\r\n");
  }
  REQUIRE(utf8.size() > 3 * CsvReader::kDefaultChunkSize);
  const Encoding enc = GENERATE(Encoding::kUtf8, Encoding::kGb18030);
  TempFile file(enc == Encoding::kUtf8 ? utf8 : ToGb18030(utf8));

  absl::StatusOr<std::unique_ptr<CsvReader>> reader = CsvReader::Open(file.path(), enc);
  REQUIRE(reader.ok());
  CHECK((*reader)->name() == file.path());
  CsvRow row;
  REQUIRE(*(*reader)->Next(&row));
  CHECK(row.cells == Cells{"n", "text", "note"});
  int64_t count = 0;
  bool all_match = true;
  while (true) {
    absl::StatusOr<bool> more = (*reader)->Next(&row);
    REQUIRE(more.ok());
    if (!*more) break;
    const Cells want = {
        absl::StrCat(count),
        absl::StrCat("\xE9\xBA\xBB\xE4\xB8\x80\xE6\x9D\x91\xE5\x8C\x97\xE5\xB7\xB7", count % 97),
        absl::StrCat("two\nlines, and \"quotes\" ", count)};
    if (row.cells != want || row.line != 2 + 2 * count) all_match = false;
    ++count;
  }
  CHECK(count == kRows);
  CHECK(all_match);
}

TEST_CASE("Csv: Open refuses a missing file and an invalid UTF-8 file", "[model]") {
  SECTION("missing") {
    auto reader = CsvReader::Open("/nonexistent/wlsync/x.csv", Encoding::kUtf8);
    CHECK(reader.status().code() == absl::StatusCode::kNotFound);
    auto gb = CsvReader::Open("/nonexistent/wlsync/x.csv", Encoding::kGb18030);
    CHECK(gb.status().code() == absl::StatusCode::kNotFound);
  }
  SECTION("invalid UTF-8 deep in the file") {
    std::string data(3 * CsvReader::kDefaultChunkSize, 'a');
    for (size_t i = 100; i < data.size(); i += 101) data[i] = '\n';
    const int64_t bad_line = 1 + std::count(data.begin(), data.begin() + 2500000, '\n');
    data[2500000] = '\xB0';
    TempFile file(data);
    auto reader = CsvReader::Open(file.path(), Encoding::kUtf8);
    REQUIRE_FALSE(reader.ok());
    CHECK_THAT(Msg(reader.status()), Catch::StartsWith(absl::StrCat(
                                         file.path(), ": line ", bad_line, " is not valid UTF-8")));
  }
}

TEST_CASE("Csv: CheckHeader names the first wrong column without echoing it", "[model]") {
  const std::vector<std::string_view> expected = {"op", "id_doc", "field", "value"};
  auto [cells, want] = GENERATE(table<Cells, std::string>({
      {{"op", "id_doc", "field", "value"}, ""},
      {{"op", "id_doc", "field"},
       "line 1: header has 3 columns, expected 4: op,id_doc,field,value"},
      {{"op", "Zhang San", "field", "value"}, "line 1: header column 2 should be 'id_doc'"},
      {{"OP", "id_doc", "field", "value"}, "line 1: header column 1 should be 'op'"},
  }));
  const CsvRow row{.line = 1, .cells = cells};
  const absl::Status s = CheckHeader(row, expected);
  if (want.empty()) {
    CHECK(s.ok());
  } else {
    CHECK(s.code() == absl::StatusCode::kInvalidArgument);
    CHECK_THAT(Msg(s), Catch::StartsWith(want) && !Catch::Contains("Zhang"));
  }
}

}  // namespace
}  // namespace wlsync::model
