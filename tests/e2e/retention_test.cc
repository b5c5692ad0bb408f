// Retention end to end: the home jurisdiction erases a deregistered person's fields and
// old test results with signed writes; both nodes end with equal records (reconciliation
// agrees); the tombstone (pid, home, status) stays until a reconciliation confirmed it, and
// then goes at both.
#include <catch2/catch.hpp>

#include <string>
#include <thread>

#include "tests/support/cluster.h"

namespace wlsync::testing {
namespace {

// The first sample person whose home is `home`: identity number.
std::string SamplePersonOf(const std::string& home) {
  std::string csv = ReadFile(SampleFile("commuters.csv"));
  for (size_t pos = csv.find('\n') + 1; pos < csv.size();) {
    size_t end = csv.find('\n', pos);
    std::string line = csv.substr(pos, end - pos);
    if (line.find("," + home + ",") != std::string::npos) return line.substr(0, line.find(','));
    pos = end + 1;
  }
  return "";
}

// With `age_tests`, test results older than a year are erased too, and every sweep reads
// every record; without, a sweep reads only the deregistered people, through the
// membership index.
void ErasesThenPurges(bool age_tests) {
  TempDir root(age_tests ? "retention-tests" : "retention");
  auto nodes = MakeNodes(root.path(), {"waihai", "guzhen"});
  REQUIRE(nodes.size() == 2);
  for (auto& n : nodes) {
    n->AppendConfig(std::string("[retention]\nerase_after_s = 2\nsweep_every_s = 1\n") +
                    (age_tests ? "test_max_age_days = 365\n" : "") + "tombstone_keep_s = 3\n");
  }
  FullMesh(nodes);
  Node& waihai = *nodes[0];
  Node& guzhen = *nodes[1];
  REQUIRE(waihai.Start());
  REQUIRE(guzhen.Start());
  REQUIRE(waihai.Cli({"import", SampleFile("commuters.csv")}).exit_code == 0);

  std::string leaving = SamplePersonOf("waihai");
  REQUIRE_FALSE(leaving.empty());
  std::string before = waihai.Cli({"get", leaving}).out;
  REQUIRE(before.find("\"name\":\"\"") == std::string::npos);
  REQUIRE(waihai.Cli({"deregister", leaving}).exit_code == 0);

  auto erased = [&](const Node& n) {
    std::string out = n.Cli({"get", leaving}).out;
    return out.find("\"status\":\"DEREGISTERED\"") != std::string::npos &&
           out.find("\"name\":\"\"") != std::string::npos &&
           out.find("\"phone\":\"\"") != std::string::npos &&
           out.find("\"id_doc\":\"\"") != std::string::npos &&
           out.find("\"residence_address\":\"\"") != std::string::npos &&
           out.find("\"home\":\"waihai\"") != std::string::npos;
  };
  CHECK(WaitFor([&] { return erased(waihai); }, std::chrono::seconds(30)));
  CHECK(WaitFor([&] { return erased(guzhen); }, std::chrono::seconds(30)));
  // Every 2022 test result is older than a year: gone, at both, by each person's home.
  auto no_tests = [](const Node& n) {
    return n.Export().find("\"last_test_date\":\"2022-") == std::string::npos;
  };
  if (age_tests) {
    CHECK(WaitFor([&] { return no_tests(waihai) && no_tests(guzhen); }, std::chrono::seconds(60)));
  } else {
    CHECK(!no_tests(waihai));  // kept: test_max_age_days is 0
  }
  CHECK(WaitFor([&] { return waihai.Export() == guzhen.Export(); }, std::chrono::seconds(30)));
  // The tombstone stays, older than tombstone_keep_s, until a reconciliation confirms it:
  // the pid (derived from the identity number) still finds it.
  std::this_thread::sleep_for(std::chrono::seconds(4));
  CHECK(waihai.Cli({"query", "--id", leaving}).out.find("DEREGISTERED") != std::string::npos);
  CHECK(waihai.log().find("retention erased people=") != std::string::npos);

  CommandResult rec = waihai.Cli({"reconcile", "--peer", "guzhen"});
  INFO(rec.out << rec.err);
  CHECK(rec.exit_code == 0);
  // Confirmed equal on the peer: the home purges the tombstone with a signed event, and it
  // goes at both nodes, which stay equal.
  auto gone = [&](const Node& n) { return n.Cli({"get", leaving}).exit_code != 0; };
  CHECK(WaitFor([&] { return gone(waihai) && gone(guzhen); }, std::chrono::seconds(30)));
  CHECK(waihai.log().find("purged tombstones=1") != std::string::npos);
  CHECK(waihai.Export() == guzhen.Export());
  CommandResult again = guzhen.Cli({"reconcile", "--peer", "waihai"});
  INFO(again.out << again.err);
  CHECK(again.exit_code == 0);
  CHECK(again.out.find("\"equal\": true") != std::string::npos);
}

TEST_CASE("Retention: a deregistered person's fields and old tests are erased on every node",
          "[e2e][retention]") {
  ErasesThenPurges(/*age_tests=*/true);
}

TEST_CASE("Retention: without test ageing, sweeps find the deregistered through the "
          "membership index and still erase and purge them",
          "[e2e][retention]") {
  ErasesThenPurges(/*age_tests=*/false);
}

}  // namespace
}  // namespace wlsync::testing
