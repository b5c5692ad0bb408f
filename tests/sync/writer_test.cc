#include <catch2/catch.hpp>

#include <thread>

#include "model/merge.h"
#include "sync/signer.h"
#include "tests/sync/fixture.h"

namespace wlsync::sync {
namespace {

using testing::Pair;
using testing::Person;
using testing::SignDelta;
using testing::TestNode;

v1::DeltaBody Body(const std::string& signed_delta) {
  v1::SignedDelta envelope;
  envelope.ParseFromString(signed_delta);
  v1::DeltaBody body;
  body.ParseFromString(envelope.body());
  return body;
}

TEST_CASE("Writer: local writes replicate to byte-identical records", "[sync]") {
  Pair p;
  REQUIRE(p.waihai.Register({Person(1, "waihai"), Person(2, "guzhen")})[0].status.ok());
  std::string pid = p.waihai.planner().PidOf(Person(1, "waihai").id_doc()).value();
  REQUIRE(p.waihai.Set(pid, "phone", "13912345678")[0].status.ok());
  REQUIRE(p.Ship() == std::vector<RemoteOutcome>{RemoteOutcome::kApplied, RemoteOutcome::kApplied});
  REQUIRE(p.guzhen.Dump() == p.waihai.Dump());
  REQUIRE(p.guzhen.store().counts().records == 2);
  REQUIRE(p.guzhen.store().counts().registered_white == 2);
}

TEST_CASE("Writer: a replayed delta is a harmless duplicate", "[sync]") {
  Pair p;
  p.waihai.Register({Person(1, "waihai")});
  p.Ship();
  auto before = p.guzhen.Dump();
  REQUIRE(p.Ship() == std::vector<RemoteOutcome>{RemoteOutcome::kDuplicate});
  REQUIRE(p.guzhen.Dump() == before);
  REQUIRE(p.guzhen.writer().stats().duplicates == 1);
}

TEST_CASE("Writer: a tampered body, a wrong key and an unknown origin are rejected",
          "[sync]") {
  Pair p;
  p.waihai.Register({Person(1, "waihai")});
  std::string delta = p.waihai.OwnDeltas().front();

  SECTION("tampered body") {
    v1::SignedDelta envelope;
    envelope.ParseFromString(delta);
    std::string body = envelope.body();
    body[body.size() / 2] ^= 0x01;
    envelope.set_body(body);
    RemoteResult r = p.guzhen.writer().ApplyRemote(envelope.SerializeAsString());
    REQUIRE(r.outcome == RemoteOutcome::kRejected);
  }
  SECTION("signed by a key that is not the origin's") {
    SigningKey impostor = SigningKey::Generate();
    RemoteResult r = p.guzhen.writer().ApplyRemote(SignDelta(Body(delta), impostor));
    REQUIRE(r.outcome == RemoteOutcome::kRejected);
    REQUIRE(std::string(r.status.message()).find("key id") != std::string::npos);
  }
  SECTION("the origin's key id with another key's signature") {
    SigningKey impostor = SigningKey::Generate();
    v1::SignedDelta envelope;
    envelope.ParseFromString(SignDelta(Body(delta), impostor));
    envelope.set_key_id(p.waihai.key().key_id());
    RemoteResult r = p.guzhen.writer().ApplyRemote(envelope.SerializeAsString());
    REQUIRE(r.outcome == RemoteOutcome::kRejected);
    REQUIRE(std::string(r.status.message()).find("does not verify") != std::string::npos);
  }
  SECTION("unknown origin") {
    v1::DeltaBody body = Body(delta);
    body.set_origin("stranger");
    RemoteResult r = p.guzhen.writer().ApplyRemote(SignDelta(body, p.waihai.key()));
    REQUIRE(r.outcome == RemoteOutcome::kRejected);
    REQUIRE(std::string(r.status.message()).find("unknown origin") != std::string::npos);
  }
  SECTION("garbage bytes") {
    REQUIRE(p.guzhen.writer().ApplyRemote("\xff\xff\xff garbage").outcome ==
            RemoteOutcome::kRejected);
  }
  REQUIRE(p.guzhen.store().counts().records == 0);
  REQUIRE(p.guzhen.writer().stats().rejected == 1);
}

TEST_CASE("Writer: an envelope with two bodies is judged by the body it applies", "[sync]") {
  // The puller's thread hashes the body and checks the signature before the writer parses
  // the envelope again: a second body field must not make them look at different bytes.
  Pair p;
  p.waihai.Register({Person(1, "waihai")});
  const std::string genuine = p.waihai.OwnDeltas().front();
  v1::SignedDelta envelope;
  envelope.ParseFromString(genuine);
  std::string tampered = envelope.body();
  tampered[tampered.size() / 2] ^= 0x01;
  v1::SignedDelta only_body;
  only_body.set_body(tampered);
  const std::string extra = only_body.SerializeAsString();

  // Protobuf keeps the last body: here the unsigned one, refused.
  RemoteResult r = p.guzhen.writer().ApplyRemote(genuine + extra);
  REQUIRE(r.outcome == RemoteOutcome::kRejected);
  REQUIRE(p.guzhen.store().counts().records == 0);
  // Here the signed one, applied as signed; the stream's hash is that body's, so the plain
  // genuine delta is a duplicate afterwards, not a fork, and the next delta, which chains
  // to it, follows on.
  r = p.guzhen.writer().ApplyRemote(extra + genuine);
  REQUIRE(r.outcome == RemoteOutcome::kApplied);
  REQUIRE(p.guzhen.Dump() == p.waihai.Dump());
  REQUIRE(p.guzhen.writer().ApplyRemote(genuine).outcome == RemoteOutcome::kDuplicate);
  p.waihai.Register({Person(2, "waihai")});
  REQUIRE(p.waihai.OwnDeltas().size() == 2);
  r = p.guzhen.writer().ApplyRemote(p.waihai.OwnDeltas()[1]);
  INFO(r.status.message());
  REQUIRE(r.outcome == RemoteOutcome::kApplied);
  REQUIRE(p.guzhen.Dump() == p.waihai.Dump());
}

TEST_CASE("Writer: unknown fields from a newer version still verify", "[sync]") {
  Pair p;
  p.waihai.Register({Person(1, "waihai")});
  v1::DeltaBody body = Body(p.waihai.OwnDeltas().front());
  std::string bytes = body.SerializeAsString();
  bytes += std::string("\xa0\x06\x07", 3);  // field 100, varint 7: unknown to this version
  v1::SignedDelta envelope;
  envelope.set_body(bytes);
  envelope.set_key_id(p.waihai.key().key_id());
  envelope.set_signature(p.waihai.key().Sign(bytes));
  REQUIRE(p.guzhen.writer().ApplyRemote(envelope.SerializeAsString()).outcome ==
          RemoteOutcome::kApplied);
}

TEST_CASE("Writer: out-of-order delivery reports a gap and then applies in order", "[sync]") {
  Pair p;
  for (int i = 0; i < 3; ++i) p.waihai.Register({Person(i, "waihai")});
  std::vector<std::string> deltas = p.waihai.OwnDeltas();
  REQUIRE(deltas.size() == 3);
  RemoteResult gap = p.guzhen.writer().ApplyRemote(deltas[2]);
  REQUIRE(gap.outcome == RemoteOutcome::kGap);
  REQUIRE(p.guzhen.store().counts().records == 0);
  for (const std::string& d : deltas) {
    REQUIRE(p.guzhen.writer().ApplyRemote(d).outcome == RemoteOutcome::kApplied);
  }
  REQUIRE(p.guzhen.Dump() == p.waihai.Dump());
}

TEST_CASE("Writer: a fork stops accepting that stream until it is cleared, and is counted",
          "[sync]") {
  Pair p;
  p.waihai.Register({Person(1, "waihai")});
  p.waihai.Register({Person(2, "waihai")});
  std::vector<std::string> deltas = p.waihai.OwnDeltas();
  REQUIRE(p.guzhen.writer().ApplyRemote(deltas[0]).outcome == RemoteOutcome::kApplied);

  v1::DeltaBody other = Body(deltas[0]);
  other.set_created_unix_ms(other.created_unix_ms() + 1);  // same seq, different body
  RemoteResult fork = p.guzhen.writer().ApplyRemote(SignDelta(other, p.waihai.key()));
  REQUIRE(fork.outcome == RemoteOutcome::kFork);
  REQUIRE(p.guzhen.writer().stats().forks == 1);
  REQUIRE(p.guzhen.writer().forked_streams().size() == 1);
  // Even the genuine next delta is refused until an operator acts.
  REQUIRE(p.guzhen.writer().ApplyRemote(deltas[1]).outcome == RemoteOutcome::kFork);
  REQUIRE(p.guzhen.store().counts().records == 1);

  // Cleared (durably): after a restart the stream applies again.
  auto missing = p.guzhen.writer().forks().Clear({"waihai", std::string(16, '\0')});
  REQUIRE(missing.ok());
  CHECK(!missing->has_value());
  auto cleared = p.guzhen.writer().forks().Clear(p.waihai.writer().own_stream());
  REQUIRE(cleared.ok());
  REQUIRE(cleared->has_value());
  CHECK((*cleared)->seq() == 1);
  p.guzhen.Restart();
  REQUIRE(p.guzhen.writer().forked_streams().empty());
  REQUIRE(p.guzhen.writer().ApplyRemote(deltas[1]).outcome == RemoteOutcome::kApplied);
  REQUIRE(p.guzhen.Dump() == p.waihai.Dump());
}

TEST_CASE("Writer: a fork is recorded in the store and still refuses its stream after a restart",
          "[sync]") {
  Pair p;
  for (int i = 0; i < 3; ++i) p.waihai.Register({Person(i, "waihai")});
  std::vector<std::string> deltas = p.waihai.OwnDeltas();
  REQUIRE(p.guzhen.writer().ApplyRemote(deltas[0]).outcome == RemoteOutcome::kApplied);

  v1::DeltaBody other = Body(deltas[1]);
  uint64_t refused_seq = other.seq();
  SECTION("same seq, different body") {
    REQUIRE(p.guzhen.writer().ApplyRemote(deltas[1]).outcome == RemoteOutcome::kApplied);
    other.set_created_unix_ms(other.created_unix_ms() + 1);
  }
  SECTION("next seq, naming another predecessor") { other.set_prev_hash(std::string(32, 'x')); }
  std::string forged = SignDelta(other, p.waihai.key());
  REQUIRE(p.guzhen.writer().ApplyRemote(forged).outcome == RemoteOutcome::kFork);
  std::vector<v1::ForkedStream> before = p.guzhen.writer().forks().List();
  REQUIRE(before.size() == 1);
  const v1::ForkedStream& f = before.front();
  CHECK(f.origin() == "waihai");
  CHECK(f.refused_seq() == refused_seq);
  CHECK(f.held_hash().size() == 32);
  CHECK(f.other_hash().size() == 32);
  CHECK(f.held_hash() != f.other_hash());
  CHECK(f.since_unix_ms() > 0);

  p.guzhen.Restart();
  REQUIRE(p.guzhen.writer().forked_streams() ==
          std::vector<std::string>{StreamName(p.waihai.writer().own_stream())});
  REQUIRE(p.guzhen.writer().forks().List().front().SerializeAsString() == f.SerializeAsString());
  // The genuine next delta is still refused: the fork outlived the restart.
  auto records = p.guzhen.store().counts().records;
  REQUIRE(p.guzhen.writer().ApplyRemote(deltas[2]).outcome == RemoteOutcome::kFork);
  REQUIRE(p.guzhen.store().counts().records == records);
}

TEST_CASE("Writer: stream names read back as the stream they name", "[sync]") {
  storage::StreamId id{"waihai", std::string("\x01\x02\x03\x04\x05\x06\x07\x08\x09\x0a\x0b"
                                             "\x0c\x0d\x0e\x0f\xff",
                                             16)};
  auto parsed = ParseStreamName(StreamName(id));
  REQUIRE(parsed.ok());
  CHECK(*parsed == id);
  for (std::string bad : std::vector<std::string>{"waihai", "/0102", "waihai/0102",
                                                  "waihai/zz" + std::string(30, '0'), ""}) {
    INFO(bad);
    CHECK(!ParseStreamName(bad).ok());
  }
}

TEST_CASE("Writer: a delta from a clock far ahead is held back until the clock catches up",
          "[sync]") {
  Pair p;
  p.waihai.wall().offset_ms = 3'600'000;  // waihai's clock jumped an hour forward
  p.waihai.Register({Person(1, "waihai")});
  std::string delta = p.waihai.OwnDeltas().front();
  RemoteResult held = p.guzhen.writer().ApplyRemote(delta);
  REQUIRE(held.outcome == RemoteOutcome::kHeldBack);
  REQUIRE(p.guzhen.store().counts().records == 0);
  REQUIRE(std::string(held.status.message()).find("clock guard") != std::string::npos);

  // Another origin is not held up.
  p.guzhen.Register({Person(2, "guzhen")});
  REQUIRE(p.guzhen.store().counts().records == 1);

  p.guzhen.wall().offset_ms = 3'600'000 - 5'000;  // within the 10 s bound now
  REQUIRE(p.guzhen.writer().ApplyRemote(delta).outcome == RemoteOutcome::kApplied);
  REQUIRE(p.guzhen.store().counts().records == 2);
}

TEST_CASE("Writer: a node whose clock jumped back an hour still applies its peers' current "
          "deltas, and still holds back a clock far ahead",
          "[sync]") {
  Pair p;
  p.guzhen.Register({Person(1, "guzhen")});  // guzhen's clock has read the real time
  p.guzhen.wall().offset_ms = -3'600'000;     // then jumps an hour back

  p.waihai.Register({Person(2, "waihai")});
  RemoteResult now = p.guzhen.writer().ApplyRemote(p.waihai.OwnDeltas().back());
  INFO(now.status.message());
  CHECK(now.outcome == RemoteOutcome::kApplied);

  p.waihai.wall().offset_ms = 3'600'000;  // and waihai's an hour forward: still guarded
  p.waihai.Register({Person(3, "waihai")});
  CHECK(p.guzhen.writer().ApplyRemote(p.waihai.OwnDeltas().back()).outcome ==
        RemoteOutcome::kHeldBack);
  CHECK(p.guzhen.store().counts().records == 2);
}

TEST_CASE("Writer: a deregistration by a non-home jurisdiction is quarantined, the rest applies",
          "[sync]") {
  Pair p;
  // Guzhen registers one of its own people; waihai receives it.
  p.guzhen.Register({Person(7, "guzhen")});
  for (std::string& d : p.guzhen.OwnDeltas()) p.waihai.writer().ApplyRemote(d);
  std::string pid = p.guzhen.planner().PidOf(Person(7, "guzhen").id_doc()).value();

  SECTION("refused locally with PERMISSION_DENIED") {
    LocalResult r = p.waihai.Deregister(pid)[0];
    REQUIRE(r.status.code() == absl::StatusCode::kPermissionDenied);
    REQUIRE(std::string(r.status.message()).find("home jurisdiction") != std::string::npos);
  }
  SECTION("a hostile waihai delta is quarantined at guzhen") {
    v1::DeltaBody body;
    body.set_origin("waihai");
    body.set_origin_epoch(p.waihai.store().epoch());
    body.set_seq(1);
    uint64_t hlc = model::HlcPack(static_cast<uint64_t>(p.waihai.wall().NowMs()) + 1000, 1);
    body.set_max_hlc(hlc + 1);
    v1::Event* dereg = body.add_events();
    dereg->set_pid(pid);
    dereg->set_group(v1::STATUS);
    dereg->mutable_stamp()->set_hlc(hlc);
    dereg->mutable_stamp()->set_node("waihai");
    dereg->mutable_value()->set_status("DEREGISTERED");
    v1::Event* phone = body.add_events();
    *phone = *dereg;
    phone->set_group(v1::CONTACT);
    phone->mutable_stamp()->set_hlc(hlc + 1);
    phone->mutable_value()->Clear();
    phone->mutable_value()->set_phone("13700000000");

    RemoteResult r = p.guzhen.writer().ApplyRemote(SignDelta(body, p.waihai.key()));
    REQUIRE(r.outcome == RemoteOutcome::kApplied);
    REQUIRE(r.quarantined == 1);
    REQUIRE(p.guzhen.store().quarantined() == 1);
    auto q = p.guzhen.store().ReadQuarantine(10);
    REQUIRE(q->front().pid == pid);
    REQUIRE(q->front().reason.find("deregister") != std::string::npos);
    auto record = p.guzhen.store().GetRecord(pid);
    REQUIRE(model::IsRegistered(**record));
    REQUIRE(model::GroupOf(**record, v1::CONTACT).value().phone() == "13700000000");

    SECTION("also when the deregistration claims to be a registration") {
      v1::DeltaBody second;
      second.set_origin("waihai");
      second.set_origin_epoch(p.waihai.store().epoch());
      second.set_seq(2);
      second.set_max_hlc(hlc + 10);
      v1::Event* e = second.add_events();
      *e = *dereg;
      e->mutable_stamp()->set_hlc(hlc + 10);
      e->set_registration(true);
      auto state = p.guzhen.store().GetStream({"waihai", p.waihai.store().epoch()});
      second.set_prev_hash((*state)->last_hash);
      RemoteResult r2 = p.guzhen.writer().ApplyRemote(SignDelta(second, p.waihai.key()));
      REQUIRE(r2.outcome == RemoteOutcome::kApplied);
      REQUIRE(r2.quarantined == 1);
      REQUIRE(model::IsRegistered(**p.guzhen.store().GetRecord(pid)));
    }
  }
}

TEST_CASE("Writer: editing a deregistered person is refused, an old edit never revives",
          "[sync]") {
  Pair p;
  p.waihai.Register({Person(1, "waihai")});
  std::string pid = p.waihai.planner().PidOf(Person(1, "waihai").id_doc()).value();
  p.Ship();
  // Guzhen edits the phone; meanwhile waihai deregisters. Both deltas cross.
  REQUIRE(p.guzhen.Set(pid, "phone", "13600000000")[0].status.ok());
  REQUIRE(p.waihai.Deregister(pid)[0].status.ok());
  for (std::string& d : p.guzhen.OwnDeltas()) p.waihai.writer().ApplyRemote(d);
  p.Ship(1);
  REQUIRE_FALSE(model::IsRegistered(**p.waihai.store().GetRecord(pid)));
  REQUIRE(p.guzhen.Dump() == p.waihai.Dump());

  LocalResult r = p.waihai.Set(pid, "phone", "13500000000")[0];
  REQUIRE(r.status.code() == absl::StatusCode::kFailedPrecondition);
  REQUIRE(p.waihai.store().counts().deregistered == 1);
}

TEST_CASE("Writer: the same person registered on both sides at once converges", "[sync]") {
  Pair p;
  v1::PersonFields at_waihai = Person(5, "waihai");
  v1::PersonFields at_guzhen = Person(5, "waihai");
  at_guzhen.set_name("另一个名字");
  REQUIRE(p.waihai.Register({at_waihai})[0].status.ok());
  REQUIRE(p.guzhen.Register({at_guzhen})[0].status.ok());  // guzhen registers waihai's person
  for (std::string& d : p.guzhen.OwnDeltas()) {
    REQUIRE(p.waihai.writer().ApplyRemote(d).outcome == RemoteOutcome::kApplied);
  }
  p.Ship();
  REQUIRE(p.waihai.store().quarantined() == 0);
  REQUIRE(p.guzhen.store().quarantined() == 0);
  REQUIRE(p.guzhen.Dump() == p.waihai.Dump());
  // The later registration (guzhen's) won; the home jurisdiction can still correct it.
  std::string pid = p.waihai.planner().PidOf(at_waihai.id_doc()).value();
  REQUIRE(model::GroupOf(**p.waihai.store().GetRecord(pid), v1::IDENTITY).value().name() ==
          "另一个名字");
  REQUIRE(p.waihai.Set(pid, "name", at_waihai.name())[0].outcome == model::WriteOutcome::kUpdated);
}

TEST_CASE("Writer: concurrent requests share deltas (group commit)", "[sync]") {
  Pair p;
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 25; ++i) p.waihai.Register({Person(t * 100 + i, "waihai")});
    });
  }
  for (auto& t : threads) t.join();
  REQUIRE(p.waihai.store().counts().records == 200);
  uint64_t deltas = p.waihai.writer().stats().local_deltas;
  INFO("deltas=" << deltas);
  REQUIRE(deltas < 200);
  p.Ship();
  REQUIRE(p.guzhen.Dump() == p.waihai.Dump());
}

TEST_CASE("Writer: an identical re-import changes nothing and writes no delta", "[sync]") {
  Pair p;
  std::vector<LocalResult> first = p.waihai.Register({Person(1, "waihai"), Person(2, "waihai")});
  REQUIRE(first[0].outcome == model::WriteOutcome::kCreated);
  std::vector<LocalResult> again = p.waihai.Register({Person(1, "waihai"), Person(2, "waihai")});
  REQUIRE(again[0].outcome == model::WriteOutcome::kUnchanged);
  REQUIRE(again[1].outcome == model::WriteOutcome::kUnchanged);
  REQUIRE(p.waihai.writer().own_seq() == 1);
}

}  // namespace
}  // namespace wlsync::sync

namespace wlsync::sync {
namespace {

LocalResult Erase(testing::TestNode& node, const std::string& pid, std::vector<v1::Group> groups) {
  LocalWrite w;
  w.kind = LocalWrite::Kind::kErase;
  w.pid = pid;
  w.erase = std::move(groups);
  std::vector<LocalWrite> writes;
  writes.push_back(std::move(w));
  return node.writer().WriteLocal(std::move(writes)).front();
}

TEST_CASE("Writer: retention erases by the home only, leaves the tombstone, and replicates",
          "[sync]") {
  model::FederationKey federation = model::FederationKey::Generate();
  model::Grids grids = testing::TestGrids();
  testing::TestNode waihai{"waihai", federation, grids};
  testing::TestNode guzhen{"guzhen", federation, grids};
  waihai.Start();
  guzhen.Start();
  REQUIRE(waihai.Register({testing::Person(1, "waihai")})[0].status.ok());
  std::string pid = waihai.planner().PidOf(testing::Person(1, "waihai").id_doc()).value();
  const std::vector<v1::Group> personal = {v1::IDENTITY, v1::CONTACT, v1::RESIDENCE, v1::WORK,
                                           v1::CATEGORY, v1::LIST,     v1::TEST};

  CHECK(Erase(waihai, pid, {v1::CONTACT}).status.code() == absl::StatusCode::kFailedPrecondition);
  CHECK(Erase(waihai, pid, {v1::STATUS}).status.code() == absl::StatusCode::kInvalidArgument);
  LocalResult tests = Erase(waihai, pid, {v1::TEST});
  REQUIRE(tests.status.ok());
  CHECK(tests.outcome == model::WriteOutcome::kUpdated);
  CHECK(Erase(waihai, pid, {v1::TEST}).outcome == model::WriteOutcome::kUnchanged);

  REQUIRE(waihai.Deregister(pid)[0].status.ok());
  REQUIRE(Erase(waihai, pid, personal).status.ok());
  v1::Record r = waihai.store().GetRecord(pid).value().value();
  v1::PersonFields flat = model::Flatten(r);
  CHECK(flat.id_doc().empty());
  CHECK(flat.name().empty());
  CHECK(flat.phone().empty());
  CHECK(flat.residence_address().empty());
  CHECK(flat.home() == "waihai");
  CHECK(flat.status() == "DEREGISTERED");

  // The other node applies the same erasure and holds byte-identical records; it may not
  // erase a person whose home is elsewhere itself.
  guzhen.Trust(waihai);
  for (std::string& d : waihai.OwnDeltas()) {
    REQUIRE(guzhen.writer().ApplyRemote(d).outcome == RemoteOutcome::kApplied);
  }
  CHECK(guzhen.Dump() == waihai.Dump());
  CHECK(Erase(guzhen, pid, personal).status.code() == absl::StatusCode::kPermissionDenied);
}

}  // namespace
}  // namespace wlsync::sync

namespace wlsync::sync {
namespace {

LocalResult Purge(testing::TestNode& node, const std::string& pid) {
  LocalWrite w;
  w.kind = LocalWrite::Kind::kPurge;
  w.pid = pid;
  std::vector<LocalWrite> writes;
  writes.push_back(std::move(w));
  return node.writer().WriteLocal(std::move(writes)).front();
}

TEST_CASE("Writer: a purged tombstone is deleted on every node, equally, and older events never "
          "bring the person back",
          "[sync][retention]") {
  testing::Pair p;
  testing::TestNode& waihai = p.waihai;
  testing::TestNode& guzhen = p.guzhen;
  REQUIRE(waihai.Register({testing::Person(1, "waihai"), testing::Person(2, "waihai")})[0]
              .status.ok());
  std::string pid = waihai.planner().PidOf(testing::Person(1, "waihai").id_doc()).value();
  const std::vector<v1::Group> personal = {v1::IDENTITY, v1::CONTACT, v1::RESIDENCE, v1::WORK,
                                           v1::CATEGORY, v1::LIST,     v1::TEST};

  // Only an erased, deregistered person of this jurisdiction.
  CHECK(Purge(waihai, pid).status.code() == absl::StatusCode::kFailedPrecondition);
  REQUIRE(waihai.Deregister(pid)[0].status.ok());
  CHECK(Purge(waihai, pid).status.code() == absl::StatusCode::kFailedPrecondition);
  REQUIRE(Erase(waihai, pid, personal).status.ok());
  std::vector<std::string> before_purge = waihai.OwnDeltas();
  for (const std::string& d : before_purge) {
    REQUIRE(guzhen.writer().ApplyRemote(d).outcome == RemoteOutcome::kApplied);
  }
  CHECK(Purge(guzhen, pid).status.code() == absl::StatusCode::kPermissionDenied);
  const int64_t records = waihai.store().counts().records;
  const int64_t deregistered = waihai.store().counts().deregistered;

  LocalResult purged = Purge(waihai, pid);
  REQUIRE(purged.status.ok());
  CHECK(!waihai.store().GetRecord(pid).value().has_value());
  CHECK(waihai.store().counts().records == records - 1);
  CHECK(waihai.store().counts().deregistered == deregistered - 1);
  for (const std::string& d : waihai.OwnDeltas(before_purge.size())) {
    REQUIRE(guzhen.writer().ApplyRemote(d).outcome == RemoteOutcome::kApplied);
  }
  CHECK(!guzhen.store().GetRecord(pid).value().has_value());
  CHECK(guzhen.Dump() == waihai.Dump());
  CHECK(guzhen.store().DigestNode("").digest == waihai.store().DigestNode("").digest);
  CHECK(guzhen.store().DigestNode("").count == 1);

  // A repair from the registration delta (as reconciliation would make) revives nothing.
  RepairResult repair = guzhen.writer().Repair({{before_purge.front(), {pid}}});
  CHECK(repair.status.ok());
  CHECK(repair.repaired.empty());
  CHECK(!guzhen.store().GetRecord(pid).value().has_value());
  // Registering the person again, with a new stamp, works as for anyone new.
  REQUIRE(waihai.Register({testing::Person(1, "waihai")})[0].status.ok());
  CHECK(waihai.store().GetRecord(pid).value().has_value());
}

TEST_CASE("Writer: a purge sent by a jurisdiction that is not the home is quarantined",
          "[sync][retention]") {
  testing::Pair p;
  testing::TestNode& waihai = p.waihai;
  testing::TestNode& guzhen = p.guzhen;
  REQUIRE(waihai.Register({testing::Person(1, "waihai")})[0].status.ok());
  std::string pid = waihai.planner().PidOf(testing::Person(1, "waihai").id_doc()).value();
  for (const std::string& d : waihai.OwnDeltas()) guzhen.writer().ApplyRemote(d);

  // guzhen forges a purge of waihai's person in its own stream.
  v1::DeltaBody body;
  body.set_origin("guzhen");
  body.set_origin_epoch(guzhen.writer().own_stream().epoch);
  body.set_seq(1);
  uint64_t hlc = model::HlcPack(static_cast<uint64_t>(guzhen.wall().now_ms), 7);
  body.set_max_hlc(hlc);
  v1::Event* e = body.add_events();
  e->set_pid(pid);
  e->set_group(v1::STATUS);
  e->mutable_stamp()->set_hlc(hlc);
  e->mutable_stamp()->set_node("guzhen");
  e->set_purge(true);
  RemoteResult r = waihai.writer().ApplyRemote(testing::SignDelta(body, guzhen.key()));
  CHECK(r.outcome == RemoteOutcome::kApplied);
  CHECK(r.quarantined == 1);
  CHECK(waihai.store().GetRecord(pid).value().has_value());
}

}  // namespace
}  // namespace wlsync::sync

namespace wlsync::sync {
namespace {

TEST_CASE("Writer: a repair batch merges the wanted pids of every delta that verifies, and "
          "names the pids of one that does not",
          "[sync]") {
  Pair p;
  std::vector<std::string> pids;
  for (int n = 1; n <= 3; ++n) {  // one delta each, never shipped to guzhen
    REQUIRE(p.waihai.Register({Person(n, "waihai"), Person(n + 10, "waihai")})[0].status.ok());
    pids.push_back(p.waihai.planner().PidOf(Person(n, "waihai").id_doc()).value());
  }
  std::vector<std::string> deltas = p.waihai.OwnDeltas();
  REQUIRE(deltas.size() == 3);
  v1::SignedDelta forged;
  REQUIRE(forged.ParseFromString(deltas[1]));
  forged.mutable_signature()->back() ^= 1;

  RepairResult r = p.guzhen.writer().Repair(
      {{deltas[0], {pids[0]}}, {forged.SerializeAsString(), {pids[1]}}, {deltas[2], {pids[2]}}});
  REQUIRE(r.status.ok());
  CHECK(r.deltas == 2);
  std::sort(r.repaired.begin(), r.repaired.end());
  std::vector<std::string> want = {pids[0], pids[2]};
  std::sort(want.begin(), want.end());
  CHECK(r.repaired == want);  // only the pids asked for: not persons 11-13
  REQUIRE(r.refused.size() == 1);
  CHECK(r.refused[0].first == pids[1]);
  CHECK(r.refused[0].second.find("signature") != std::string::npos);
  for (const std::string& pid : want) {
    CHECK(p.guzhen.store().GetRecord(pid).value()->SerializeAsString() ==
          p.waihai.store().GetRecord(pid).value()->SerializeAsString());
  }
  CHECK(!p.guzhen.store().GetRecord(pids[1]).value().has_value());
  CHECK(p.guzhen.store().counts().records == 2);
}

TEST_CASE(
    "Writer: a repair holds back a delta from a clock far ahead, and moves the clock up to "
    "the deltas it merges so a later local edit wins",
    "[sync]") {
  Pair p;
  p.waihai.wall().offset_ms = 5'000;  // ahead, but within the 10 s guard
  REQUIRE(p.waihai.Register({Person(1, "waihai")})[0].status.ok());
  std::string pid = p.waihai.planner().PidOf(Person(1, "waihai").id_doc()).value();

  RepairResult r = p.guzhen.writer().Repair({{p.waihai.OwnDeltas().front(), {pid}}});
  REQUIRE(r.status.ok());
  REQUIRE(r.repaired == std::vector<std::string>{pid});
  // guzhen's clock reads 5 s earlier than waihai's stamps: its edit must still come after.
  REQUIRE(p.guzhen.Set(pid, "phone", "13600000000")[0].status.ok());
  CHECK(model::GroupOf(**p.guzhen.store().GetRecord(pid), v1::CONTACT).value().phone() ==
        "13600000000");

  p.waihai.wall().offset_ms = 3'600'000;  // an hour ahead: held back, like an applied delta
  REQUIRE(p.waihai.Register({Person(2, "waihai")})[0].status.ok());
  std::string later = p.waihai.planner().PidOf(Person(2, "waihai").id_doc()).value();
  r = p.guzhen.writer().Repair({{p.waihai.OwnDeltas().back(), {later}}});
  REQUIRE(r.status.ok());
  CHECK(r.repaired.empty());
  REQUIRE(r.refused.size() == 1);
  CHECK(r.refused[0].first == later);
  CHECK(r.refused[0].second.find("clock guard") != std::string::npos);
  CHECK(!p.guzhen.store().GetRecord(later).value().has_value());
}

}  // namespace
}  // namespace wlsync::sync
