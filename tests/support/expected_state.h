// Test support: the registry state a test expects, computed from the CSV files themselves
// (commuters and changes formats), and parsing of the CLI's JSON output.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "model/csv.h"

namespace wlsync::testing {

using Fields = std::map<std::string, std::string>;  // column name -> value

struct Expected {
  Fields fields;  // the 13 data columns
  bool deregistered = false;
};
using State = std::map<std::string, Expected>;  // by normalized id_doc

// The header and rows of a CSV file, read with the product's reader.
std::vector<model::CsvRow> ReadCsv(const std::string& path);
// Rows of a CSV file as column name -> value, the header giving the names.
std::vector<Fields> ReadTable(const std::string& path);
// One entry per person of a commuters file, by normalized id_doc.
State LoadCommuters(const std::string& path);
// Applies a changes file in order: a `set` rewrites the field's whole group with the values
// the writer held (the state so far: tests apply a file only once the writer holds all
// earlier writes); the later write wins.
void ApplyChanges(const std::string& path, State* state);
// A flat JSON object of strings (an export line, a `get` reply) as a map.
Fields ParseJsonObject(const std::string& json);
// The lines of a jsonl export.
std::vector<Fields> ParseExport(const std::string& jsonl);

class Node;
// Checks a node's jsonl export against `state`: registered people field by field by id_doc;
// deregistered ones (the export shows only pid, status and home) by the pids that `get`
// reports at `node`.
void CheckExport(const std::string& jsonl, const Node& node, const State& state);

}  // namespace wlsync::testing
