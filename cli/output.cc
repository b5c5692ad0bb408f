#include "cli/output.h"

#include <google/protobuf/util/json_util.h>

#include <cstdio>

#include "absl/time/time.h"
#include "cli/commands.h"
#include "model/fields.h"
#include "model/validate.h"

namespace wlsync::cli {

std::string JsonString(std::string_view s) {
  std::string out = "\"";
  for (char c : s) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof(buf), "\\u%04x", c);
          out += buf;
        } else {
          out.push_back(c);
        }
    }
  }
  out.push_back('"');
  return out;
}

std::string PersonJson(const v1::Person& person, bool tombstone_only) {
  const v1::PersonFields& f = person.fields();
  std::string out = "{\"pid\":" + JsonString(person.pid()) + ",\"status\":" + JsonString(f.status());
  bool deregistered = f.status() == model::kDeregistered;
  for (std::string_view column : model::DataColumns()) {
    if (tombstone_only && deregistered && column != "home") continue;
    out += ",";
    out += JsonString(column);
    out += ":";
    out += JsonString(*model::GetField(f, column));
  }
  out += "}";
  return out;
}

std::string CsvCell(std::string_view s) {
  // A cell starting like a formula is prefixed with an apostrophe, so that a spreadsheet
  // shows it as text instead of evaluating it (CSV injection).
  // LIMITATION: `wlsync import` of such an export keeps the apostrophe as part of the value
  // (it cannot tell it from a value that starts with one); jsonl is the lossless export.
  if (!s.empty() && (s.front() == '=' || s.front() == '+' || s.front() == '-' ||
                     s.front() == '@' || s.front() == '\t' || s.front() == '\r')) {
    return CsvCell(std::string("'") + std::string(s));
  }
  bool quote = s.find_first_of(",\"\r\n") != std::string_view::npos ||
               (!s.empty() && (s.front() == ' ' || s.back() == ' '));
  if (!quote) return std::string(s);
  std::string out = "\"";
  for (char c : s) {
    if (c == '"') out.push_back('"');
    out.push_back(c);
  }
  out.push_back('"');
  return out;
}

std::string PersonCsvHeader() {
  std::string out = "pid,status";
  for (std::string_view column : model::DataColumns()) {
    out += ",";
    out += column;
  }
  return out;
}

std::string PersonCsvRow(const v1::Person& person) {
  std::string out = person.pid() + "," + CsvCell(person.fields().status());
  for (std::string_view column : model::DataColumns()) {
    out += ",";
    out += CsvCell(*model::GetField(person.fields(), column));
  }
  return out;
}

std::string JsonStrings(const google::protobuf::RepeatedPtrField<std::string>& items) {
  std::string out = "[";
  for (int i = 0; i < items.size(); ++i) {
    if (i > 0) out += ",";
    out += JsonString(items[i]);
  }
  return out + "]";
}

std::string ChinaTime(int64_t unix_ms, const char* format, std::string_view if_zero) {
  if (unix_ms == 0) return std::string(if_zero);
  return absl::FormatTime(format, absl::FromUnixMillis(unix_ms), absl::FixedTimeZone(8 * 3600));
}

int PrintMessageJson(const google::protobuf::Message& message, const std::string& what) {
  std::string text;
  google::protobuf::util::JsonPrintOptions options;
  options.preserve_proto_field_names = true;
  options.always_print_primitive_fields = true;
  options.add_whitespace = true;
  if (!google::protobuf::util::MessageToJsonString(message, &text, options).ok()) {
    std::fprintf(stderr, "wlsync: %s: cannot format the reply\n", what.c_str());
    return kExitFailure;
  }
  std::printf("%s", text.c_str());
  return kExitOk;
}

}  // namespace wlsync::cli
