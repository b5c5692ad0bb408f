#include "access/masking.h"

namespace wlsync::access {
namespace {

// Keeps `head` leading and `tail` trailing bytes, stars in between; a value too short to
// keep both is masked whole.
std::string Mask(std::string_view value, size_t head, size_t tail) {
  if (value.empty()) return "";
  if (value.size() <= head + tail) return std::string(value.size(), '*');
  std::string out(value.substr(0, head));
  out.append(value.size() - head - tail, '*');
  out.append(value.substr(value.size() - tail));
  return out;
}

}  // namespace

std::string MaskPhone(std::string_view phone) { return Mask(phone, 3, 4); }
std::string MaskIdDoc(std::string_view id_doc) { return Mask(id_doc, 6, 2); }

void MaskFields(v1::PersonFields* fields) {
  fields->set_phone(MaskPhone(fields->phone()));
  fields->set_id_doc(MaskIdDoc(fields->id_doc()));
}

bool IsValidCaseId(std::string_view case_id) {
  if (case_id.empty() || case_id.size() > 64) return false;
  for (char c : case_id) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '_';
    if (!ok) return false;
  }
  return true;
}

}  // namespace wlsync::access
