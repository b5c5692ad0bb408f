#include "sync/send_order.h"

#include <catch2/catch.hpp>
#include <string>
#include <utility>
#include <vector>

#include "tests/sync/fixture.h"

namespace wlsync::sync {
namespace {

using testing::Pair;
using testing::Person;
using Sent = std::vector<std::pair<std::string, uint64_t>>;  // origin, seq

// Everything `order` hands out from one snapshot of `store`'s streams, as Pull does.
Sent Drain(SendOrder& order, const storage::Store& store,
           const std::vector<StreamEntry>& snapshot) {
  Sent out;
  std::vector<const StreamEntry*> ordered = InWrittenOrder(snapshot);
  while (true) {
    REQUIRE(order.Fill(store, ordered).ok());
    std::optional<SendOrder::Delta> next = order.Pop();
    if (!next) break;
    out.emplace_back(next->stream.origin, next->seq);
  }
  return out;
}

void ApplyAll(testing::TestNode& to, const std::vector<std::string>& deltas) {
  for (const std::string& d : deltas) {
    REQUIRE(to.writer().ApplyRemote(d).outcome == RemoteOutcome::kApplied);
  }
}

TEST_CASE(
    "SendOrder: origins interleave by highest HLC, each origin's deltas in the order "
    "written, after the peer's cursors",
    "[sync]") {
  Pair p;
  // waihai registers a person; guzhen, a second later by its clock, edits them; waihai,
  // two seconds later, registers another. Sent origin by origin ("guzhen" sorts first),
  // guzhen's edit would reach a peer before the registration it edits.
  REQUIRE(p.waihai.Register({Person(1, "waihai")})[0].status.ok());
  ApplyAll(p.guzhen, p.waihai.OwnDeltas());
  std::string pid = p.guzhen.planner().PidOf(Person(1, "waihai").id_doc()).value();
  p.guzhen.wall().offset_ms = 1'000;
  REQUIRE(p.guzhen.Set(pid, "phone", "13600000000")[0].status.ok());
  p.waihai.wall().offset_ms = 2'000;
  REQUIRE(p.waihai.Register({Person(2, "waihai")})[0].status.ok());
  ApplyAll(p.guzhen, p.waihai.OwnDeltas(1));

  std::vector<StreamEntry> snapshot = p.guzhen.store().Streams().value();
  SendOrder all({});
  CHECK(Drain(all, p.guzhen.store(), snapshot) ==
        Sent{{"waihai", 1}, {"guzhen", 1}, {"waihai", 2}});
  CHECK_FALSE(all.Pending(snapshot));

  // A peer that holds waihai's first delta gets the rest.
  std::map<storage::StreamId, uint64_t> cursors;
  for (const auto& [id, state] : snapshot) {
    if (id.origin == "waihai") cursors[id] = 1;
  }
  SendOrder rest(cursors);
  CHECK(Drain(rest, p.guzhen.store(), snapshot) == Sent{{"guzhen", 1}, {"waihai", 2}});
}

TEST_CASE("SendOrder: reads no further than the snapshot of stream positions it is given",
          "[sync]") {
  Pair p;
  REQUIRE(p.waihai.Register({Person(1, "waihai")})[0].status.ok());
  ApplyAll(p.guzhen, p.waihai.OwnDeltas());
  std::vector<StreamEntry> snapshot = p.guzhen.store().Streams().value();

  // Committed after the snapshot: a later snapshot lists it, this one must not send it
  // (it could edit a registration of another origin that this snapshot does not hold).
  REQUIRE(p.waihai.Register({Person(2, "waihai")})[0].status.ok());
  ApplyAll(p.guzhen, p.waihai.OwnDeltas(1));
  REQUIRE(p.guzhen.Register({Person(3, "guzhen")})[0].status.ok());

  SendOrder order({});
  CHECK(Drain(order, p.guzhen.store(), snapshot) == Sent{{"waihai", 1}});
  CHECK_FALSE(order.Pending(snapshot));
  std::vector<StreamEntry> later = p.guzhen.store().Streams().value();
  CHECK(order.Pending(later));
  CHECK(Drain(order, p.guzhen.store(), later) == Sent{{"waihai", 2}, {"guzhen", 1}});
}

}  // namespace
}  // namespace wlsync::sync
