// Fault suite, network: both nodes write all along while the links between them, each
// through a TcpProxy, are delayed, stalled, cut in the middle of messages and refused.
// Once healed, sync has resumed from the cursors: every acknowledged write is on both
// nodes, both export the same records, and every stream has the same seq and event count
// on both (no duplicate, no gap).
#include <catch2/catch.hpp>

#include <algorithm>
#include <iterator>
#include <random>
#include <thread>

#include "tests/faults/fault_support.h"
#include "tests/faults/tcp_proxy.h"

namespace wlsync::testing {
namespace {

using Mode = TcpProxy::Mode;

TEST_CASE("Faults: links delayed, stalled, cut mid-message and refused heal without "
          "duplicates or gaps",
          "[faults][e2e]") {
  TempDir root("partition");
  auto nodes = MakeNodes(root.path(), {"waihai", "guzhen"});
  REQUIRE(nodes.size() == 2);
  // waihai pulls from guzhen through one proxy, guzhen from waihai through the other.
  TcpProxy to_guzhen(nodes[1]->port());
  TcpProxy to_waihai(nodes[0]->port());
  REQUIRE(to_guzhen.port() > 0);
  REQUIRE(to_waihai.port() > 0);
  nodes[0]->AddPeer(*nodes[1], "127.0.0.1:" + std::to_string(to_guzhen.port()));
  nodes[1]->AddPeer(*nodes[0], "127.0.0.1:" + std::to_string(to_waihai.port()));
  // Reconnect quickly once a link heals (the config has a [sync] table already).
  for (auto& n : nodes) {
    std::string config = ReadFile(n->config());
    config.replace(config.find("[sync]\n"), 7, "[sync]\nreconnect_max_ms = 500\n");
    WriteFile(n->config(), config);
  }
  REQUIRE(nodes[0]->Start());
  REQUIRE(nodes[1]->Start());
  std::vector<TcpProxy*> proxies = {&to_guzhen, &to_waihai};
  auto set_all = [&](Mode m) {
    for (TcpProxy* p : proxies) p->set_mode(m);
  };

  std::vector<v1::ImportRow> rows = GeneratedRows(root.path(), 40000, 11);
  REQUIRE(rows.size() == 40000);
  std::atomic<bool> stop{false};
  std::vector<std::unique_ptr<AckingImporter>> importers;
  std::vector<std::thread> threads;
  for (size_t i = 0; i < 2; ++i) {
    importers.push_back(std::make_unique<AckingImporter>(
        *nodes[i], rows, i * 20000, (i + 1) * 20000, /*batch_rows=*/20,
        std::chrono::milliseconds(25)));
    threads.emplace_back([&, i] { importers[i]->Run(stop); });
  }

  auto phase = [](int ms) { std::this_thread::sleep_for(std::chrono::milliseconds(ms)); };
  phase(1500);  // passing
  for (TcpProxy* p : proxies) p->set_delay(std::chrono::milliseconds(30));
  set_all(Mode::kDelay);
  phase(2500);
  set_all(Mode::kStall);
  phase(3000);
  set_all(Mode::kPass);
  std::mt19937_64 rng(std::random_device{}());
  for (int i = 0; i < 8; ++i) {  // cut each link mid-stream, again and again
    for (TcpProxy* p : proxies) p->CutAfter(rng() % 40000);
    phase(400);
  }
  set_all(Mode::kRefuse);
  phase(2500);
  set_all(Mode::kPass);
  phase(1000);
  stop = true;
  for (auto& t : threads) t.join();

  std::set<std::string> acked;
  for (auto& imp : importers) {
    CHECK(imp->refusals().empty());
    acked.insert(imp->acked().begin(), imp->acked().end());
  }
  INFO("acknowledged " << acked.size() << "; proxies accepted " << to_guzhen.accepted() << "+"
                       << to_waihai.accepted() << " connections, cut " << to_guzhen.cut() << "+"
                       << to_waihai.cut());
  // The faults really happened: connections were cut and made again.
  CHECK(to_guzhen.cut() + to_waihai.cut() >= 2);
  CHECK(to_guzhen.accepted() >= 2);
  CHECK(to_waihai.accepted() >= 2);
  CHECK(acked.size() > 2000);

  REQUIRE(WaitFor(
      [&] {
        std::optional<v1::StatusResponse> a = Status(*nodes[0]);
        std::optional<v1::StatusResponse> b = Status(*nodes[1]);
        return a && b && Streams(*a) == Streams(*b) && nodes[0]->Export() == nodes[1]->Export();
      },
      std::chrono::seconds(60), std::chrono::milliseconds(250)));
  std::set<std::string> held = ExportedPids(nodes[1]->Export());
  std::vector<std::string> lost;
  std::set_difference(acked.begin(), acked.end(), held.begin(), held.end(),
                      std::back_inserter(lost));
  CHECK(lost.empty());
  for (auto& n : nodes) {
    std::optional<v1::StatusResponse> s = Status(*n);
    REQUIRE(s);
    CHECK(s->quarantined_events() == 0);
    for (const v1::PeerStatus& p : s->peers()) CHECK(p.forked_origins().empty());
  }
}

}  // namespace
}  // namespace wlsync::testing
