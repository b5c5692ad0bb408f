#include "model/validate.h"

#include <ctime>

#include <array>
#include <initializer_list>

#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"

namespace wlsync::model {
namespace {

constexpr std::array<int, 17> kIdDocWeights = {7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2};
constexpr std::string_view kIdDocCheckChars = "10X98765432";
constexpr size_t kIdDocLength = 18;
constexpr size_t kMaxNameLength = 64;
constexpr size_t kMaxAddressLength = 200;
constexpr size_t kMaxEchoedFieldName = 32;

// Debian's Abseil is built with its own absl::string_view, which does not convert from
// std::string_view.
absl::string_view Av(std::string_view s) { return absl::string_view(s.data(), s.size()); }

bool IsDigit(char c) { return c >= '0' && c <= '9'; }

bool AllDigits(std::string_view s) {
  for (char c : s) {
    if (!IsDigit(c)) return false;
  }
  return true;
}

// REQUIRES: AllDigits(s) and s.size() <= 9.
int ParseDigits(std::string_view s) {
  int n = 0;
  for (char c : s) n = n * 10 + (c - '0');
  return n;
}

bool InRange(unsigned char c, unsigned char lo, unsigned char hi) { return c >= lo && c <= hi; }

absl::Status Invalid(std::string_view field, std::string_view rule) {
  return absl::InvalidArgumentError(absl::StrCat(Av(field), ": ", Av(rule)));
}

// A field name comes from a file (the changes file's `field` column), so it may be a shifted
// value. Echo it only when it looks like a column identifier.
bool LooksLikeIdentifier(std::string_view name) {
  if (name.empty() || name.size() > kMaxEchoedFieldName) return false;
  for (char c : name) {
    if (!(InRange(c, 'a', 'z') || c == '_' || IsDigit(c))) return false;
  }
  return !IsDigit(name.front());
}

// Invisible or reordering characters that have no place in a name or an address: C1
// controls, zero-width and direction marks, line and paragraph separators, bidirectional
// embeddings, overrides and isolates, word joiners, a byte-order mark, annotation marks.
bool IsHiddenFormatChar(uint32_t cp) {
  return (cp >= 0x80 && cp <= 0x9F) || (cp >= 0x200B && cp <= 0x200F) ||
         (cp >= 0x2028 && cp <= 0x202E) || (cp >= 0x2060 && cp <= 0x2069) || cp == 0xFEFF ||
         (cp >= 0xFFF9 && cp <= 0xFFFB);
}

absl::Status CheckText(std::string_view field, std::string_view value) {
  if (!IsValidUtf8(value)) return Invalid(field, "not valid UTF-8");
  for (size_t i = 0; i < value.size();) {
    const auto u = static_cast<unsigned char>(value[i]);
    if (u < 0x20 || u == 0x7F) return Invalid(field, "must not contain control characters");
    int len = Utf8SequenceLength(value.substr(i));
    uint32_t cp = u;
    if (len > 1) {
      cp = u & (0xFF >> (len + 1));
      for (int k = 1; k < len; ++k) cp = (cp << 6) | (static_cast<unsigned char>(value[i + k]) & 0x3F);
    }
    if (IsHiddenFormatChar(cp)) {
      return Invalid(field, "must not contain invisible or direction-changing characters");
    }
    i += static_cast<size_t>(len > 0 ? len : 1);
  }
  return absl::OkStatus();
}

// Today as YYYYMMDD, taken generously (UTC+14, the earliest local date anywhere) so that
// no jurisdiction's today is refused as a future date.
int LatestTodayYmd() {
  std::time_t t = std::time(nullptr) + 14 * 3600;
  std::tm tm{};
  gmtime_r(&t, &tm);
  return (tm.tm_year + 1900) * 10000 + (tm.tm_mon + 1) * 100 + tm.tm_mday;
}

// GB 11643 region codes start with a province code; these are the ones in use.
bool IsProvinceCode(int code) {
  return (code >= 11 && code <= 15) || (code >= 21 && code <= 23) || (code >= 31 && code <= 37) ||
         (code >= 41 && code <= 46) || (code >= 50 && code <= 54) || (code >= 61 && code <= 65) ||
         code == 71 || code == 81 || code == 82;
}

absl::Status CheckLength(std::string_view field, std::string_view value, bool required,
                         size_t max_code_points) {
  if (required && value.empty()) return Invalid(field, "required");
  if (Utf8Length(value) > max_code_points) {
    return Invalid(field, absl::StrCat("at most ", max_code_points, " characters"));
  }
  return absl::OkStatus();
}

absl::Status CheckOneOf(std::string_view field, std::string_view value, bool allow_empty,
                        std::initializer_list<std::string_view> allowed) {
  if (allow_empty && value.empty()) return absl::OkStatus();
  for (std::string_view a : allowed) {
    if (value == a) return absl::OkStatus();
  }
  std::string rule = allow_empty ? "must be empty or one of " : "must be one of ";
  for (std::string_view a : allowed) {
    if (a != *allowed.begin()) rule += ", ";
    rule += a;
  }
  return Invalid(field, rule);
}

absl::Status CheckGrid(std::string_view field, std::string_view value, bool required,
                       const Grids& grids) {
  if (value.empty()) return required ? Invalid(field, "required") : absl::OkStatus();
  if (!grids.HasGrid(value)) return Invalid(field, "unknown grid");
  return absl::OkStatus();
}

absl::Status CheckIsoDate(std::string_view field, std::string_view value) {
  if (value.empty()) return absl::OkStatus();
  const bool shaped = value.size() == 10 && value[4] == '-' && value[7] == '-' &&
                      AllDigits(value.substr(0, 4)) && AllDigits(value.substr(5, 2)) &&
                      AllDigits(value.substr(8, 2));
  if (!shaped) return Invalid(field, "must be empty or a date YYYY-MM-DD");
  if (!IsRealDate(ParseDigits(value.substr(0, 4)), ParseDigits(value.substr(5, 2)),
                  ParseDigits(value.substr(8, 2)))) {
    return Invalid(field, "not a real date between 1900-01-01 and 2100-12-31");
  }
  int ymd = ParseDigits(value.substr(0, 4)) * 10000 + ParseDigits(value.substr(5, 2)) * 100 +
            ParseDigits(value.substr(8, 2));
  if (ymd > LatestTodayYmd()) return Invalid(field, "must not be in the future");
  return absl::OkStatus();
}

bool IsMobilePhone(std::string_view v) {
  return v.size() == 11 && v[0] == '1' && InRange(v[1], '3', '9') && AllDigits(v);
}

// One checker per column; each receives a value already known to be clean UTF-8 text.
using FieldCheck = absl::Status (*)(std::string_view field, std::string_view value,
                                    const Grids& grids);

struct FieldRule {
  std::string_view name;
  FieldCheck check;
};

const std::array<FieldRule, 13>& FieldRules() {
  static const std::array<FieldRule, 13> kRules = {{
      {"id_doc", [](auto, auto v, const Grids&) { return ValidateIdDoc(v); }},
      {"name",
       [](auto f, auto v, const Grids&) { return CheckLength(f, v, true, kMaxNameLength); }},
      {"phone",
       [](auto f, auto v, const Grids&) {
         return IsMobilePhone(v) ? absl::OkStatus() : Invalid(f, "must match ^1[3-9][0-9]{9}$");
       }},
      {"home",
       [](auto f, auto v, const Grids& g) {
         if (v.empty()) return Invalid(f, "required");
         return g.HasJurisdiction(v) ? absl::OkStatus() : Invalid(f, "unknown jurisdiction");
       }},
      {"residence_address",
       [](auto f, auto v, const Grids&) { return CheckLength(f, v, true, kMaxAddressLength); }},
      {"residence_grid", [](auto f, auto v, const Grids& g) { return CheckGrid(f, v, true, g); }},
      {"workplace",
       [](auto f, auto v, const Grids&) { return CheckLength(f, v, false, kMaxAddressLength); }},
      {"work_grid", [](auto f, auto v, const Grids& g) { return CheckGrid(f, v, false, g); }},
      {"category",
       [](auto f, auto v, const Grids&) {
         return CheckOneOf(f, v, /*allow_empty=*/false,
                           {"VILLAGE_RESIDENT", "ENTERPRISE_EMPLOYEE", "COMMUTER"});
       }},
      {"list",
       [](auto f, auto v, const Grids&) {
         return CheckOneOf(f, v, /*allow_empty=*/false, {"WHITE", "GREY"});
       }},
      {"list_reason",
       [](auto f, auto v, const Grids&) {
         return CheckOneOf(f, v, /*allow_empty=*/true, {"MISSED_TESTS", "UNCOOPERATIVE"});
       }},
      {"last_test_date", [](auto f, auto v, const Grids&) { return CheckIsoDate(f, v); }},
      {"last_test_result",
       [](auto f, auto v, const Grids&) {
         return CheckOneOf(f, v, /*allow_empty=*/true, {"NEGATIVE", "POSITIVE"});
       }},
  }};
  return kRules;
}

}  // namespace

const std::vector<std::string_view>& DataColumns() {
  static const auto* const kColumns = [] {
    auto* columns = new std::vector<std::string_view>();
    for (const FieldRule& rule : FieldRules()) columns->push_back(rule.name);
    return columns;
  }();
  return *kColumns;
}

std::string NormalizeIdDoc(std::string_view raw) {
  constexpr std::string_view kSpace = " \t\r\n\f\v";
  const size_t begin = raw.find_first_not_of(kSpace);
  if (begin == std::string_view::npos) return "";
  std::string out(raw.substr(begin, raw.find_last_not_of(kSpace) - begin + 1));
  if (out.back() == 'x') out.back() = 'X';
  return out;
}

char IdDocCheckChar(std::string_view first17) {
  int sum = 0;
  for (size_t i = 0; i < kIdDocWeights.size(); ++i) sum += (first17[i] - '0') * kIdDocWeights[i];
  return kIdDocCheckChars[sum % 11];
}

absl::Status ValidateIdDoc(std::string_view id) {
  constexpr std::string_view kField = "id_doc";
  if (id.size() != kIdDocLength) return Invalid(kField, "must be 18 characters");
  if (!AllDigits(id.substr(0, 17))) return Invalid(kField, "first 17 characters must be digits");

  const std::string_view birth = id.substr(6, 8);
  if (!IsRealDate(ParseDigits(birth.substr(0, 4)), ParseDigits(birth.substr(4, 2)),
                  ParseDigits(birth.substr(6, 2)))) {
    return Invalid(kField,
                   "characters 7-14 must be a real birth date YYYYMMDD between 1900 and 2100");
  }

  if (!IsProvinceCode(ParseDigits(id.substr(0, 2)))) {
    return Invalid(kField, "characters 1-2 must be a province code of GB 11643");
  }
  if (ParseDigits(birth) > LatestTodayYmd()) {
    return Invalid(kField, "characters 7-14: the birth date is in the future");
  }

  const char last = id[17];
  if (!IsDigit(last) && last != 'X') return Invalid(kField, "last character must be 0-9 or X");
  if (last != IdDocCheckChar(id.substr(0, 17))) {
    return Invalid(kField, "check digit does not match (ISO 7064 MOD 11-2)");
  }
  return absl::OkStatus();
}

bool IsRealDate(int year, int month, int day) {
  if (year < 1900 || year > 2100 || month < 1 || month > 12 || day < 1) return false;
  constexpr std::array<int, 12> kDays = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  const bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
  const int days = kDays[month - 1] + (month == 2 && leap ? 1 : 0);
  return day <= days;
}

int Utf8SequenceLength(std::string_view s) {
  if (s.empty()) return 0;
  const auto b0 = static_cast<unsigned char>(s[0]);
  if (b0 < 0x80) return 1;

  // The allowed range of the second byte depends on the lead byte (RFC 3629 section 4); the
  // narrow ranges are what exclude overlongs, surrogates and code points above U+10FFFF.
  int len = 0;
  unsigned char lo = 0x80, hi = 0xBF;
  if (InRange(b0, 0xC2, 0xDF)) {
    len = 2;
  } else if (InRange(b0, 0xE0, 0xEF)) {
    len = 3;
    if (b0 == 0xE0) lo = 0xA0;
    if (b0 == 0xED) hi = 0x9F;
  } else if (InRange(b0, 0xF0, 0xF4)) {
    len = 4;
    if (b0 == 0xF0) lo = 0x90;
    if (b0 == 0xF4) hi = 0x8F;
  } else {
    return 0;
  }

  for (int i = 1; i < len; ++i) {
    if (static_cast<size_t>(i) >= s.size()) return -1;
    const auto b = static_cast<unsigned char>(s[i]);
    if (i == 1 ? !InRange(b, lo, hi) : !InRange(b, 0x80, 0xBF)) return 0;
  }
  return len;
}

bool IsValidUtf8(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    if (static_cast<unsigned char>(s[i]) < 0x80) {
      ++i;
      continue;
    }
    const int len = Utf8SequenceLength(s.substr(i));
    if (len <= 0) return false;
    i += static_cast<size_t>(len);
  }
  return true;
}

size_t Utf8Length(std::string_view s) {
  size_t n = 0;
  for (char c : s) {
    if ((static_cast<unsigned char>(c) & 0xC0) != 0x80) ++n;
  }
  return n;
}

absl::Status ValidateField(std::string_view field, std::string_view value, const Grids& grids) {
  for (const FieldRule& rule : FieldRules()) {
    if (rule.name != field) continue;
    if (absl::Status s = CheckText(rule.name, value); !s.ok()) return s;
    return rule.check(rule.name, value, grids);
  }
  return Invalid(LooksLikeIdentifier(field) ? field : "(unrecognised name)", "unknown field");
}

}  // namespace wlsync::model
