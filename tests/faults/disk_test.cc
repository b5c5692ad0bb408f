// Fault suite, storage: a node whose disk fills up (its data dir on a small tmpfs, filled
// to the last byte) refuses writes with a clear error that stays while the disk is full,
// keeps answering status and health, applies nothing in part, and accepts writes again by
// itself once space is freed; what it missed from its peer arrives afterwards. A failure
// RocksDB cannot resume from (EFBIG from a file size limit) is cleared by a restart.
#include <catch2/catch.hpp>

#include <signal.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <optional>
#include <sstream>
#include <thread>

#include "tests/faults/fault_support.h"
#include "tests/support/small_disk.h"

namespace wlsync::testing {
namespace {

// Sets the soft limit only (raising a hard limit again would need CAP_SYS_RESOURCE).
bool SetFileSizeLimit(pid_t pid, rlim_t limit) {
  rlimit l{};
  if (prlimit(pid, RLIMIT_FSIZE, nullptr, &l) != 0) return false;
  l.rlim_cur = std::min(limit, l.rlim_max);
  return prlimit(pid, RLIMIT_FSIZE, &l, nullptr) == 0;
}

// Header and rows [from, to] of the sample, into `path`.
std::string RowsFile(const std::string& path, int from, int to) {
  std::istringstream in(ReadFile(SampleFile("commuters.csv")));
  std::string out, line;
  for (int i = 0; std::getline(in, line) && i <= to; ++i) {
    if (i == 0 || i >= from) out += line + "\n";
  }
  WriteFile(path, out);
  return path;
}

// Both nodes hold `records` records, the same streams and the same export.
bool Agree(const Node& a, const Node& b, uint64_t records) {
  return WaitFor(
      [&] {
        std::optional<v1::StatusResponse> sa = Status(a);
        std::optional<v1::StatusResponse> sb = Status(b);
        return sa && sb && sa->counts().records() == records && Streams(*sa) == Streams(*sb) &&
               a.Export() == b.Export();
      },
      std::chrono::seconds(30));
}

// Two nodes in a mesh with waihai's data dir on a 256 MiB tmpfs, 100 sample rows imported at
// waihai and agreed, `more`: 40,000 generated people, and then the disk filled. RocksDB
// preallocates its log, so small writes still fit; an import of `more` does not.
struct DiskPair {
  explicit DiskPair(const std::string& tag) : root(tag) {
    nodes = MakeNodes(root.path(), {"waihai", "guzhen"});
    REQUIRE(nodes.size() == 2);
    FullMesh(nodes);
    disk.emplace(waihai().dir() + "/data", 256);
    REQUIRE(disk->mounted());  // needs CAP_SYS_ADMIN, as root here and in CI
    REQUIRE(waihai().Start());
    REQUIRE(guzhen().Start());
    REQUIRE(waihai().Cli({"import", RowsFile(root / "first.csv", 1, 100)}).exit_code == 0);
    REQUIRE(Agree(waihai(), guzhen(), 100));
    more = root / "generated.csv";
    REQUIRE(Run({std::string(WLSYNC_BIN_DIR) + "/wlsync-gen", "--rows", "40000", "--seed", "5",
                 "--out", more, "--grids", SampleFile("grids.csv")})
                .exit_code == 0);
    REQUIRE(disk->Fill("filler") > 0);
  }
  Node& waihai() { return *nodes[0]; }
  Node& guzhen() { return *nodes[1]; }

  TempDir root;
  std::vector<std::unique_ptr<Node>> nodes;
  std::optional<SmallDisk> disk;  // after the nodes: unmounted before they are gone
  std::string more;
};

TEST_CASE("Faults: a full disk refuses writes clearly until space is freed, then they are "
          "accepted again without a restart",
          "[faults][e2e]") {
  DiskPair pair("disk-full");
  TempDir& root = pair.root;
  Node& waihai = pair.waihai();
  Node& guzhen = pair.guzhen();
  const std::string& more = pair.more;
  CommandResult refused = waihai.Cli({"import", more});
  INFO(refused.out << refused.err.substr(0, 2000));
  CHECK((refused.exit_code == 1 || refused.exit_code == 3));
  CHECK(refused.err.find("No space left on device") != std::string::npos);
  CHECK(refused.err.find("refuses writes until the cause is gone") != std::string::npos);
  long imported = -1;
  std::sscanf(refused.out.c_str(), "imported=%ld", &imported);
  CHECK(imported < 40000);

  // Status and health go on and say why. Exactly the rows acknowledged were applied:
  // nothing of a refused batch is there.
  std::optional<v1::StatusResponse> st = Status(waihai);
  REQUIRE(st);
  CHECK(st->write_error().find("No space left on device") != std::string::npos);
  CHECK(static_cast<long>(st->counts().records()) == 100 + imported);
  REQUIRE(WaitFor([&] { return waihai.Cli({"health"}).out == "NOT_SERVING\n"; },
                  std::chrono::seconds(10)));
  CHECK(MetricValue(waihai.Metrics(), "wlsync_store_write_error") == 1);

  // The peer writes meanwhile; waihai cannot apply it yet.
  REQUIRE(guzhen.Cli({"import", RowsFile(root / "guzhen.csv", 201, 230)}).exit_code == 0);
  std::this_thread::sleep_for(std::chrono::seconds(2));
  CHECK(waihai.Records() == 100 + imported);

  // Space is freed: writes are accepted again by themselves, and the peer's rows arrive.
  std::filesystem::remove(waihai.dir() + "/data/filler");
  bool serving = WaitFor([&] { return waihai.Cli({"health"}).out == "SERVING\n"; },
                         std::chrono::seconds(20));
  INFO(waihai.log());
  REQUIRE(serving);
  CHECK(waihai.log().find("writes accepted again") != std::string::npos);
  CommandResult again = waihai.Cli({"import", more});
  INFO(again.out << again.err.substr(0, 2000));
  REQUIRE(again.exit_code == 0);
  REQUIRE(Agree(waihai, guzhen, 100 + 40000 + 30));
  CHECK(MetricValue(waihai.Metrics(), "wlsync_store_write_error") == 0);
}

// The same with the peer idle while the disk is full, so that no delta from it reaches the
// writer between the last refused write and the recovery: the first write after it must not
// be refused with the old error (the writer had kept a failed delta in flight).
TEST_CASE("Faults: after a full disk is freed, the next import is accepted although nothing "
          "was written in between",
          "[faults][e2e]") {
  DiskPair pair("disk-full-idle");
  Node& waihai = pair.waihai();
  CHECK(waihai.Cli({"import", pair.more}).exit_code != 0);
  // An operator retries one row while writes are refused: the last write before the freeing.
  CHECK(waihai.Cli({"import", RowsFile(pair.root / "retry.csv", 111, 111)}).exit_code != 0);

  REQUIRE(WaitFor([&] { return waihai.Cli({"health"}).out == "NOT_SERVING\n"; },
                  std::chrono::seconds(10)));
  std::filesystem::remove(waihai.dir() + "/data/filler");
  REQUIRE(WaitFor([&] { return waihai.log().find("writes accepted again") != std::string::npos; },
                  std::chrono::seconds(20)));
  CommandResult again = waihai.Cli({"import", RowsFile(pair.root / "later.csv", 101, 110)});
  INFO(again.out << again.err.substr(0, 2000));
  CHECK(again.exit_code == 0);
  std::optional<v1::StatusResponse> st = Status(waihai);
  REQUIRE(st);
  CHECK(Agree(waihai, pair.guzhen(), st->counts().records()));
}

TEST_CASE("Faults: a write failure RocksDB cannot resume from is cleared by a restart",
          "[faults][e2e]") {
  // Writes beyond a file size limit fail with EFBIG rather than kill the node with
  // SIGXFSZ: an ignored signal stays ignored in the spawned daemon.
  signal(SIGXFSZ, SIG_IGN);
  TempDir root("disk-efbig");
  auto nodes = StartMesh(root.path(), {"waihai", "guzhen"});
  REQUIRE(nodes.size() == 2);
  Node& waihai = *nodes[0];
  Node& guzhen = *nodes[1];
  REQUIRE(waihai.Cli({"import", RowsFile(root / "first.csv", 1, 100)}).exit_code == 0);
  REQUIRE(Agree(waihai, guzhen, 100));

  REQUIRE(SetFileSizeLimit(waihai.pid(), 0));
  std::string more = RowsFile(root / "more.csv", 101, 150);
  CommandResult refused = waihai.Cli({"import", more});
  CHECK(refused.exit_code == 1);
  CHECK(refused.err.find("File too large") != std::string::npos);
  REQUIRE(SetFileSizeLimit(waihai.pid(), RLIM_INFINITY));
  // RocksDB keeps this error until the database is opened again: still refused.
  std::this_thread::sleep_for(std::chrono::seconds(6));
  CHECK_FALSE(Status(waihai)->write_error().empty());
  CHECK(waihai.log().find("writes still refused") != std::string::npos);

  REQUIRE(waihai.Stop() == 0);
  REQUIRE(waihai.Start());
  CHECK(Status(waihai)->write_error().empty());
  REQUIRE(waihai.Cli({"import", more}).exit_code == 0);
  REQUIRE(Agree(waihai, guzhen, 150));
}

}  // namespace
}  // namespace wlsync::testing
