// String concatenation that takes std::string_view, absl::string_view (Debian's Abseil
// keeps its own type), strings, characters and numbers alike. Header-only.
#pragma once

#include <string>
#include <string_view>
#include <type_traits>

#include "absl/strings/string_view.h"

namespace wlsync::base {
namespace internal {

inline void AppendOne(std::string* out, std::string_view s) { out->append(s); }
inline void AppendOne(std::string* out, absl::string_view s) { out->append(s.data(), s.size()); }
inline void AppendOne(std::string* out, const std::string& s) { out->append(s); }
inline void AppendOne(std::string* out, const char* s) { out->append(s); }
inline void AppendOne(std::string* out, char c) { out->push_back(c); }

template <typename T>
  requires(std::is_arithmetic_v<T> && !std::is_same_v<T, char> && !std::is_same_v<T, bool>)
void AppendOne(std::string* out, T v) {
  out->append(std::to_string(v));
}

}  // namespace internal

// Appends every argument to *out.
template <typename... Args>
void StrAppend(std::string* out, const Args&... args) {
  (internal::AppendOne(out, args), ...);
}

// Concatenates every argument.
template <typename... Args>
std::string StrCat(const Args&... args) {
  std::string out;
  StrAppend(&out, args...);
  return out;
}

// `s` without leading and trailing ASCII whitespace.
// `s` in double quotes with '"' and '\\' escaped by a backslash: a log value with spaces
// that base::ParseLogContext reads back whole.
inline std::string Quote(std::string_view s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') out.push_back('\\');
    out.push_back(c);
  }
  out.push_back('"');
  return out;
}
inline std::string Quote(absl::string_view s) { return Quote(std::string_view(s.data(), s.size())); }
inline std::string Quote(const std::string& s) { return Quote(std::string_view(s)); }
inline std::string Quote(const char* s) { return Quote(std::string_view(s)); }

inline std::string_view TrimAscii(std::string_view s) {
  auto space = [](char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'; };
  while (!s.empty() && space(s.front())) s.remove_prefix(1);
  while (!s.empty() && space(s.back())) s.remove_suffix(1);
  return s;
}

}  // namespace wlsync::base
