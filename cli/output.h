// How the operator CLI prints records: JSON objects by CSV column name, CSV rows, and the
// export rule that a deregistered person shows only pid, status and home.
#pragma once

#include <string>
#include <string_view>

#include "wlsync/v1/registry.pb.h"

namespace wlsync::cli {

// `s` as a JSON string literal, quotes included.
std::string JsonString(std::string_view s);
// A JSON array of strings.
std::string JsonStrings(const google::protobuf::RepeatedPtrField<std::string>& items);

// {"pid":...,"status":...,<13 data columns>}; deregistered: pid, status and home only.
std::string PersonJson(const v1::Person& person, bool tombstone_only);

// Header and rows of `export --format csv`: pid,status,<13 data columns>.
std::string PersonCsvHeader();
std::string PersonCsvRow(const v1::Person& person);

// One CSV cell with RFC 4180 quoting where needed.
std::string CsvCell(std::string_view s);

// A time as the CLI shows it, in UTC+8 (the zone of both jurisdictions) with an absl
// FormatTime `format`; `if_zero` for 0 (not set).
std::string ChinaTime(int64_t unix_ms, const char* format, std::string_view if_zero);

// Prints a whole reply as indented JSON with the .proto field names and every field, for
// scripts (`status --json`, `cert list --json`). `what` names the command in an error.
int PrintMessageJson(const google::protobuf::Message& message, const std::string& what);

}  // namespace wlsync::cli
