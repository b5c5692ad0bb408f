// wlsync-gen: writes a deterministic synthetic registry in commuters.csv format for benchmarks
// and end-to-end tests, optionally a changes file and a "quirks" variant (BOM, CRLF, quoting,
// padding, lowercase x, known-bad rows) with a JSON file of what an importer must accept.
//
//   wlsync-gen --rows N --seed S --out FILE [--grids FILE]
//              [--changes M --changes-out FILE --changes-home NAME] [--quirks --expect-out F]
//
// Every person is invented: names are draws from a short list of syllables, identity numbers
// carry a valid check digit over random birth dates. Same seed and arguments give
// byte-identical files on every platform: randomness is std::mt19937_64 (fully specified by
// the standard) with our own integer-only distributions.
#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <memory>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "CLI/CLI.hpp"
#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "model/grids.h"
#include "model/validate.h"

namespace wlsync::bench {
namespace {

using model::GridInfo;
using model::Grids;

// Debian's Abseil is built with its own absl::string_view, which does not convert from
// std::string_view.
absl::string_view Av(std::string_view s) { return absl::string_view(s.data(), s.size()); }

constexpr int64_t kMaxRows = 20'000'000;  // Far below the ~20M birth-date x sequence slots.
constexpr std::array<std::string_view, 2> kHomes = {"waihai", "guzhen"};
constexpr std::array<std::string_view, 2> kRegionPrefix = {"440704", "442000"};
constexpr std::array<std::string_view, 3> kTestDates = {"2022-11-26", "2022-11-27", "2022-11-28"};
constexpr std::string_view kChangeDate = "2022-11-29";

// Syllables for invented names, family name first.
constexpr std::array<std::string_view, 30> kFamilySyllables = {
    "陈", "李", "黄", "张", "梁", "林", "刘", "吴", "罗", "何", "郑", "谢", "杨", "周", "卢",
    "冯", "邓", "曾", "彭", "余", "潘", "叶", "苏", "区", "莫", "甘", "江", "钟", "谭", "麦"};
constexpr std::array<std::string_view, 3> kDoubleFamilySyllables = {"司徒", "欧阳", "上官"};
constexpr std::array<std::string_view, 32> kGivenSyllables = {
    "伟", "敏", "杰", "秀", "豪", "铮", "鹏", "婷", "嘉", "俊", "华", "玲", "健", "丽", "志", "燕",
    "文", "芳", "明", "霞", "宇", "慧", "强", "雯", "浩", "琳", "鑫", "颖", "锋", "怡", "坤", "悦"};
constexpr std::array<std::string_view, 8> kStreets = {"北巷",   "南巷",   "东巷", "西巷",
                                                      "中大道", "北大道", "新坊", "西大道"};
constexpr std::array<std::string_view, 8> kWorkplaces = {
    "五金厂", "灯具厂", "物流中心", "电器商行", "包装制品厂", "照明科技公司", "模具厂", "线路板厂"};

enum Column {
  kIdDoc,
  kName,
  kPhone,
  kHome,
  kResidenceAddress,
  kResidenceGrid,
  kWorkplace,
  kWorkGrid,
  kCategory,
  kList,
  kListReason,
  kLastTestDate,
  kLastTestResult,
  kColumnCount
};
using Row = std::array<std::string, kColumnCount>;

// Kinds of deliberately wrong rows in --quirks output; names as in the expect JSON.
enum class Defect { kNone, kBadCheckDigit, kBadPhone, kUnknownGrid, kDuplicate };
constexpr std::array<std::string_view, 5> kDefectNames = {"", "bad_check_digit", "bad_phone",
                                                          "unknown_grid", "duplicate"};

struct Options {
  int64_t rows = 0;
  uint64_t seed = 1;
  std::string out;
  std::string grids = "deploy/sample/grids.csv";
  int64_t changes = 0;
  std::string changes_out;
  std::string changes_home = "waihai";
  bool quirks = false;
  std::string expect_out;
};

// Deterministic randomness: the mt19937_64 sequence is fixed by the standard, and the
// distributions below use integer arithmetic only.
class Rng {
 public:
  explicit Rng(uint64_t seed) : engine_(seed) {}

  // Uniform in [0, n). REQUIRES: n > 0. Rejects the low 2^64 mod n values to avoid bias.
  uint64_t Below(uint64_t n) {
    const uint64_t reject_under = (0 - n) % n;
    uint64_t x = engine_();
    while (x < reject_under) x = engine_();
    return x % n;
  }
  bool Chance(uint64_t per_million) { return Below(1'000'000) < per_million; }
  template <typename C>
  const auto& Pick(const C& items) {
    return items[Below(items.size())];
  }
  void Digits(int count, std::string* out) {
    for (int i = 0; i < count; ++i) out->push_back(static_cast<char>('0' + Below(10)));
  }

 private:
  std::mt19937_64 engine_;
};

// The grids of each home jurisdiction split by kind, in file order (hash sets have no stable
// order across runs, so draws index these vectors).
struct HomeGrids {
  std::vector<const GridInfo*> residential, industrial, all, elsewhere;
};

absl::StatusOr<std::array<HomeGrids, kHomes.size()>> PlanGrids(const Grids& grids) {
  std::array<HomeGrids, kHomes.size()> plan;
  for (size_t h = 0; h < kHomes.size(); ++h) {
    for (const GridInfo& g : grids.entries()) {
      HomeGrids& p = plan[h];
      if (g.jurisdiction != kHomes[h]) {
        p.elsewhere.push_back(&g);
        continue;
      }
      p.all.push_back(&g);
      (g.kind == "industrial" ? p.industrial : p.residential).push_back(&g);
    }
    if (plan[h].all.empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat("grids: no grid of jurisdiction ", Av(kHomes[h])));
    }
    if (plan[h].residential.empty()) plan[h].residential = plan[h].all;
    if (plan[h].industrial.empty()) plan[h].industrial = plan[h].all;
    if (plan[h].elsewhere.empty()) plan[h].elsewhere = plan[h].all;
  }
  return plan;
}

// "麻一村第1网格" -> "麻一村": the place part of a grid's display name, for addresses.
std::string PlaceOf(const GridInfo& g) {
  const std::string& name = g.name.empty() ? g.grid : g.name;
  const size_t cut = name.find("第");
  return name.substr(0, cut == 0 ? std::string::npos : cut);
}

// All birth dates 1950-01-01 .. 2005-12-31 as YYYYMMDD.
std::vector<std::string> BirthDates() {
  std::vector<std::string> dates;
  for (int y = 1950; y <= 2005; ++y) {
    for (int m = 1; m <= 12; ++m) {
      for (int d = 1; d <= 31 && model::IsRealDate(y, m, d); ++d) {
        char buf[9];
        std::snprintf(buf, sizeof(buf), "%04d%02d%02d", y, m, d);
        dates.emplace_back(buf, 8);
      }
    }
  }
  return dates;
}

// What the changes file needs to remember of each valid person.
struct PersonRef {
  std::array<char, 18> id;
  uint8_t home;
  const GridInfo* residence;
};

// Draws valid invented people. Identity numbers are unique across all calls.
class PersonFactory {
 public:
  PersonFactory(const std::array<HomeGrids, kHomes.size()>& plan, Rng* rng)
      : plan_(plan), rng_(*rng), birth_dates_(BirthDates()) {}

  void Make(Row* row, PersonRef* ref) {
    const int home = rng_.Chance(800'000) ? 0 : 1;
    (*row)[kIdDoc] = FreshId(home);
    (*row)[kName] = Name();
    (*row)[kPhone] = Phone();
    (*row)[kHome] = kHomes[home];
    MakePlaces(home, row, ref);
    MakeStatus(row);
    std::memcpy(ref->id.data(), (*row)[kIdDoc].data(), ref->id.size());
    ref->home = static_cast<uint8_t>(home);
  }

  std::string FreshId(int home) {
    while (true) {
      const uint64_t date = rng_.Below(birth_dates_.size());
      const uint64_t seq = rng_.Below(1000);
      if (!used_ids_.insert((date * 1000 + seq) * kHomes.size() + home).second) continue;
      std::string id = absl::StrCat(Av(kRegionPrefix[home]), birth_dates_[date]);
      id.push_back(static_cast<char>('0' + seq / 100));
      id.push_back(static_cast<char>('0' + seq / 10 % 10));
      id.push_back(static_cast<char>('0' + seq % 10));
      id.push_back(model::IdDocCheckChar(id));
      return id;
    }
  }

  std::string Phone() {
    std::string phone = "1";
    phone.push_back(static_cast<char>('3' + rng_.Below(7)));
    rng_.Digits(9, &phone);
    return phone;
  }

  std::string Address(const GridInfo& grid) {
    return absl::StrCat(PlaceOf(grid), Av(rng_.Pick(kStreets)), 1 + rng_.Below(199), "号");
  }

 private:
  std::string Name() {
    std::string name(rng_.Chance(30'000) ? rng_.Pick(kDoubleFamilySyllables)
                                         : rng_.Pick(kFamilySyllables));
    const int given = rng_.Chance(300'000) ? 1 : 2;
    for (int i = 0; i < given; ++i) name += rng_.Pick(kGivenSyllables);
    return name;
  }

  // Category, residence in the home jurisdiction, work across the river (industrial parks for
  // enterprise employees), shaped on the sample's proportions.
  void MakePlaces(int home, Row* row, PersonRef* ref) {
    const HomeGrids& grids = plan_[home];
    const uint64_t draw = rng_.Below(1000);
    const std::string_view category = home == 1    ? "COMMUTER"
                                      : draw < 698 ? "VILLAGE_RESIDENT"
                                      : draw < 946 ? "COMMUTER"
                                                   : "ENTERPRISE_EMPLOYEE";
    const GridInfo* residence = rng_.Pick(grids.residential);
    const GridInfo* work = category == "ENTERPRISE_EMPLOYEE" ? rng_.Pick(grids.industrial)
                                                             : rng_.Pick(grids.elsewhere);
    (*row)[kCategory] = category;
    (*row)[kResidenceAddress] = Address(*residence);
    (*row)[kResidenceGrid] = residence->grid;
    (*row)[kWorkplace] = absl::StrCat(PlaceOf(*work), Av(rng_.Pick(kWorkplaces)));
    (*row)[kWorkGrid] = work->grid;
    ref->residence = residence;
  }

  // List and last test, shaped on the sample: 4.8% grey, a third of them never tested.
  void MakeStatus(Row* row) {
    const bool grey = rng_.Chance(47'600);
    (*row)[kList] = grey ? "GREY" : "WHITE";
    (*row)[kListReason] = !grey ? "" : rng_.Chance(788'000) ? "MISSED_TESTS" : "UNCOOPERATIVE";
    const bool tested = !grey || rng_.Chance(670'000);
    (*row)[kLastTestDate] = tested ? rng_.Pick(kTestDates) : "";
    (*row)[kLastTestResult] = tested ? "NEGATIVE" : "";
  }

  const std::array<HomeGrids, kHomes.size()>& plan_;
  Rng& rng_;
  const std::vector<std::string> birth_dates_;
  absl::flat_hash_set<uint64_t> used_ids_;
};

// A buffered output file; write errors surface from Flush and Close.
class OutFile {
 public:
  static absl::StatusOr<std::unique_ptr<OutFile>> Create(const std::string& path) {
    std::FILE* f = std::fopen(path.c_str(), "wb");
    if (f == nullptr) {
      return absl::PermissionDeniedError(
          absl::StrCat(path, ": cannot create: ", std::strerror(errno)));
    }
    return std::unique_ptr<OutFile>(new OutFile(path, f));
  }
  ~OutFile() {
    if (file_ != nullptr) std::fclose(file_);
  }

  std::string& buf() { return buf_; }

  absl::Status MaybeFlush() { return buf_.size() < kFlushBytes ? absl::OkStatus() : Flush(); }

  absl::Status Close() {
    absl::Status s = Flush();
    const int rc = std::fclose(file_);
    file_ = nullptr;
    if (s.ok() && rc != 0) s = absl::DataLossError(absl::StrCat(path_, ": close failed"));
    return s;
  }

 private:
  static constexpr size_t kFlushBytes = size_t{1} << 20;

  OutFile(std::string path, std::FILE* f) : path_(std::move(path)), file_(f) {}

  absl::Status Flush() {
    if (std::fwrite(buf_.data(), 1, buf_.size(), file_) != buf_.size()) {
      return absl::DataLossError(absl::StrCat(path_, ": write failed: ", std::strerror(errno)));
    }
    buf_.clear();
    return absl::OkStatus();
  }

  const std::string path_;
  std::FILE* file_;
  std::string buf_;
};

// How one row is spelled in --quirks mode; none of this changes what it means.
struct Spelling {
  bool pad = false;      // Spaces and tabs around every cell.
  bool lower_x = false;  // A trailing X check digit written as x.
  bool quote_all = false;
  std::string_view eol = "\n";
};

void AppendCell(std::string_view value, bool pad, bool quote, std::string* out) {
  quote = quote || value.find_first_of(",\"\r\n") != std::string_view::npos;
  if (pad) out->append("  ");
  if (quote) out->push_back('"');
  for (char c : value) {
    if (c == '"') out->push_back('"');
    out->push_back(c);
  }
  if (quote) out->push_back('"');
  if (pad) out->append(" \t");
}

void AppendRow(const Row& row, const Spelling& sp, std::string* out) {
  for (size_t i = 0; i < row.size(); ++i) {
    if (i > 0) out->push_back(',');
    if (i == kIdDoc && sp.lower_x && row[i].back() == 'X') {
      std::string id = row[i];
      id.back() = 'x';
      AppendCell(id, sp.pad, sp.quote_all, out);
      continue;
    }
    AppendCell(row[i], sp.pad, sp.quote_all, out);
  }
  out->append(sp.eol);
}

// Chooses which data rows (0-based) carry which defect: about 0.25% of rows per kind and at
// least one of each when there are five rows or more. Row 0 stays valid so that a duplicate
// always has an earlier row to repeat.
std::vector<Defect> PlanDefects(int64_t rows, Rng& rng) {
  std::vector<Defect> plan(static_cast<size_t>(rows), Defect::kNone);
  if (rows < 5) return plan;
  const int64_t per_kind = std::max<int64_t>(1, rows / 400);
  for (Defect kind :
       {Defect::kBadCheckDigit, Defect::kBadPhone, Defect::kUnknownGrid, Defect::kDuplicate}) {
    for (int64_t placed = 0; placed < per_kind;) {
      const uint64_t at = 1 + rng.Below(static_cast<uint64_t>(rows - 1));
      if (plan[at] != Defect::kNone) continue;
      plan[at] = kind;
      ++placed;
    }
  }
  return plan;
}

std::string UnknownGrid(const Grids& grids, Rng& rng) {
  while (true) {
    std::string grid = "WH-NOWHERE-";
    rng.Digits(2, &grid);
    if (!grids.HasGrid(grid)) return grid;
  }
}

// Turns a valid row into one with exactly the given defect.
void Spoil(Defect defect, const std::vector<PersonRef>& valid, const Grids& grids, Rng& rng,
           Row* row) {
  switch (defect) {
    case Defect::kNone:
      return;
    case Defect::kBadCheckDigit: {
      constexpr std::string_view kChecks = "0123456789X";
      const size_t at = kChecks.find((*row)[kIdDoc].back());
      (*row)[kIdDoc].back() = kChecks[(at + 1 + rng.Below(kChecks.size() - 1)) % kChecks.size()];
      return;
    }
    case Defect::kBadPhone:
      (*row)[kPhone] = "1";
      (*row)[kPhone].push_back(static_cast<char>('0' + rng.Below(3)));
      rng.Digits(9, &(*row)[kPhone]);
      return;
    case Defect::kUnknownGrid:
      (*row)[kResidenceGrid] = UnknownGrid(grids, rng);
      return;
    case Defect::kDuplicate: {
      const std::array<char, 18>& id = rng.Pick(valid).id;
      (*row)[kIdDoc].assign(id.data(), id.size());
      return;
    }
  }
}

// Picks the spelling quirks of one row and puts commas into some values (which forces their
// quoting). Only the planned defect may make a row invalid, so every quirk here is benign.
void Respell(Defect defect, Rng& rng, Row* row, Spelling* sp) {
  sp->pad = rng.Chance(20'000);
  sp->quote_all = rng.Chance(10'000);
  sp->lower_x = (defect == Defect::kNone || defect == Defect::kDuplicate) && rng.Chance(500'000);
  if (rng.Chance(20'000)) {
    absl::StrAppend(&(*row)[kResidenceAddress], ",", 1 + rng.Below(9), "楼");
  }
  if (rng.Chance(10'000)) (*row)[kWorkplace] += ",二车间";
}

struct Rejected {
  int64_t line;
  Defect defect;
};

// Writes the registry; fills `valid` with the people that an importer keeps.
absl::Status WriteRegistry(const Options& opt, const Grids& grids, PersonFactory& people, Rng& rng,
                           std::vector<PersonRef>* valid, std::vector<Rejected>* rejected) {
  absl::StatusOr<std::unique_ptr<OutFile>> out = OutFile::Create(opt.out);
  if (!out.ok()) return out.status();
  std::string& buf = (*out)->buf();
  const std::vector<Defect> defects =
      opt.quirks ? PlanDefects(opt.rows, rng) : std::vector<Defect>(opt.rows, Defect::kNone);
  Spelling sp;
  if (opt.quirks) {
    buf.append("\xEF\xBB\xBF");
    sp.eol = "\r\n";
  }
  for (size_t i = 0; i < model::DataColumns().size(); ++i) {
    if (i > 0) buf.push_back(',');
    buf.append(model::DataColumns()[i]);
  }
  buf.append(sp.eol);

  valid->reserve(static_cast<size_t>(opt.rows));
  Row row;
  for (int64_t i = 0; i < opt.rows; ++i) {
    PersonRef ref;
    people.Make(&row, &ref);
    const Defect defect = defects[static_cast<size_t>(i)];
    if (opt.quirks) Respell(defect, rng, &row, &sp);
    Spoil(defect, *valid, grids, rng, &row);
    AppendRow(row, sp, &buf);
    if (defect == Defect::kNone) valid->push_back(ref);
    if (defect != Defect::kNone) rejected->push_back({.line = i + 2, .defect = defect});
    if (absl::Status s = (*out)->MaybeFlush(); !s.ok()) return s;
  }
  return (*out)->Close();
}

void AppendChange(std::string_view op, const PersonRef& who, std::string_view field,
                  std::string_view value, std::string* out) {
  absl::StrAppend(out, Av(op), ",", absl::string_view(who.id.data(), who.id.size()), ",", Av(field),
                  ",");
  AppendCell(value, /*pad=*/false, /*quote=*/false, out);
  out->push_back('\n');
}

// Draws a person not yet deregistered, optionally only of one home; nullptr when repeated
// draws find none (tiny registries).
const PersonRef* PickPerson(const std::vector<PersonRef>& people,
                            const absl::flat_hash_set<const PersonRef*>& gone, int home, Rng& rng) {
  for (int attempt = 0; attempt < 1000; ++attempt) {
    const PersonRef& p = rng.Pick(people);
    if ((home < 0 || p.home == home) && !gone.contains(&p)) return &p;
  }
  return nullptr;
}

// One edit of one person: 1 or 2 lines (list with its reason, test date with its result).
// Proportions follow the sample's changes files.
int64_t AppendEdit(const PersonRef& who, int64_t room, PersonFactory& people, Rng& rng,
                   std::string* out) {
  uint64_t kind = rng.Below(355);
  if (room < 2 && kind >= 185) kind = 0;
  if (kind < 108) {
    AppendChange("set", who, "phone", people.Phone(), out);
    return 1;
  }
  if (kind < 185) {
    const std::string address =
        absl::StrCat(people.Address(*who.residence), "之", 1 + rng.Below(20));
    AppendChange("set", who, "residence_address", address, out);
    return 1;
  }
  if (kind < 266) {
    const bool grey = rng.Chance(900'000);
    AppendChange("set", who, "list", grey ? "GREY" : "WHITE", out);
    AppendChange("set", who, "list_reason", grey ? "MISSED_TESTS" : "", out);
    return 2;
  }
  AppendChange("set", who, "last_test_date", kChangeDate, out);
  AppendChange("set", who, "last_test_result", rng.Chance(920'000) ? "NEGATIVE" : "POSITIVE", out);
  return 2;
}

// Writes opt.changes lines of next-day edits made at --changes-home: sets of any person, and
// (about one line in ten) deregisters of people of that home. Nobody is touched after being
// deregistered.
absl::Status WriteChanges(const Options& opt, const std::vector<PersonRef>& valid,
                          PersonFactory& people, Rng& rng) {
  absl::StatusOr<std::unique_ptr<OutFile>> out = OutFile::Create(opt.changes_out);
  if (!out.ok()) return out.status();
  std::string& buf = (*out)->buf();
  buf.append("op,id_doc,field,value\n");

  int own_home = -1;
  for (size_t h = 0; h < kHomes.size(); ++h) {
    if (kHomes[h] == opt.changes_home) own_home = static_cast<int>(h);
  }
  absl::flat_hash_set<const PersonRef*> gone;
  for (int64_t written = 0; written < opt.changes && !valid.empty();) {
    if (rng.Chance(100'000)) {
      const PersonRef* leaver = PickPerson(valid, gone, own_home, rng);
      if (own_home < 0 || leaver == nullptr) continue;
      AppendChange("deregister", *leaver, "", "", &buf);
      gone.insert(leaver);
      ++written;
      continue;
    }
    const PersonRef* who = PickPerson(valid, gone, /*home=*/-1, rng);
    if (who == nullptr) break;
    written += AppendEdit(*who, opt.changes - written, people, rng, &buf);
    if (absl::Status s = (*out)->MaybeFlush(); !s.ok()) return s;
  }
  return (*out)->Close();
}

absl::Status WriteExpect(const Options& opt, int64_t valid, const std::vector<Rejected>& rejected) {
  absl::StatusOr<std::unique_ptr<OutFile>> out = OutFile::Create(opt.expect_out);
  if (!out.ok()) return out.status();
  std::string& buf = (*out)->buf();
  absl::StrAppend(&buf, "{\"rows\": ", opt.rows, ", \"valid\": ", valid, ", \"rejected\": [");
  for (size_t i = 0; i < rejected.size(); ++i) {
    absl::StrAppend(&buf, i == 0 ? "\n  " : ",\n  ", "{\"line\": ", rejected[i].line,
                    ", \"kind\": \"", Av(kDefectNames[static_cast<size_t>(rejected[i].defect)]),
                    "\"}");
    if (absl::Status s = (*out)->MaybeFlush(); !s.ok()) return s;
  }
  buf.append(rejected.empty() ? "]}\n" : "\n]}\n");
  return (*out)->Close();
}

absl::Status Run(const Options& opt) {
  absl::StatusOr<Grids> grids = Grids::LoadFile(opt.grids);
  if (!grids.ok()) return grids.status();
  absl::StatusOr<std::array<HomeGrids, kHomes.size()>> plan = PlanGrids(*grids);
  if (!plan.ok()) return plan.status();
  if (!opt.changes_out.empty() && !grids->HasJurisdiction(opt.changes_home)) {
    return absl::InvalidArgumentError("--changes-home: not a jurisdiction of the grids file");
  }

  Rng rng(opt.seed);
  PersonFactory people(*plan, &rng);
  std::vector<PersonRef> valid;
  std::vector<Rejected> rejected;
  if (absl::Status s = WriteRegistry(opt, *grids, people, rng, &valid, &rejected); !s.ok()) {
    return s;
  }
  if (!opt.changes_out.empty()) {
    if (absl::Status s = WriteChanges(opt, valid, people, rng); !s.ok()) return s;
  }
  if (!opt.expect_out.empty()) {
    if (absl::Status s = WriteExpect(opt, static_cast<int64_t>(valid.size()), rejected); !s.ok()) {
      return s;
    }
  }
  std::cout << "wlsync-gen: rows=" << opt.rows << " valid=" << valid.size()
            << " rejected=" << rejected.size() << " out=" << opt.out << "\n";
  return absl::OkStatus();
}

}  // namespace
}  // namespace wlsync::bench

int main(int argc, char** argv) {
  wlsync::bench::Options opt;
  CLI::App app{"wlsync-gen: writes a deterministic synthetic commuter registry"};
  app.add_option("--rows", opt.rows, "Data rows to write (header excluded)")
      ->required()
      ->check(CLI::Range(int64_t{0}, wlsync::bench::kMaxRows));
  app.add_option("--seed", opt.seed, "Random seed; same seed and arguments, same bytes")
      ->required();
  app.add_option("--out", opt.out, "Registry file to write (commuters.csv format)")->required();
  app.add_option("--grids", opt.grids, "grids.csv to draw grids from")->capture_default_str();
  CLI::Option* changes_out =
      app.add_option("--changes-out", opt.changes_out, "Changes file to write");
  app.add_option("--changes", opt.changes, "Lines of the changes file")
      ->check(CLI::NonNegativeNumber)
      ->needs(changes_out);
  app.add_option("--changes-home", opt.changes_home, "Jurisdiction making the changes")
      ->capture_default_str();
  CLI::Option* quirks =
      app.add_flag("--quirks", opt.quirks, "BOM, CRLF, quoting, padding, x, and bad rows");
  app.add_option("--expect-out", opt.expect_out, "JSON of the expected import result")
      ->needs(quirks);
  CLI11_PARSE(app, argc, argv);

  if (absl::Status s = wlsync::bench::Run(opt); !s.ok()) {
    std::cerr << "wlsync-gen: " << s.message() << "\n";
    return 1;
  }
  return 0;
}
