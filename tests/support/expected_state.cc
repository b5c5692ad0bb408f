#include "tests/support/expected_state.h"

#include <google/protobuf/struct.pb.h>
#include <google/protobuf/util/json_util.h>

#include <catch2/catch.hpp>
#include <optional>
#include <set>
#include <sstream>

#include "model/fields.h"
#include "model/validate.h"
#include "tests/support/cluster.h"

namespace wlsync::testing {

std::vector<model::CsvRow> ReadCsv(const std::string& path) {
  auto reader = model::CsvReader::Open(path, model::Encoding::kUtf8);
  REQUIRE(reader.ok());
  std::vector<model::CsvRow> rows;
  model::CsvRow row;
  for (;;) {
    absl::StatusOr<bool> more = (*reader)->Next(&row);
    REQUIRE(more.ok());
    if (!*more) break;
    rows.push_back(row);
  }
  REQUIRE(!rows.empty());
  return rows;
}

std::vector<Fields> ReadTable(const std::string& path) {
  std::vector<model::CsvRow> rows = ReadCsv(path);
  std::vector<Fields> out;
  for (size_t r = 1; r < rows.size(); ++r) {
    REQUIRE(rows[r].cells.size() == rows[0].cells.size());
    Fields f;
    for (size_t c = 0; c < rows[0].cells.size(); ++c) f[rows[0].cells[c]] = rows[r].cells[c];
    out.push_back(std::move(f));
  }
  return out;
}

State LoadCommuters(const std::string& path) {
  State state;
  for (Fields& f : ReadTable(path)) {
    f["id_doc"] = model::NormalizeIdDoc(f["id_doc"]);
    REQUIRE(state.emplace(f["id_doc"], Expected{f, false}).second);
  }
  return state;
}

// Applies one node's changes file. A `set` rewrites the field's whole group with the values
// the writing node held; the test applies a file only once the writer holds everything
// written before (it waits for convergence in between), so that view is `state` itself, and
// the rewritten group is the current group with the one field replaced. The later write wins.
void ApplyChanges(const std::string& path, State* state) {
  for (const Fields& c : ReadTable(path)) {
    Expected& e = state->at(model::NormalizeIdDoc(c.at("id_doc")));
    if (c.at("op") == "set") {
      std::optional<v1::Group> group = model::GroupOfField(c.at("field"));
      REQUIRE(group.has_value());
      Fields rewritten;
      for (std::string_view f : model::FieldsOfGroup(*group)) {
        rewritten[std::string(f)] = e.fields.at(std::string(f));
      }
      rewritten[c.at("field")] = c.at("value");
      for (const auto& [k, v] : rewritten) e.fields[k] = v;
    } else {
      REQUIRE(c.at("op") == "deregister");
      e.deregistered = true;
    }
  }
}


Fields ParseJsonObject(const std::string& json) {
  google::protobuf::Struct s;
  INFO(json.substr(0, 200));
  REQUIRE(google::protobuf::util::JsonStringToMessage(json, &s).ok());
  Fields out;
  for (const auto& [k, v] : s.fields()) out[k] = v.string_value();
  return out;
}

std::vector<Fields> ParseExport(const std::string& jsonl) {
  std::vector<Fields> out;
  std::istringstream in(jsonl);
  for (std::string line; std::getline(in, line);) {
    if (!line.empty()) out.push_back(ParseJsonObject(line));
  }
  return out;
}

void CheckExport(const std::string& jsonl, const Node& node, const State& state) {
  std::vector<Fields> exported = ParseExport(jsonl);
  REQUIRE(exported.size() == state.size());

  std::set<std::string> deregistered_pids;
  size_t registered = 0;
  for (const Fields& e : exported) {
    if (e.at("status") == "DEREGISTERED") {
      CHECK(e.size() == 3);  // pid, status, home
      deregistered_pids.insert(e.at("pid"));
      continue;
    }
    REQUIRE(e.at("status") == "REGISTERED");
    ++registered;
    auto it = state.find(e.at("id_doc"));
    REQUIRE(it != state.end());
    CHECK_FALSE(it->second.deregistered);
    for (const auto& [column, value] : it->second.fields) {
      INFO("pid=" << e.at("pid") << " column=" << column);
      CHECK(e.at(column) == value);
    }
  }

  std::set<std::string> expected_pids;
  for (const auto& [id_doc, e] : state) {
    if (!e.deregistered) continue;
    CommandResult got = node.Cli({"get", id_doc});
    REQUIRE(got.exit_code == 0);
    Fields person = ParseJsonObject(got.out);
    CHECK(person.at("status") == "DEREGISTERED");
    CHECK(person.at("home") == e.fields.at("home"));
    expected_pids.insert(person.at("pid"));
  }
  CHECK(deregistered_pids == expected_pids);
  CHECK(registered + expected_pids.size() == state.size());
}

}  // namespace wlsync::testing
