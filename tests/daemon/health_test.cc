#include <catch2/catch.hpp>

#include <thread>

#include "tests/support/cluster.h"

namespace wlsync::daemon {
namespace {

using wlsync::testing::WaitFor;

TEST_CASE("Health: SERVING while a peer answers, NOT_SERVING once none has for a while",
          "[daemon][e2e]") {
  wlsync::testing::TempDir root("health");
  auto nodes = wlsync::testing::MakeNodes(root.path(), {"waihai", "guzhen"});
  wlsync::testing::FullMesh(nodes);
  nodes[0]->AppendConfig("[health]\npeer_timeout_s = 2\n");
  REQUIRE(nodes[0]->Start());
  REQUIRE(nodes[1]->Start());
  REQUIRE(WaitFor([&] { return nodes[0]->Cli({"health"}).out == "SERVING\n"; },
                  std::chrono::seconds(10)));

  REQUIRE(nodes[1]->Stop() == 0);
  REQUIRE(WaitFor([&] { return nodes[0]->Cli({"health"}).exit_code == 1; },
                  std::chrono::seconds(15)));
  REQUIRE(nodes[0]->Cli({"health"}).out == "NOT_SERVING\n");
  REQUIRE(nodes[0]->log().find("health=NOT_SERVING reason=\"no peer reachable") !=
          std::string::npos);
  // It still serves reads and writes: health is a signal to operators, not a refusal.
  REQUIRE(nodes[0]->Cli({"status", "--json"}).exit_code == 0);

  REQUIRE(nodes[1]->Start());
  REQUIRE(WaitFor([&] { return nodes[0]->Cli({"health"}).exit_code == 0; },
                  std::chrono::seconds(15)));

  // An emergency freeze of the only peer cuts it off on purpose: still SERVING.
  wlsync::testing::CommandResult frozen = nodes[0]->Cli({"--token-file", nodes[0]->dir() + "/admin.token",
                                        "emergency", "freeze", "--peer", "guzhen", "--reason",
                                        "drill"});
  REQUIRE(frozen.exit_code == 0);
  std::this_thread::sleep_for(std::chrono::seconds(4));  // twice peer_timeout_s
  CHECK(nodes[0]->Cli({"health"}).out == "SERVING\n");
}

}  // namespace
}  // namespace wlsync::daemon
