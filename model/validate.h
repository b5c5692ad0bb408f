// Field rules for the registry's commuter rows: identity numbers, strict UTF-8, phones and
// the closed vocabularies of commuters.csv. Start with ValidateField, which knows every column
// by its CSV name. Error messages name the field and the rule, never the value, so they can
// be logged and shown to operators without leaking personal data.
#ifndef WLSYNC_MODEL_VALIDATE_H_
#define WLSYNC_MODEL_VALIDATE_H_

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "model/grids.h"

namespace wlsync::model {

// The 13 column names of commuters.csv, in file order. The vector lives for the whole program.
const std::vector<std::string_view>& DataColumns();

// Trims ASCII whitespace around an identity number and uppercases a trailing 'x' check digit,
// the two ways spreadsheet exports differ from the canonical form. Does not validate.
std::string NormalizeIdDoc(std::string_view raw);

// Checks a normalized 18-character resident identity number: 17 ASCII digits, a real birth
// date YYYYMMDD at positions 6..13 between 1900-01-01 and 2100-12-31, and the ISO 7064
// MOD 11-2 check digit ('0'-'9' or 'X') last. Each failure has its own message, starting
// with "id_doc: ". Returns InvalidArgument on failure.
absl::Status ValidateIdDoc(std::string_view normalized);

// The ISO 7064 MOD 11-2 check character ('0'-'9' or 'X') of the first 17 digits.
// REQUIRES: first17 holds exactly 17 ASCII digits.
char IdDocCheckChar(std::string_view first17);

// Strict UTF-8 (RFC 3629): rejects overlong forms, surrogates (U+D800-U+DFFF), code points
// above U+10FFFF and truncated sequences.
bool IsValidUtf8(std::string_view s);

// Length in bytes of the UTF-8 sequence that starts `s`: 1 to 4 when well-formed, 0 when the
// bytes are ill-formed (or `s` is empty), -1 when `s` ends inside a sequence whose bytes so far
// are well-formed (a streaming caller should wait for more input).
int Utf8SequenceLength(std::string_view s);

// Number of code points. REQUIRES: IsValidUtf8(s); otherwise the count is of lead bytes.
size_t Utf8Length(std::string_view s);

// True for a real Gregorian date; year 1900-2100, month 1-12, day within the month.
bool IsRealDate(int year, int month, int day);

// Checks one value of commuters.csv by its column name (see DataColumns). Every value must be
// valid UTF-8 without control characters (U+0000-U+001F, U+007F); `id_doc` must already be
// normalized (NormalizeIdDoc). `grids` answers which grids and jurisdictions exist.
// Returns InvalidArgument with a message "<field>: <rule>"; an unknown column gives
// "<field>: unknown field", where a name that is not a lowercase identifier of at most 32
// characters (it may be a shifted value from a changes file) reads "(unrecognised name)".
absl::Status ValidateField(std::string_view field, std::string_view value, const Grids& grids);

}  // namespace wlsync::model

#endif  // WLSYNC_MODEL_VALIDATE_H_
