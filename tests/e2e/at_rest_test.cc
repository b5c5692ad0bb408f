// Encryption at rest, end to end: a real node imports the sample and its changes; then
// every file of its data dir (WAL, SST, MANIFEST, ...) is searched for the identity numbers
// and phones it stored. With node.data_key none is found; without it (the control) they
// are, which shows that the search can fail.
#include <catch2/catch.hpp>

#include <filesystem>
#include <string>
#include <unordered_set>

#include "tests/support/cluster.h"

namespace wlsync::testing {
namespace {

namespace fs = std::filesystem;

struct Needles {
  std::unordered_set<std::string> id_docs;  // 18 characters
  std::unordered_set<std::string> phones;   // 11 digits
};

Needles SampleNeedles() {
  Needles n;
  std::string csv = ReadFile(SampleFile("commuters.csv"));
  size_t pos = csv.find('\n') + 1;
  while (pos < csv.size()) {
    size_t end = csv.find('\n', pos);
    if (end == std::string::npos) end = csv.size();
    std::string line = csv.substr(pos, end - pos);
    size_t c1 = line.find(','), c2 = line.find(',', c1 + 1), c3 = line.find(',', c2 + 1);
    if (c3 != std::string::npos) {
      n.id_docs.insert(line.substr(0, c1));
      n.phones.insert(line.substr(c2 + 1, c3 - c2 - 1));
    }
    pos = end + 1;
  }
  return n;
}

bool IsDigit(char c) { return c >= '0' && c <= '9'; }

// How many stored identity numbers and phones appear in the files under `dir`: every run
// of 11 digits and of 17 digits and a check character is looked up.
size_t CountFound(const std::string& dir, const Needles& needles, size_t* files) {
  size_t found = 0;
  *files = 0;
  for (const auto& entry : fs::recursive_directory_iterator(dir)) {
    if (!entry.is_regular_file()) continue;
    ++*files;
    std::string data = ReadFile(entry.path().string());
    for (size_t i = 0; i + 11 <= data.size(); ++i) {
      if (!IsDigit(data[i])) continue;
      if (needles.phones.contains(data.substr(i, 11))) ++found;
      if (i + 18 <= data.size() && needles.id_docs.contains(data.substr(i, 18))) ++found;
    }
  }
  return found;
}

TEST_CASE("At rest: a data dir holds no identity number or phone in clear", "[e2e][slow]") {
  bool encrypted = GENERATE(true, false);
  TempDir root(encrypted ? "at-rest" : "at-rest-control");
  auto nodes = MakeNodes(root.path(), {"waihai"});
  REQUIRE(nodes.size() == 1);
  Node& node = *nodes[0];
  if (!encrypted) {
    std::string config = ReadFile(node.config());
    size_t at = config.find("data_key = ");
    REQUIRE(at != std::string::npos);
    config.insert(at, "# ");
    WriteFile(node.config(), config);
  }
  REQUIRE(node.Start());
  REQUIRE(node.Cli({"import", SampleFile("commuters.csv")}).exit_code == 0);
  CommandResult changes = node.Cli({"apply", SampleFile("changes-waihai.csv")});
  REQUIRE((changes.exit_code == 0 || changes.exit_code == 3));
  std::string before = node.Export();
  REQUIRE(node.Stop() == 0);

  Needles needles = SampleNeedles();
  REQUIRE(needles.phones.size() > 10000);
  size_t files = 0;
  size_t in_wal = CountFound(node.dir() + "/data", needles, &files);

  // A restart replays the WAL into SST files: search those too.
  REQUIRE(node.Start());
  REQUIRE(node.Export() == before);  // and everything still reads back
  REQUIRE(node.Stop() == 0);
  size_t sst_files = 0;
  for (const auto& e : fs::directory_iterator(node.dir() + "/data")) {
    if (e.path().extension() == ".sst") ++sst_files;
  }
  REQUIRE(sst_files > 0);
  size_t in_sst = CountFound(node.dir() + "/data", needles, &files);
  INFO("files=" << files << " found in WAL run=" << in_wal << " after restart=" << in_sst);
  if (encrypted) {
    CHECK(in_wal == 0);
    CHECK(in_sst == 0);
  } else {
    CHECK(in_wal > 10000);
    CHECK(in_sst > 1000);  // fewer: SST blocks are LZ4-compressed, which hides some
  }
}

}  // namespace
}  // namespace wlsync::testing
