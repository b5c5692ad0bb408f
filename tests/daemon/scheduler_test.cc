#include <catch2/catch.hpp>

#include "daemon/config.h"
#include "daemon/scheduler.h"
#include "tests/support/cluster.h"

namespace wlsync::daemon {
namespace {

// 2026-12-04T11:00:00Z, which is 19:00 in Shanghai (UTC+8, no daylight saving).
constexpr int64_t kNow = 1796382000000;

TEST_CASE("Scheduler: HH:MM is parsed strictly", "[daemon]") {
  ScheduleOptions o;
  REQUIRE(ParseAt("02:30", &o).ok());
  REQUIRE((o.hour == 2 && o.minute == 30));
  for (const char* bad : {"2:30", "24:00", "02:60", "0230", "ab:cd", ""}) {
    INFO(bad);
    absl::Status s = ParseAt(bad, &o);
    REQUIRE_FALSE(s.ok());
    REQUIRE(std::string(s.message()).find("reconcile.at") != std::string::npos);
  }
}

TEST_CASE("Scheduler: the nightly run is at local time in the configured zone", "[daemon]") {
  ScheduleOptions o;
  REQUIRE(ParseAt("02:30", &o).ok());
  o.time_zone = "Asia/Shanghai";
  // Today 02:30 in Shanghai is 2026-12-03T18:30Z, tomorrow's a day later.
  REQUIRE(*ScheduledAt(o, kNow, 0) == 1796322600000);
  REQUIRE(*ScheduledAt(o, kNow, 1) == 1796322600000 + 86400000);
  o.time_zone = "UTC";
  REQUIRE(*ScheduledAt(o, kNow, 0) == 1796351400000);  // 2026-12-04T02:30Z
  o.time_zone = "Mars/Olympus_Mons";
  REQUIRE_FALSE(ScheduledAt(o, kNow, 0).ok());
}

// Abseil opens any path given as a zone name: a config naming "/dev/stdin" would block the
// load, "../" would read files outside the zoneinfo directory. Found while writing the
// config fuzz target (tests/fuzz/config_fuzzer.cc).
TEST_CASE("Scheduler: only zone names are loaded, never paths", "[daemon]") {
  for (const char* good : {"Asia/Shanghai", "UTC", "Etc/GMT+8", "Etc/GMT-14",
                           "America/Argentina/Buenos_Aires", "EST5EDT"}) {
    INFO(good);
    REQUIRE(IsTimeZoneName(good));
  }
  for (const char* bad : {"", "/dev/stdin", "/usr/share/zoneinfo/UTC", "../../../dev/zero",
                          "Asia/../UTC", "Asia//Shanghai", "Asia/", ".hidden", "file:UTC",
                          "Asia/Shang hai", "Asia\\Shanghai"}) {
    INFO(bad);
    REQUIRE_FALSE(IsTimeZoneName(bad));
    ScheduleOptions o;
    o.time_zone = bad;
    REQUIRE_FALSE(ScheduledAt(o, kNow, 0).ok());
  }
  REQUIRE_FALSE(IsTimeZoneName(std::string(129, 'A')));
}

TEST_CASE("Scheduler: bad schedule settings stop the config load", "[daemon]") {
  std::string base =
      "[node]\nname = \"waihai\"\ndata_dir = \"d\"\nsigning_key = \"k\"\nfederation_key = \"f\"\n"
      "grids = \"g\"\n";
  auto bad_at = ParseConfig(base + "[reconcile]\nat = \"25:00\"\n", "t.toml", "/");
  REQUIRE_FALSE(bad_at.ok());
  REQUIRE(std::string(bad_at.status().message()).find("reconcile.at") != std::string::npos);
  auto bad_zone = ParseConfig(base + "[reconcile]\ntime_zone = \"Nowhere/Land\"\n", "t.toml", "/");
  REQUIRE_FALSE(bad_zone.ok());
  REQUIRE(std::string(bad_zone.status().message()).find("reconcile.time_zone") != std::string::npos);
  auto path_zone = ParseConfig(base + "[reconcile]\ntime_zone = \"/dev/stdin\"\n", "t.toml", "/");
  REQUIRE_FALSE(path_zone.ok());
  REQUIRE(std::string(path_zone.status().message()).find("must be a time zone name") !=
          std::string::npos);
}

TEST_CASE("Scheduler: a run missed while the node was down happens after the next start",
          "[daemon][e2e]") {
  wlsync::testing::TempDir root("schedule");
  auto nodes = wlsync::testing::MakeNodes(root.path(), {"waihai", "guzhen"});
  wlsync::testing::FullMesh(nodes);
  // Never reconciled, so the last scheduled time was missed.
  nodes[0]->AppendConfig("[reconcile]\nat = \"02:30\"\nstartup_delay_s = 1\njitter_s = 0\n");
  // The peer first: waihai's run starts a second after its own start.
  REQUIRE(nodes[1]->Start());
  REQUIRE(nodes[0]->Start());
  REQUIRE(wlsync::testing::WaitFor(
      [&] {
        auto r = nodes[0]->Cli({"reconcile-report", "--last", "1"});
        return r.out.find("\"peer\":\"guzhen\"") != std::string::npos;
      },
      std::chrono::seconds(20)));
  auto r = nodes[0]->Cli({"reconcile-report", "--last", "1"});
  REQUIRE(r.out.find("\"equal\":true") != std::string::npos);
  REQUIRE(nodes[0]->log().find("a scheduled reconciliation was missed") != std::string::npos);
}

}  // namespace
}  // namespace wlsync::daemon
