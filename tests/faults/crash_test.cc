// Fault suite, crashes: kill -9 of either node at random moments while both import and
// replicate, then restart. After every round: every write a node acknowledged is held by
// both nodes, both export the same records, and both hold every stream at the same seq with
// the same event count (nothing applied twice, nothing skipped). WLSYNC_CRASH_ROUNDS sets
// the number of rounds (20 in CI; the soak script runs many more).
#include <catch2/catch.hpp>

#include <cstdlib>
#include <algorithm>
#include <iterator>
#include <random>
#include <thread>

#include "tests/faults/fault_support.h"

namespace wlsync::testing {
namespace {

int Rounds() {
  const char* env = std::getenv("WLSYNC_CRASH_ROUNDS");
  int n = env != nullptr ? std::atoi(env) : 0;
  return n > 0 ? n : 20;
}

uint64_t Seed() {
  const char* env = std::getenv("WLSYNC_FAULT_SEED");
  return env != nullptr ? std::strtoull(env, nullptr, 10) : std::random_device{}();
}

// Waits until both nodes export the same records and hold the same streams.
bool Converged(const Node& a, const Node& b, std::chrono::seconds timeout) {
  return WaitFor(
      [&] {
        std::optional<v1::StatusResponse> sa = Status(a);
        std::optional<v1::StatusResponse> sb = Status(b);
        if (!sa || !sb || Streams(*sa) != Streams(*sb)) return false;
        return a.Export() == b.Export();
      },
      timeout, std::chrono::milliseconds(200));
}

TEST_CASE("Faults: kill -9 of either node during import and sync loses no acknowledged "
          "write and applies nothing twice",
          "[faults][e2e]") {
  const int rounds = Rounds();
  const uint64_t seed = Seed();
  INFO("WLSYNC_FAULT_SEED=" << seed << " rounds=" << rounds);
  std::mt19937_64 rng(seed);

  TempDir root("crash");
  auto nodes = StartMesh(root.path(), {"waihai", "guzhen"});
  REQUIRE(nodes.size() == 2);
  // Each node registers its own half of the people, so that no two writes race on one
  // person and the expected state is the union of what was acknowledged.
  const int kRowsPerRound = 4000;
  std::vector<v1::ImportRow> rows = GeneratedRows(root.path(), rounds * kRowsPerRound, 7);
  REQUIRE(rows.size() == static_cast<size_t>(rounds * kRowsPerRound));
  size_t half = rows.size() / 2;
  std::vector<size_t> next = {0, half};
  std::vector<size_t> end = {half, rows.size()};
  std::set<std::string> acked;

  for (int round = 0; round < rounds; ++round) {
    size_t victim = rng() % 2;
    auto kill_after = std::chrono::milliseconds(30 + rng() % 700);
    INFO("round " << round << " victim " << nodes[victim]->name() << " after "
                  << kill_after.count() << " ms");

    std::atomic<bool> stop{false};
    std::vector<std::unique_ptr<AckingImporter>> importers;
    std::vector<std::thread> threads;
    for (size_t i = 0; i < 2; ++i) {
      importers.push_back(std::make_unique<AckingImporter>(*nodes[i], rows, next[i], end[i]));
      threads.emplace_back([&, i] { importers[i]->Run(stop); });
    }
    std::this_thread::sleep_for(kill_after);
    nodes[victim]->Kill();
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    stop = true;
    for (auto& t : threads) t.join();
    for (size_t i = 0; i < 2; ++i) {
      CHECK(importers[i]->refusals().empty());
      next[i] = importers[i]->next();
      acked.insert(importers[i]->acked().begin(), importers[i]->acked().end());
    }

    REQUIRE(nodes[victim]->Start());
    REQUIRE(Converged(*nodes[0], *nodes[1], std::chrono::seconds(60)));
    std::set<std::string> held = ExportedPids(nodes[victim]->Export());
    std::vector<std::string> lost;
    std::set_difference(acked.begin(), acked.end(), held.begin(), held.end(),
                        std::back_inserter(lost));
    INFO("acknowledged " << acked.size() << ", held " << held.size());
    REQUIRE(lost.empty());
    // Nothing beyond what was sent: every record is a row of the generated registry.
    REQUIRE(held.size() <= next[0] + (next[1] - half));
  }
  // The work was real: most rows were acknowledged across the rounds.
  CHECK(acked.size() > static_cast<size_t>(rounds) * 100);
}

}  // namespace
}  // namespace wlsync::testing
