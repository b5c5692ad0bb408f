// Replication between real wlsyncd processes on loopback: relaying through a third node,
// a wiped data dir, a peer that was down, and kill -9 of the receiver mid-stream.
#include <catch2/catch.hpp>

#include <filesystem>
#include <memory>
#include <string>
#include <fstream>
#include <random>
#include <thread>

#include "cli/output.h"
#include "model/validate.h"
#include "tests/support/cluster.h"
#include "tests/sync/fixture.h"

namespace wlsync::sync {
namespace {

using wlsync::testing::Node;
using wlsync::testing::TempDir;
using wlsync::testing::WaitFor;

// Writes `n` valid people of `home` (numbers first..first+n-1) in the commuters format.
void WriteCommuters(const std::string& path, int first, int n, const std::string& home) {
  std::ofstream out(path);
  out << "id_doc,name,phone,home,residence_address,residence_grid,workplace,work_grid,"
         "category,list,list_reason,last_test_date,last_test_result\n";
  for (int i = first; i < first + n; ++i) {
    v1::PersonFields p = testing::Person(i, home);
    p.set_residence_grid(home == "guzhen" ? "GZ-GUYI-01" : "WH-MAYI-01");
    p.set_work_grid("GZ-GUYI-02");
    out << p.id_doc() << "," << p.name() << "," << p.phone() << "," << p.home() << ","
        << p.residence_address() << "," << p.residence_grid() << "," << p.workplace() << ","
        << p.work_grid() << "," << p.category() << "," << p.list() << ",," << p.last_test_date()
        << "," << p.last_test_result() << "\n";
  }
}

bool SameExports(const std::vector<const Node*>& nodes, long records) {
  std::string first = nodes.front()->Export();
  if (std::count(first.begin(), first.end(), '\n') != records) return false;
  for (const Node* n : nodes) {
    if (n->Export() != first) return false;
  }
  return true;
}

// waihai <-> guzhen <-> third: the third node has no link to waihai and verifies waihai's
// deltas, relayed by guzhen, with the key it trusts. Not started.
struct RelayTrio {
  std::vector<std::unique_ptr<Node>> nodes;
  Node& waihai = *nodes.at(0);
  Node& guzhen = *nodes.at(1);
  Node& third = *nodes.at(2);

  explicit RelayTrio(const TempDir& root)
      : nodes(wlsync::testing::MakeNodes(root.path(), {"waihai", "guzhen", "third"})) {
    waihai.AddPeer(guzhen);
    guzhen.AddPeer(waihai);
    guzhen.AddPeer(third);
    third.AddPeer(guzhen);
    third.Trust(waihai);
    waihai.Trust(third);
  }
};

TEST_CASE("Replication: a third node reaches waihai only through guzhen", "[e2e]") {
  TempDir root("relay");
  RelayTrio trio(root);
  auto& [nodes, waihai, guzhen, third] = trio;
  for (auto& n : nodes) REQUIRE(n->Start());

  WriteCommuters(root / "wh.csv", 0, 300, "waihai");
  WriteCommuters(root / "tr.csv", 5000, 50, "guzhen");
  REQUIRE(waihai.Cli({"import", root / "wh.csv"}).exit_code == 0);
  REQUIRE(third.Cli({"import", root / "tr.csv"}).exit_code == 0);

  REQUIRE(WaitFor([&] { return SameExports({&waihai, &guzhen, &third}, 350); },
                  std::chrono::seconds(20)));
  std::string status = third.Cli({"status", "--json"}).out;
  REQUIRE(status.find("\"origin\": \"waihai\"") != std::string::npos);
}

// Guzhen renames guzhen residents that waihai registered. A node that catches up through
// guzhen alone must get each registration (waihai's delta) before the rename (guzhen's):
// the other way round the rename meets no home and is quarantined. Guzhen sorts before
// waihai, so sending origins in key order gave the renames first every time.
TEST_CASE(
    "Replication: a node catching up through a relay gets registrations before the "
    "edits another origin made of them",
    "[e2e]") {
  TempDir root("causal");
  RelayTrio trio(root);
  auto& [nodes, waihai, guzhen, third] = trio;
  REQUIRE(waihai.Start());
  REQUIRE(guzhen.Start());

  constexpr int kPeople = 12;
  WriteCommuters(root / "gz.csv", 7000, kPeople, "guzhen");
  REQUIRE(waihai.Cli({"import", root / "gz.csv"}).exit_code == 0);
  REQUIRE(WaitFor([&] { return guzhen.Records() == kPeople; }, std::chrono::seconds(20)));
  for (int i = 7000; i < 7000 + kPeople; ++i) {
    REQUIRE(guzhen.Cli({"set", testing::Person(i, "guzhen").id_doc(), "name", "改名"}).exit_code ==
            0);
  }
  // More registrations at waihai after the renames, so that waihai's stream holds deltas
  // both older and newer than guzhen's.
  WriteCommuters(root / "wh.csv", 0, 5, "waihai");
  REQUIRE(waihai.Cli({"import", root / "wh.csv"}).exit_code == 0);
  REQUIRE(WaitFor(
      [&] {
        return SameExports({&waihai, &guzhen}, kPeople + 5);
      },
      std::chrono::seconds(20)));

  REQUIRE(third.Start());
  REQUIRE(WaitFor(
      [&] {
        return SameExports({&guzhen, &third}, kPeople + 5);
      },
      std::chrono::seconds(20)));
  std::string status = third.Cli({"status"}).out;
  INFO(status);
  REQUIRE(status.find("quarantine  0 events") != std::string::npos);
  REQUIRE(third.log().find("first_reason=") == std::string::npos);
  REQUIRE(third.Export().find("改名") != std::string::npos);
}

TEST_CASE("Replication: a node whose data dir was wiped gets everything back under a new epoch",
          "[e2e]") {
  TempDir root("wiped");
  auto nodes = wlsync::testing::StartMesh(root.path(), {"waihai", "guzhen"});
  REQUIRE(nodes.size() == 2);
  Node& waihai = *nodes[0];
  Node& guzhen = *nodes[1];
  WriteCommuters(root / "a.csv", 0, 200, "waihai");
  REQUIRE(waihai.Cli({"import", root / "a.csv"}).exit_code == 0);
  REQUIRE(WaitFor([&] { return guzhen.Records() == 200; }, std::chrono::seconds(20)));
  std::string old_epoch = waihai.Cli({"status", "--json"}).out;

  REQUIRE(waihai.Stop() == 0);
  std::filesystem::remove_all(waihai.dir() + "/data");
  std::filesystem::create_directories(waihai.dir() + "/data");
  REQUIRE(waihai.Start());
  REQUIRE(WaitFor([&] { return waihai.Records() == 200; }, std::chrono::seconds(20)));

  WriteCommuters(root / "b.csv", 200, 50, "waihai");
  REQUIRE(waihai.Cli({"import", root / "b.csv"}).exit_code == 0);
  REQUIRE(WaitFor([&] { return SameExports({&waihai, &guzhen}, 250); }, std::chrono::seconds(20)));
  // Guzhen now holds two waihai streams: the old epoch and the new one.
  std::string status = guzhen.Cli({"status", "--json"}).out;
  size_t first = status.find("\"origin\": \"waihai\"");
  REQUIRE(first != std::string::npos);
  REQUIRE(status.find("\"origin\": \"waihai\"", first + 1) != std::string::npos);
  // The wiped node saw it: in its log, its status and its metrics.
  CHECK(waihai.log().find("peer=guzhen origin=waihai epoch=") != std::string::npos);
  CHECK(waihai.log().find("its data dir had lost it (wiped, or restored") != std::string::npos);
  CHECK(waihai.Cli({"status"}).out.find("data dir: peer guzhen sent back ") !=
        std::string::npos);
  CHECK(waihai.Metrics().find("wlsync_own_deltas_recovered_total{peer=\"guzhen\"") !=
        std::string::npos);
}

// Epoch ids are random, so the order a node holds an origin's streams in is not the
// order they were written. Six epochs of waihai, each renaming the people the one before
// registered (a change of identity, which only the home jurisdiction may make): sent in
// any order but the written one, a rename meets no record at guzhen and is quarantined.
TEST_CASE("Replication: a peer catching up gets an origin's epochs in the order written", "[e2e]") {
  TempDir root("epochs");
  auto nodes = wlsync::testing::MakeNodes(root.path(), {"waihai", "guzhen"});
  REQUIRE(nodes.size() == 2);
  Node& waihai = *nodes[0];
  Node& guzhen = *nodes[1];
  waihai.AddPeer(guzhen);
  guzhen.AddPeer(waihai);
  constexpr int kEpochs = 6;
  constexpr int kPerEpoch = 4;
  for (int e = 0; e < kEpochs; ++e) {
    REQUIRE(waihai.Start());  // every start begins an epoch
    std::string file = root / ("epoch" + std::to_string(e) + ".csv");
    WriteCommuters(file, e * kPerEpoch, kPerEpoch, "waihai");
    REQUIRE(waihai.Cli({"import", file}).exit_code == 0);
    for (int i = (e - 1) * kPerEpoch; e > 0 && i < e * kPerEpoch; ++i) {
      REQUIRE(waihai
                  .Cli({"set", testing::Person(i, "waihai").id_doc(), "name",
                        "改名" + std::to_string(e)})
                  .exit_code == 0);
    }
    REQUIRE(waihai.Stop() == 0);
  }
  REQUIRE(waihai.Start());
  REQUIRE(guzhen.Start());
  REQUIRE(WaitFor(
      [&] {
        return SameExports({&waihai, &guzhen}, kEpochs * kPerEpoch);
      },
      std::chrono::seconds(20)));
  std::string status = guzhen.Cli({"status"}).out;
  INFO(status);
  REQUIRE(status.find("quarantine  0 events") != std::string::npos);
  REQUIRE(guzhen.log().find("first_reason=") == std::string::npos);
}

TEST_CASE("Replication: a peer that was down catches up when it returns", "[e2e]") {
  TempDir root("down");
  auto nodes = wlsync::testing::MakeNodes(root.path(), {"waihai", "guzhen"});
  wlsync::testing::FullMesh(nodes);
  Node& waihai = *nodes[0];
  Node& guzhen = *nodes[1];
  REQUIRE(waihai.Start());
  WriteCommuters(root / "a.csv", 0, 400, "waihai");
  REQUIRE(waihai.Cli({"import", root / "a.csv"}).exit_code == 0);
  REQUIRE(waihai.Cli({"status", "--json"}).out.find("\"connected\": false") != std::string::npos);
  REQUIRE(guzhen.Start());
  REQUIRE(WaitFor([&] { return SameExports({&waihai, &guzhen}, 400); }, std::chrono::seconds(20)));
}

TEST_CASE("Replication: peers with different federation keys refuse each other", "[e2e]") {
  TempDir root("fedkey");
  auto a = wlsync::testing::MakeNodes(root / "a", {"waihai"});
  auto b = wlsync::testing::MakeNodes(root / "b", {"guzhen"});  // its own federation key
  a[0]->AddPeer(*b[0]);
  b[0]->AddPeer(*a[0]);
  REQUIRE(a[0]->Start());
  REQUIRE(b[0]->Start());
  WriteCommuters(root / "p.csv", 0, 20, "waihai");
  REQUIRE(a[0]->Cli({"import", root / "p.csv"}).exit_code == 0);
  REQUIRE(WaitFor([&] { return b[0]->Cli({"status", "--json"}).out.find("federation key differs") !=
                               std::string::npos; },
                  std::chrono::seconds(15)));
  REQUIRE(b[0]->Records() == 0);
  REQUIRE(a[0]->log().find("federation key differs") != std::string::npos);
}

TEST_CASE("Replication: a node restored from an old copy of its data dir gets its later "
          "writes back and forks nothing",
          "[e2e]") {
  TempDir root("restore");
  auto nodes = wlsync::testing::StartMesh(root.path(), {"waihai", "guzhen"});
  REQUIRE(nodes.size() == 2);
  Node& waihai = *nodes[0];
  Node& guzhen = *nodes[1];
  WriteCommuters(root / "a.csv", 0, 100, "waihai");
  REQUIRE(waihai.Cli({"import", root / "a.csv"}).exit_code == 0);
  REQUIRE(WaitFor([&] { return guzhen.Records() == 100; }, std::chrono::seconds(20)));

  REQUIRE(waihai.Stop() == 0);
  std::filesystem::copy(waihai.dir() + "/data", root / "backup",
                        std::filesystem::copy_options::recursive);
  REQUIRE(waihai.Start());
  WriteCommuters(root / "b.csv", 100, 50, "waihai");
  REQUIRE(waihai.Cli({"import", root / "b.csv"}).exit_code == 0);
  REQUIRE(WaitFor([&] { return guzhen.Records() == 150; }, std::chrono::seconds(20)));

  // Restore the old copy: the 50 later people exist only at guzhen now.
  REQUIRE(waihai.Stop() == 0);
  std::filesystem::remove_all(waihai.dir() + "/data");
  std::filesystem::copy(root / "backup", waihai.dir() + "/data",
                        std::filesystem::copy_options::recursive);
  REQUIRE(waihai.Start());
  WriteCommuters(root / "c.csv", 150, 10, "waihai");
  REQUIRE(waihai.Cli({"import", root / "c.csv"}).exit_code == 0);
  REQUIRE(WaitFor([&] { return SameExports({&waihai, &guzhen}, 160); }, std::chrono::seconds(20)));
  REQUIRE(guzhen.Cli({"status", "--json"}).out.find("\"forked_origins\": []") != std::string::npos);
  // The restored node saw that guzhen held more of its earlier epoch than its log.
  INFO(waihai.log());
  CHECK(waihai.Cli({"status", "--json"}).out.find(" deltas of this node") !=
        std::string::npos);
}

TEST_CASE("Replication: a foreign deregistration is quarantined and listed, the rest applies",
          "[e2e]") {
  TempDir root("quarantine");
  auto nodes = wlsync::testing::MakeNodes(root.path(), {"waihai", "guzhen"});
  wlsync::testing::FullMesh(nodes);
  Node& waihai = *nodes[0];
  Node& guzhen = *nodes[1];
  // Waihai's operators loosened their own policy; guzhen keeps the default.
  waihai.AppendConfig("[ownership]\nderegister = \"any\"\n");
  REQUIRE(waihai.Start());
  REQUIRE(guzhen.Start());
  WriteCommuters(root / "g.csv", 0, 5, "guzhen");
  REQUIRE(guzhen.Cli({"import", root / "g.csv"}).exit_code == 0);
  REQUIRE(WaitFor([&] { return waihai.Records() == 5; }, std::chrono::seconds(20)));

  std::string id = testing::Person(3, "guzhen").id_doc();
  REQUIRE(waihai.Cli({"deregister", id}).exit_code == 0);
  REQUIRE(waihai.Cli({"set", id, "phone", "13911112222"}).exit_code == 1);  // deregistered here
  REQUIRE(waihai.Cli({"set", testing::Person(2, "guzhen").id_doc(), "phone", "13911112222"})
              .exit_code == 0);
  REQUIRE(WaitFor([&] { return guzhen.Cli({"get", testing::Person(2, "guzhen").id_doc()})
                                   .out.find("13911112222") != std::string::npos; },
                  std::chrono::seconds(20)));
  auto q = guzhen.Cli({"quarantine"});
  INFO(q.out);
  REQUIRE(q.exit_code == 0);
  REQUIRE(q.out.find("may deregister") != std::string::npos);
  REQUIRE(q.out.find("\"total\": \"1\"") != std::string::npos);
  REQUIRE(guzhen.Cli({"get", id}).out.find("\"status\":\"REGISTERED\"") != std::string::npos);
  // The id number never appears in the quarantine listing: pids only.
  REQUIRE(q.out.find(id) == std::string::npos);
}

// Counts "events" of an origin's streams in a status reply (sum over its epochs).
long StreamEvents(const std::string& all, const std::string& origin) {
  // Only the node's own "streams" list, not the copies under each peer.
  std::string status = all.substr(std::min(all.find("\"streams\": ["), all.size()));
  long total = 0;
  for (size_t at = status.find("\"origin\": \"" + origin + "\""); at != std::string::npos;
       at = status.find("\"origin\": \"" + origin + "\"", at + 1)) {
    size_t ev = status.find("\"events\": \"", at);
    size_t end = status.find('}', at);
    if (ev != std::string::npos && ev < end) total += std::strtol(status.c_str() + ev + 11, nullptr, 10);
  }
  return total;
}

TEST_CASE("Replication: kill -9 of the receiver while 100,000 events stream loses nothing",
          "[e2e][slow]") {
  TempDir root("kill");
  auto nodes = wlsync::testing::StartMesh(root.path(), {"waihai", "guzhen"});
  REQUIRE(nodes.size() == 2);
  Node& waihai = *nodes[0];
  Node& guzhen = *nodes[1];

  // 11,112 new people = 100,008 events (9 groups each), in batches so that the stream is
  // long and the kills land in the middle of it.
  constexpr int kPeople = 11112;
  constexpr int kFiles = 12;
  std::thread writer([&] {
    for (int f = 0; f < kFiles; ++f) {
      int first = f * (kPeople / kFiles + 1);
      int n = std::min(kPeople / kFiles + 1, kPeople - first);
      std::string path = root / ("part" + std::to_string(f) + ".csv");
      WriteCommuters(path, first, n, "waihai");
      waihai.Cli({"import", path, "--batch-rows", "64"});
    }
  });
  std::mt19937 rng(std::random_device{}());
  for (int round = 0; round < 6; ++round) {
    std::this_thread::sleep_for(std::chrono::milliseconds(150 + rng() % 500));
    guzhen.Kill();
    REQUIRE(guzhen.Start());
  }
  writer.join();

  REQUIRE(waihai.Records() == kPeople);
  REQUIRE(WaitFor([&] { return SameExports({&waihai, &guzhen}, kPeople); },
                  std::chrono::seconds(60)));
  // Every delta applied exactly once: guzhen counted as many events of the waihai stream
  // as waihai made.
  long made = StreamEvents(waihai.Cli({"status", "--json"}).out, "waihai");
  long applied = StreamEvents(guzhen.Cli({"status", "--json"}).out, "waihai");
  REQUIRE(made == kPeople * 9);
  REQUIRE(applied == made);
}

}  // namespace
}  // namespace wlsync::sync
