// Tests for model/validate.h and model/grids.h: identity numbers, strict UTF-8, every column
// rule of commuters.csv, the grid catalogue, and the whole sample registry.
#include "model/validate.h"

#include <catch2/catch.hpp>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <set>
#include <string>
#include <tuple>

#include "absl/strings/str_cat.h"
#include "model/csv.h"
#include "model/grids.h"

namespace wlsync::model {
namespace {

std::string Msg(const absl::Status& s) { return std::string(s.message()); }

// Grids of the two sample jurisdictions, enough for the column rules.
const Grids& TestGrids() {
  static const Grids* const kGrids = new Grids(Grids::FromLists({
      {"WH-MAYI-01", "waihai"},
      {"WH-ZHICHONG-18", "waihai"},
      {"GZ-GUYI-02", "guzhen"},
  }));
  return *kGrids;
}

// Builds a valid identity number from its first 17 digits, with a check character computed
// independently of IdDocCheckChar.
std::string WithCheck(const std::string& first17) {
  static constexpr int kWeights[17] = {7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2};
  int sum = 0;
  for (int i = 0; i < 17; ++i) sum += (first17[i] - '0') * kWeights[i];
  return first17 + "10X98765432"[sum % 11];
}

TEST_CASE("Validate: NormalizeIdDoc trims whitespace and uppercases a trailing x", "[model]") {
  auto [raw, want] = GENERATE(table<std::string, std::string>({
      {"44070419750123230X", "44070419750123230X"},
      {"44070419750123230x", "44070419750123230X"},
      {"  44070419750123230x\t", "44070419750123230X"},
      {"\r\n440704200304045104 ", "440704200304045104"},
      {"x4407", "x4407"},
      {"", ""},
      {" \t ", ""},
  }));
  CHECK(NormalizeIdDoc(raw) == want);
}

TEST_CASE("Validate: the check character follows ISO 7064 MOD 11-2", "[model]") {
  // Published examples and rows of the sample registry.
  auto [first17, check] = GENERATE(table<std::string, char>({
      {"11010519491231002", 'X'},
      {"44070420030404510", '4'},
      {"44070419681111814", '5'},
      {"44200019630304685", 'X'},
      {"44070419750123230", 'X'},
  }));
  CHECK(IdDocCheckChar(first17) == check);
  CHECK(ValidateIdDoc(first17 + check).ok());
}

TEST_CASE("Validate: every identity number rule fails with its own message", "[model]") {
  const std::string good = WithCheck("44070419880229001");  // 1988 is a leap year.
  REQUIRE(ValidateIdDoc(good).ok());

  std::string wrong_check = good;
  wrong_check[17] = good[17] == '0' ? '1' : '0';
  std::string lower_x = WithCheck("11010519491231002");
  lower_x[17] = 'x';

  auto [id, rule] = GENERATE_COPY(table<std::string, std::string>({
      {good.substr(0, 17), "must be 18 characters"},
      {good + "1", "must be 18 characters"},
      {"", "must be 18 characters"},
      {"4407041988022A0010", "first 17 characters must be digits"},
      {"４４07041988022900", "must be 18 characters"},  // Full-width digits are longer.
      {WithCheck("44070419880230001"), "real birth date"},
      {WithCheck("44070419000229001"), "real birth date"},  // 1900 is not a leap year.
      {WithCheck("44070418991231001"), "real birth date"},
      {WithCheck("44070421010101001"), "real birth date"},
      {WithCheck("44070419881301001"), "real birth date"},
      {WithCheck("44070419880100001"), "real birth date"},
      {good.substr(0, 17) + "Y", "last character must be 0-9 or X"},
      {lower_x, "last character must be 0-9 or X"},
      {wrong_check, "check digit does not match (ISO 7064 MOD 11-2)"},
  }));
  const absl::Status s = ValidateIdDoc(id);
  INFO("rule: " << rule);
  REQUIRE(s.code() == absl::StatusCode::kInvalidArgument);
  CHECK_THAT(Msg(s), Catch::StartsWith("id_doc: ") && Catch::Contains(rule));
  if (id.size() >= 6) CHECK_THAT(Msg(s), !Catch::Contains(id.substr(0, 6)));
}

TEST_CASE("Validate: birth dates at the edges of the range are accepted", "[model]") {
  auto first17 = GENERATE(as<std::string>{}, "44070419000101001", "44070420001231001",
                          "44070420000229001", "44200019960229123");
  CHECK(ValidateIdDoc(WithCheck(first17)).ok());
}

TEST_CASE("Validate: future birth dates and unknown province codes are refused", "[model]") {
  auto [first17, rule] = GENERATE(table<std::string, std::string>({
      {"44070420991231001", "in the future"},
      {"44070421001231001", "in the future"},
      {"00070419900101001", "province code"},
      {"99070419900101001", "province code"},
  }));
  absl::Status s = ValidateIdDoc(WithCheck(first17));
  REQUIRE_FALSE(s.ok());
  REQUIRE_THAT(Msg(s), Catch::Contains(rule));
}

TEST_CASE("Validate: invisible and direction-changing characters are refused in text", "[model]") {
  Grids grids = Grids::FromLists({{"WH-MAYI-01", "waihai"}});
  auto hidden = GENERATE(as<std::string>{}, "\u0085", "\u200b", "\u202e", "\u2028", "\u2066",
                         "\ufeff");
  for (std::string_view field : {"name", "residence_address", "workplace"}) {
    absl::Status s = ValidateField(field, "测试" + hidden + "名", grids);
    INFO(field);
    REQUIRE_FALSE(s.ok());
    REQUIRE_THAT(Msg(s), Catch::Contains("invisible or direction-changing"));
  }
  REQUIRE(ValidateField("name", "测试名", grids).ok());
}

TEST_CASE("Validate: a test date in the future is refused", "[model]") {
  Grids grids = Grids::FromLists({{"WH-MAYI-01", "waihai"}});
  REQUIRE_FALSE(ValidateField("last_test_date", "2099-01-01", grids).ok());
  REQUIRE(ValidateField("last_test_date", "2022-11-26", grids).ok());
}

TEST_CASE("Validate: calendar rules for real dates", "[model]") {
  auto [y, m, d, real] = GENERATE(table<int, int, int, bool>({
      {2000, 2, 29, true},
      {1900, 2, 29, false},
      {2100, 2, 29, false},
      {2004, 2, 29, true},
      {2003, 2, 29, false},
      {2022, 4, 31, false},
      {2022, 12, 31, true},
      {2022, 0, 1, false},
      {2022, 13, 1, false},
      {2022, 1, 0, false},
      {1899, 12, 31, false},
      {2101, 1, 1, false},
  }));
  CHECK(IsRealDate(y, m, d) == real);
}

TEST_CASE("Validate: strict UTF-8 rejects overlongs, surrogates and values past U+10FFFF",
          "[model]") {
  auto [bytes, valid] = GENERATE(table<std::string, bool>({
      {"", true},
      {"plain ascii", true},
      {"\xC2\xA9", true},                  // U+00A9
      {"\xE9\xBA\xBB\xE4\xB8\x80", true},  // 麻一
      {"\xEF\xBB\xBF", true},              // U+FEFF
      {"\xF0\x9F\x98\x80", true},          // U+1F600
      {"\xF4\x8F\xBF\xBF", true},          // U+10FFFF
      {"\xC0\xAF", false},                 // overlong '/'
      {"\xC1\xBF", false},                 // overlong
      {"\xE0\x80\xAF", false},             // overlong 3-byte
      {"\xF0\x80\x80\xAF", false},         // overlong 4-byte
      {"\xED\xA0\x80", false},             // U+D800 surrogate
      {"\xED\xBF\xBF", false},             // U+DFFF surrogate
      {"\xF4\x90\x80\x80", false},         // U+110000
      {"\xF5\x80\x80\x80", false},
      {"\xFF", false},
      {"\x80", false},      // lone continuation
      {"\xE4\xB8", false},  // truncated
      {"a\xE4\xB8!", false},
      {"\xC3\x28", false},
  }));
  CHECK(IsValidUtf8(bytes) == valid);
}

TEST_CASE("Validate: sequence length reports truncation separately from bad bytes", "[model]") {
  auto [bytes, len] = GENERATE(table<std::string, int>({
      {"a", 1},
      {"\xE4\xB8\x80", 3},
      {"\xE4\xB8", -1},
      {"\xE4", -1},
      {"\xF0\x9F\x98", -1},
      {"\xF0\x80", 0},
      {"\xE4\x41", 0},
      {"", 0},
  }));
  CHECK(Utf8SequenceLength(bytes) == len);
}

TEST_CASE("Validate: Utf8Length counts code points", "[model]") {
  CHECK(Utf8Length("") == 0);
  CHECK(Utf8Length("abc") == 3);
  CHECK(Utf8Length("\xE9\xBA\xBB\xE4\xB8\x80\xE6\x9D\x91") == 3);  // 麻一村
  CHECK(Utf8Length("a\xF0\x9F\x98\x80!") == 3);
}

TEST_CASE("Validate: DataColumns lists the 13 columns of commuters.csv in order", "[model]") {
  const std::vector<std::string_view> want = {
      "id_doc",         "name",           "phone",           "home",     "residence_address",
      "residence_grid", "workplace",      "work_grid",       "category", "list",
      "list_reason",    "last_test_date", "last_test_result"};
  CHECK(DataColumns() == want);
}

TEST_CASE("Validate: every column accepts its good values", "[model]") {
  auto [field, value] = GENERATE(table<std::string, std::string>({
      {"id_doc", "44070419750123230X"},
      {"name", "\xE5\xB0\x8F"},  // 小
      {"name", std::string(64, 'a')},
      {"phone", "13000000000"},
      {"phone", "19999999999"},
      {"home", "waihai"},
      {"home", "guzhen"},
      {"residence_address", "\xE9\xBA\xBB\xE4\xB8\x80\xE6\x9D\x91 12, 3F"},
      {"residence_address", std::string(200, 'a')},
      {"residence_grid", "WH-MAYI-01"},
      {"workplace", ""},
      {"workplace", std::string(200, 'b')},
      {"work_grid", ""},
      {"work_grid", "GZ-GUYI-02"},
      {"category", "VILLAGE_RESIDENT"},
      {"category", "ENTERPRISE_EMPLOYEE"},
      {"category", "COMMUTER"},
      {"list", "WHITE"},
      {"list", "GREY"},
      {"list_reason", ""},
      {"list_reason", "MISSED_TESTS"},
      {"list_reason", "UNCOOPERATIVE"},
      {"last_test_date", ""},
      {"last_test_date", "2022-11-28"},
      {"last_test_date", "2024-02-29"},
      {"last_test_result", ""},
      {"last_test_result", "NEGATIVE"},
      {"last_test_result", "POSITIVE"},
  }));
  INFO("field " << field);
  CHECK(ValidateField(field, value, TestGrids()).ok());
}

TEST_CASE("Validate: every column rejects bad values naming the field and rule only", "[model]") {
  // 64 CJK code points are fine for a name, 65 are not; bytes do not count.
  std::string cjk65;
  for (int i = 0; i < 65; ++i) cjk65 += "\xE9\xBA\xBB";

  auto [field, value, rule] = GENERATE_COPY(table<std::string, std::string, std::string>({
      {"id_doc", "44070419750123230x", "last character must be 0-9 or X"},
      {"id_doc", "440704197501232301", "check digit does not match"},
      {"name", "", "required"},
      {"name", std::string(65, 'a'), "at most 64 characters"},
      {"name", cjk65, "at most 64 characters"},
      {"name", "Li\tSi", "control characters"},
      {"name", "Li\nSi", "control characters"},
      {"name", "Li\x7FSi", "control characters"},
      {"name", std::string("Li\0Si", 5), "control characters"},
      {"name", "Li\xC0\xAFSi", "not valid UTF-8"},
      {"phone", "", "must match ^1[3-9][0-9]{9}$"},
      {"phone", "12000000000", "must match ^1[3-9][0-9]{9}$"},
      {"phone", "23800000000", "must match ^1[3-9][0-9]{9}$"},
      {"phone", "1380000000", "must match ^1[3-9][0-9]{9}$"},
      {"phone", "138000000001", "must match ^1[3-9][0-9]{9}$"},
      {"phone", "1380000000a", "must match ^1[3-9][0-9]{9}$"},
      {"phone", "+8613800000000", "must match ^1[3-9][0-9]{9}$"},
      {"home", "", "required"},
      {"home", "atlantis", "unknown jurisdiction"},
      {"home", "WAIHAI", "unknown jurisdiction"},
      {"residence_address", "", "required"},
      {"residence_address", std::string(201, 'a'), "at most 200 characters"},
      {"residence_address", "A\rB", "control characters"},
      {"residence_grid", "", "required"},
      {"residence_grid", "WH-NOWHERE-99", "unknown grid"},
      {"workplace", std::string(201, 'a'), "at most 200 characters"},
      {"work_grid", "GZ-NOWHERE-01", "unknown grid"},
      {"category", "", "must be one of VILLAGE_RESIDENT, ENTERPRISE_EMPLOYEE, COMMUTER"},
      {"category", "commuter", "must be one of"},
      {"list", "BLACK", "must be one of WHITE, GREY"},
      {"list", "", "must be one of WHITE, GREY"},
      {"list_reason", "LAZY", "must be empty or one of MISSED_TESTS, UNCOOPERATIVE"},
      {"last_test_date", "2022-02-30", "not a real date"},
      {"last_test_date", "2022-13-01", "not a real date"},
      {"last_test_date", "2022/11/28", "date YYYY-MM-DD"},
      {"last_test_date", "22-11-28", "date YYYY-MM-DD"},
      {"last_test_date", "2022-11-28 ", "date YYYY-MM-DD"},
      {"last_test_result", "negative", "must be empty or one of NEGATIVE, POSITIVE"},
  }));
  const absl::Status s = ValidateField(field, value, TestGrids());
  INFO("field " << field << ", rule " << rule);
  REQUIRE(s.code() == absl::StatusCode::kInvalidArgument);
  CHECK_THAT(Msg(s), Catch::StartsWith(field + ": ") && Catch::Contains(rule));
  if (value.size() >= 3) CHECK_THAT(Msg(s), !Catch::Contains(value));
}

TEST_CASE("Validate: an unknown field is refused without echoing an odd name", "[model]") {
  SECTION("an identifier-like name is named") {
    const absl::Status s = ValidateField("shoe_size", "42", TestGrids());
    CHECK(s.code() == absl::StatusCode::kInvalidArgument);
    CHECK(Msg(s) == "shoe_size: unknown field");
  }
  SECTION("a name that may be a shifted value is not") {
    const absl::Status s = ValidateField("13800000000", "x", TestGrids());
    CHECK(s.code() == absl::StatusCode::kInvalidArgument);
    CHECK_THAT(Msg(s), Catch::EndsWith(": unknown field") && !Catch::Contains("1380"));
  }
}

TEST_CASE("Grids: lookups answer grids, jurisdictions and owners", "[model]") {
  const Grids& g = TestGrids();
  CHECK(g.size() == 3);
  CHECK(g.HasGrid("WH-MAYI-01"));
  CHECK_FALSE(g.HasGrid("WH-MAYI-02"));
  CHECK(g.HasJurisdiction("guzhen"));
  CHECK_FALSE(g.HasJurisdiction("GZ-GUYI-02"));
  CHECK(g.JurisdictionOf("GZ-GUYI-02") == std::optional<std::string>("guzhen"));
  CHECK(g.JurisdictionOf("nope") == std::nullopt);
  CHECK(g.entries()[1].grid == "WH-ZHICHONG-18");
}

TEST_CASE("Grids: Add refuses a repeated grid and bad rows", "[model]") {
  Grids g;
  REQUIRE(g.Add({.grid = "A", .jurisdiction = "j", .name = "", .kind = "industrial"}).ok());
  CHECK(g.Add({.grid = "A", .jurisdiction = "k", .name = "", .kind = "industrial"}).code() ==
        absl::StatusCode::kAlreadyExists);
  CHECK(g.JurisdictionOf("A") == std::optional<std::string>("j"));
  CHECK_FALSE(g.Add({.grid = "", .jurisdiction = "j", .name = "", .kind = "residential"}).ok());
  CHECK_FALSE(g.Add({.grid = "B", .jurisdiction = "", .name = "", .kind = "residential"}).ok());
  CHECK_FALSE(g.Add({.grid = "C", .jurisdiction = "j", .name = "", .kind = "farm"}).ok());
  CHECK(g.size() == 1);
}

std::string SamplePath(const std::string& file) {
  return std::string(WLSYNC_SOURCE_DIR) + "/deploy/sample/" + file;
}

TEST_CASE("Grids: the sample grids file loads 153 grids of two jurisdictions", "[model]") {
  absl::StatusOr<Grids> grids = Grids::LoadFile(SamplePath("grids.csv"));
  REQUIRE(grids.ok());
  CHECK(grids->size() == 153);
  CHECK(grids->HasJurisdiction("waihai"));
  CHECK(grids->HasJurisdiction("guzhen"));
  CHECK(grids->JurisdictionOf("WH-MAYI-01") == std::optional<std::string>("waihai"));
  CHECK(grids->entries().front().grid == "WH-MAYI-01");
}

TEST_CASE("Grids: a bad grids file is refused naming the file and line", "[model]") {
  auto [content, want] = GENERATE(table<std::string, std::string>({
      {"grid,jurisdiction,name\nA,j,n\n", "line 1: header has 3 columns"},
      {"grid,jurisdiction,label,kind\n", "line 1: header column 3 should be 'name'"},
      {"grid,jurisdiction,name,kind\nA,j,n,residential\nB,j,n\n", "line 3: expected 4 cells"},
      {"grid,jurisdiction,name,kind\nA,j,n,residential\n\nA,k,n,industrial\n",
       "line 4: grid: listed twice"},
      {"grid,jurisdiction,name,kind\nA,j,n,farm\n", "line 2: kind: must be"},
      {"grid,jurisdiction,name,kind\n,j,n,farm\n", "line 2: grid: required"},
      {"", "empty file"},
  }));
  char dir_template[] = "/tmp/wlsync-grids-XXXXXX";
  REQUIRE(mkdtemp(dir_template) != nullptr);
  const std::string path = std::string(dir_template) + "/grids.csv";
  std::ofstream(path, std::ios::binary) << content;

  absl::StatusOr<Grids> grids = Grids::LoadFile(path);
  std::remove(path.c_str());
  std::remove(dir_template);
  REQUIRE_FALSE(grids.ok());
  CHECK_THAT(Msg(grids.status()), Catch::StartsWith(path + ": ") && Catch::Contains(want));
}

TEST_CASE("Grids: a missing grids file is NotFound", "[model]") {
  absl::StatusOr<Grids> grids = Grids::LoadFile("/nonexistent/wlsync/grids.csv");
  CHECK(grids.status().code() == absl::StatusCode::kNotFound);
}

TEST_CASE("Validate: every row of the sample registry passes every column rule", "[model]") {
  absl::StatusOr<Grids> grids = Grids::LoadFile(SamplePath("grids.csv"));
  REQUIRE(grids.ok());
  absl::StatusOr<std::unique_ptr<CsvReader>> reader =
      CsvReader::Open(SamplePath("commuters.csv"), Encoding::kUtf8);
  REQUIRE(reader.ok());

  CsvRow row;
  REQUIRE(*(*reader)->Next(&row));
  REQUIRE(CheckHeader(row, DataColumns()).ok());

  int64_t rows = 0;
  int64_t failures = 0;
  std::string first_failure;
  std::set<std::string> ids;
  while (true) {
    absl::StatusOr<bool> more = (*reader)->Next(&row);
    REQUIRE(more.ok());
    if (!*more) break;
    ++rows;
    REQUIRE(row.cells.size() == DataColumns().size());
    row.cells[0] = NormalizeIdDoc(row.cells[0]);
    ids.insert(row.cells[0]);
    for (size_t i = 0; i < row.cells.size(); ++i) {
      absl::Status s = ValidateField(DataColumns()[i], row.cells[i], *grids);
      if (s.ok()) continue;
      if (failures++ == 0) first_failure = absl::StrCat("line ", row.line, ": ", s.message());
    }
  }
  INFO(first_failure);
  CHECK(failures == 0);
  CHECK(rows == 10983);
  CHECK(ids.size() == 10983);
}

}  // namespace
}  // namespace wlsync::model
