// Masking of personal values for callers who may see a person but not every digit of
// their phone or identity number (a tracer without a case id).
#pragma once

#include <string>
#include <string_view>

#include "wlsync/v1/records.pb.h"

namespace wlsync::access {

// "13812341234" -> "138****1234": the first 3 and last 4 characters kept.
std::string MaskPhone(std::string_view phone);
// "44070419900101123X" -> "440704**********3X": the first 6 and last 2 kept.
std::string MaskIdDoc(std::string_view id_doc);
// Masks the phone and id_doc of `fields` in place.
void MaskFields(v1::PersonFields* fields);

// A case id: 1-64 of letters, digits, '-' and '_'.
bool IsValidCaseId(std::string_view case_id);

}  // namespace wlsync::access
