#include "model/merge.h"

#include <google/protobuf/arena.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <random>

#include "model/fields.h"
#include "model/hlc.h"

namespace wlsync::model {
namespace {

v1::Event MakeEvent(const std::string& pid, v1::Group group, uint64_t hlc, const std::string& node,
                    const std::string& value) {
  v1::Event e;
  e.set_pid(pid);
  e.set_group(group);
  e.mutable_stamp()->set_hlc(hlc);
  e.mutable_stamp()->set_node(node);
  for (std::string_view field : FieldsOfGroup(group)) *MutableField(e.mutable_value(), field) = value;
  if (group == v1::STATUS) e.mutable_value()->set_status(value);
  return e;
}

v1::DeltaRef Ref(const std::string& origin, uint64_t seq) {
  v1::DeltaRef r;
  r.set_origin(origin);
  r.set_epoch(std::string(16, 'e'));
  r.set_seq(seq);
  return r;
}

TEST_CASE("Merge: any order and any duplicates give byte-identical records", "[model]") {
  std::mt19937_64 rng(GENERATE(1, 2, 3, 4, 5, 6, 7, 8));
  const std::vector<std::string> pids = {std::string(26, 'a'), std::string(26, 'b'),
                                          std::string(26, 'c')};
  const std::vector<std::string> nodes = {"waihai", "guzhen", "third"};

  // Events with deliberately colliding HLCs so that the node tie-break matters.
  std::vector<std::pair<v1::Event, v1::DeltaRef>> events;
  for (int i = 0; i < 200; ++i) {
    auto group = static_cast<v1::Group>(1 + rng() % kGroupCount);
    const std::string& node = nodes[rng() % nodes.size()];
    std::string value = group == v1::STATUS ? (rng() % 2 ? "REGISTERED" : "DEREGISTERED")
                                            : "v" + std::to_string(rng() % 5);
    events.emplace_back(MakeEvent(pids[rng() % pids.size()], group, HlcPack(1000 + rng() % 20, 0),
                                  node, value),
                        Ref(node, static_cast<uint64_t>(i + 1)));
  }

  auto apply_all = [&](const std::vector<std::pair<v1::Event, v1::DeltaRef>>& order) {
    std::map<std::string, v1::Record> records;
    for (const auto& [e, ref] : order) {
      auto it = records.try_emplace(e.pid(), EmptyRecord(e.pid())).first;
      MergeEvent(e, ref, &it->second);
    }
    std::map<std::string, std::string> bytes;
    for (const auto& [pid, r] : records) bytes[pid] = SerializeDeterministic(r);
    return bytes;
  };

  const auto reference = apply_all(events);
  for (int round = 0; round < 20; ++round) {
    auto shuffled = events;
    // Duplicates: a third of the events again, anywhere.
    for (int i = 0; i < 70; ++i) shuffled.push_back(events[rng() % events.size()]);
    std::shuffle(shuffled.begin(), shuffled.end(), rng);
    REQUIRE(apply_all(shuffled) == reference);
  }
}

TEST_CASE("Merge: merging a merged record's events again changes nothing", "[model]") {
  v1::Record r = EmptyRecord(std::string(26, 'a'));
  v1::Event e = MakeEvent(r.pid(), v1::CONTACT, HlcPack(5, 0), "waihai", "13800000000");
  REQUIRE(MergeEvent(e, Ref("waihai", 1), &r));
  REQUIRE_FALSE(MergeEvent(e, Ref("waihai", 1), &r));
}

TEST_CASE("Merge: the later stamp wins, the node name breaks a tie", "[model]") {
  v1::Record r = EmptyRecord(std::string(26, 'a'));
  MergeEvent(MakeEvent(r.pid(), v1::CONTACT, HlcPack(10, 0), "waihai", "new"), Ref("waihai", 2), &r);
  SECTION("older") {
    REQUIRE_FALSE(MergeEvent(MakeEvent(r.pid(), v1::CONTACT, HlcPack(9, 5), "guzhen", "old"),
                             Ref("guzhen", 1), &r));
    REQUIRE(GroupOf(r, v1::CONTACT).value().phone() == "new");
  }
  SECTION("same hlc, larger node name wins") {
    REQUIRE(MergeEvent(MakeEvent(r.pid(), v1::CONTACT, HlcPack(10, 0), "zhongshan", "z"),
                       Ref("zhongshan", 1), &r));
    REQUIRE(GroupOf(r, v1::CONTACT).value().phone() == "z");
  }
}

TEST_CASE("Merge: a deregistered person stays deregistered after an older update",
          "[model]") {
  v1::Record r = EmptyRecord(std::string(26, 'a'));
  MergeEvent(MakeEvent(r.pid(), v1::STATUS, HlcPack(10, 0), "waihai", "REGISTERED"), Ref("waihai", 1), &r);
  MergeEvent(MakeEvent(r.pid(), v1::STATUS, HlcPack(20, 0), "waihai", "DEREGISTERED"), Ref("waihai", 2), &r);
  // An edit made elsewhere before the deregistration arrives late.
  MergeEvent(MakeEvent(r.pid(), v1::CONTACT, HlcPack(15, 0), "guzhen", "13800000000"), Ref("guzhen", 1), &r);
  REQUIRE_FALSE(IsRegistered(r));
  // An old registration replayed does not revive either.
  MergeEvent(MakeEvent(r.pid(), v1::STATUS, HlcPack(10, 0), "waihai", "REGISTERED"), Ref("waihai", 1), &r);
  REQUIRE_FALSE(IsRegistered(r));

  SECTION("a newer registration does revive") {
    MergeEvent(MakeEvent(r.pid(), v1::STATUS, HlcPack(30, 0), "waihai", "REGISTERED"), Ref("waihai", 3), &r);
    REQUIRE(IsRegistered(r));
  }
}

TEST_CASE("Merge: an event only changes its own group's columns", "[model]") {
  v1::Record r = EmptyRecord(std::string(26, 'a'));
  v1::Event e = MakeEvent(r.pid(), v1::LIST, HlcPack(5, 0), "waihai", "GREY");
  e.mutable_value()->set_phone("13800000000");  // a stray column from a buggy writer
  MergeEvent(e, Ref("waihai", 1), &r);
  v1::PersonFields flat = Flatten(r);
  REQUIRE(flat.list() == "GREY");
  REQUIRE(flat.phone().empty());
  REQUIRE(GroupOf(r, v1::LIST).writer().seq() == 1);
}

TEST_CASE("Merge: a record on an arena merges to the same bytes as one on the heap", "[model]") {
  // The overlay merges into records on an arena, where a newer event overwrites its group
  // in place; the other tests merge into records on the heap.
  std::mt19937_64 rng(GENERATE(11, 12, 13));
  const std::string pid(26, 'q');
  const std::vector<std::string> nodes = {"waihai", "guzhen"};
  google::protobuf::Arena arena;
  auto* on_arena = google::protobuf::Arena::CreateMessage<v1::Record>(&arena);
  *on_arena = EmptyRecord(pid);
  v1::Record on_heap = EmptyRecord(pid);
  int changed = 0;
  for (int i = 0; i < 300; ++i) {
    auto group = static_cast<v1::Group>(1 + rng() % kGroupCount);
    const std::string& node = nodes[rng() % nodes.size()];
    v1::Event e =
        MakeEvent(pid, group, HlcPack(2000 + rng() % 30, 0), node, "v" + std::to_string(rng() % 4));
    e.mutable_value()->set_workplace("stray" + std::to_string(i));  // other groups' columns
    REQUIRE(e.mutable_stamp()->MergeFromString(std::string("\x98\x06\x01", 3)));  // field 99
    bool a = MergeEvent(e, Ref(node, static_cast<uint64_t>(i + 1)), on_arena);
    bool b = MergeEvent(e, Ref(node, static_cast<uint64_t>(i + 1)), &on_heap);
    REQUIRE(a == b);
    changed += a ? 1 : 0;
    REQUIRE(SerializeDeterministic(*on_arena) == SerializeDeterministic(on_heap));
  }
  REQUIRE(changed > 10);
  // The last merged value of WORK is a whole group of its own event, never a mix.
  const v1::GroupState& work = GroupOf(on_heap, v1::WORK);
  if (HasGroup(on_heap, v1::WORK)) REQUIRE(work.value().workplace().rfind("stray", 0) == 0);
  REQUIRE(GroupOf(on_heap, v1::LIST).value().workplace().empty());
}

TEST_CASE("Serialize: into a reused buffer, the same bytes", "[model]") {
  v1::Record big = EmptyRecord(std::string(26, 'b'));
  MergeEvent(MakeEvent(big.pid(), v1::RESIDENCE, HlcPack(9, 0), "waihai", std::string(300, 'x')),
             Ref("waihai", 1), &big);
  v1::Record small = EmptyRecord(std::string(26, 's'));
  std::string buffer;
  SerializeDeterministicTo(big, &buffer);
  REQUIRE(buffer == big.SerializeAsString());
  SerializeDeterministicTo(small, &buffer);  // shorter: nothing of the first may remain
  REQUIRE(buffer == SerializeDeterministic(small));
  REQUIRE(buffer == small.SerializeAsString());
}

}  // namespace
}  // namespace wlsync::model
