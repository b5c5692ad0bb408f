// Fault 5 of the suite: the clock of one node jumps an hour back, then an hour ahead, while
// both nodes write. The nodes run under libfaketime (Debian's libfaketime, installed by
// deploy/install-deps.sh), each with an offset file the test rewrites while they run.
//
// What must hold: every acknowledged write survives at both nodes. A jump back changes
// nothing for replication (the node's HLC never goes back, and its clock guard measures
// against the latest time it has read). A node an hour ahead has its deltas held back by
// its peer's clock guard, shown in the peer's status, while the peer's own deltas still
// reach it; once the peer's time catches up, everything applies and the nodes are equal.
#include <catch2/catch.hpp>
#include <string>
#include <thread>
#include <vector>

#include "tests/faults/fault_support.h"
#include "tests/support/cluster.h"

namespace wlsync::testing {
namespace {

// Identity numbers of the first `n` rows of a sample file.
std::vector<std::string> IdDocs(const std::string& csv_path, size_t n) {
  std::vector<std::string> out;
  std::string csv = ReadFile(csv_path);
  for (size_t pos = csv.find('\n') + 1; pos < csv.size() && out.size() < n;) {
    size_t end = csv.find('\n', pos);
    out.push_back(csv.substr(pos, csv.find(',', pos) - pos));
    pos = end + 1;
  }
  return out;
}

bool Shows(const Node& node, const std::string& who, const std::string& value) {
  return node.Cli({"get", who}).out.find(value) != std::string::npos;
}

bool HeldBack(const Node& node, const std::string& origin) {
  std::optional<v1::StatusResponse> status = Status(node);
  if (!status) return false;
  for (const v1::PeerStatus& p : status->peers()) {
    for (const std::string& o : p.held_back_origins()) {
      if (o == origin) return true;
    }
  }
  return false;
}

struct Clocks {
  std::string waihai;  // offset files, read by libfaketime at most once a second
  std::string guzhen;

  static void Set(const std::string& file, const std::string& offset) {
    WriteFile(file, offset + "\n");
    std::this_thread::sleep_for(std::chrono::milliseconds(1500));  // past the cache
  }
};

TEST_CASE(
    "Faults: a node's clock jumps an hour back and an hour ahead while both write: "
    "nothing acknowledged is lost",
    "[faults][clock]") {
  const std::string faketime = FakeTimeLibrary();
  INFO("libfaketime is missing: run deploy/install-deps.sh");
  REQUIRE(!faketime.empty());

  TempDir root("clock");
  auto nodes = MakeNodes(root.path(), {"waihai", "guzhen"});
  REQUIRE(nodes.size() == 2);
  FullMesh(nodes);
  Node& waihai = *nodes[0];
  Node& guzhen = *nodes[1];
  Clocks clocks{root / "waihai.offset", root / "guzhen.offset"};
  for (auto [node, file] : {std::pair{&waihai, clocks.waihai}, std::pair{&guzhen, clocks.guzhen}}) {
    WriteFile(file, "+0\n");
    node->SetDaemonEnv("LD_PRELOAD", faketime);
    node->SetDaemonEnv("FAKETIME_TIMESTAMP_FILE", file);
    node->SetDaemonEnv("FAKETIME_CACHE_DURATION", "1");
    // Timers and timeouts keep real time; only the wall clock jumps.
    node->SetDaemonEnv("DONT_FAKE_MONOTONIC", "1");
    REQUIRE(node->Start());
  }
  const std::string rows = SampleRows(root.path(), 120);
  REQUIRE(waihai.Cli({"import", rows}).exit_code == 0);
  REQUIRE(WaitFor([&] { return guzhen.Records() == waihai.Records(); }, std::chrono::seconds(30)));
  const std::vector<std::string> people = IdDocs(rows, 120);
  REQUIRE(people.size() == 120);

  // Every acknowledged write, as (person, value it set).
  std::vector<std::pair<std::string, std::string>> acked;
  size_t next = 0;
  auto write = [&](Node& node, const std::string& field, const std::string& value) {
    const std::string& who = people[next++];
    CommandResult r = node.Cli({"set", who, field, value});
    INFO(r.err);
    REQUIRE(r.exit_code == 0);
    acked.emplace_back(who, value);
    return who;
  };

  SECTION("an hour back: replication goes on both ways") {
    Clocks::Set(clocks.waihai, "-1h");
    for (int i = 0; i < 10; ++i) {
      std::string a = write(waihai, "phone", "1390000" + std::to_string(1000 + i));
      std::string b = write(guzhen, "residence_address", "测试路" + std::to_string(i) + "号");
      CHECK(WaitFor([&] { return Shows(guzhen, a, "1390000" + std::to_string(1000 + i)); },
                    std::chrono::seconds(20)));
      CHECK(WaitFor([&] { return Shows(waihai, b, "测试路" + std::to_string(i) + "号"); },
                    std::chrono::seconds(20)));
    }
    CHECK(!HeldBack(guzhen, "waihai"));
    CHECK(!HeldBack(waihai, "guzhen"));
  }

  SECTION("an hour ahead: held back at the peer until its time catches up") {
    Clocks::Set(clocks.waihai, "+1h");
    std::vector<std::string> from_waihai;
    for (int i = 0; i < 10; ++i) {
      from_waihai.push_back(write(waihai, "phone", "1390000" + std::to_string(2000 + i)));
      std::string b = write(guzhen, "residence_address", "测试路" + std::to_string(100 + i) + "号");
      // The peer's writes still reach the node that is ahead.
      CHECK(WaitFor([&] { return Shows(waihai, b, "测试路" + std::to_string(100 + i) + "号"); },
                    std::chrono::seconds(20)));
    }
    CHECK(WaitFor([&] { return HeldBack(guzhen, "waihai"); }, std::chrono::seconds(20)));
    CHECK(!Shows(guzhen, from_waihai.back(), "13900002009"));
    // Acknowledged at the node that is ahead: there, durable and visible.
    CHECK(Shows(waihai, from_waihai.back(), "13900002009"));

    // An hour later at guzhen too: the held-back deltas apply.
    Clocks::Set(clocks.guzhen, "+1h");
    CHECK(WaitFor([&] { return !HeldBack(guzhen, "waihai"); }, std::chrono::seconds(30)));
  }

  // Either way: the nodes end equal and hold every acknowledged write.
  CHECK(WaitFor([&] { return waihai.Export() == guzhen.Export(); }, std::chrono::seconds(30)));
  std::string exported = guzhen.Export();
  for (const auto& [who, value] : acked) {
    INFO(value);
    CHECK(exported.find(value) != std::string::npos);
  }
}

}  // namespace
}  // namespace wlsync::testing
