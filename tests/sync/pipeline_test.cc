// The writer plans the next delta while the one before it is committed: the next one must
// read the people the one in flight changes as they will be stored, a purge must still be
// read from the store, and a failed commit must take down the deltas planned on it and
// nothing after them. (End to end: the full-disk test in tests/faults/disk_test.cc.)
#include <catch2/catch.hpp>

#include <cstdio>
#include <filesystem>
#include <future>
#include <thread>

#include "model/merge.h"
#include "tests/support/small_disk.h"
#include "tests/sync/fixture.h"

namespace wlsync::sync {
namespace {

using testing::Pair;
using testing::Person;

LocalWrite Write(LocalWrite::Kind kind, const std::string& pid) {
  LocalWrite w;
  w.kind = kind;
  w.pid = pid;
  return w;
}

LocalWrite Edit(const std::string& pid, const std::string& field, const std::string& value) {
  LocalWrite w = Write(LocalWrite::Kind::kUpdate, pid);
  w.edits.push_back({field, value});
  return w;
}

std::string Phone(int n) {
  char phone[16];
  std::snprintf(phone, sizeof phone, "139%08d", n);
  return phone;
}

TEST_CASE("Writer: a delta planned while the one before it commits reads that one's records",
          "[sync]") {
  Pair p;
  testing::TestNode& waihai = p.waihai;
  // Two writes a delta and every write queued at once: each delta is planned while the one
  // before it, which changes the same people, is being committed.
  waihai.writer_options.max_delta_events = 2 * model::kGroupCount;
  waihai.Restart();
  std::vector<std::string> pids;
  for (int n = 0; n < 3; ++n) {
    pids.push_back(waihai.planner().PidOf(Person(n, "waihai").id_doc()).value());
  }
  for (const LocalResult& r :
       waihai.Register({Person(0, "waihai"), Person(1, "waihai"), Person(2, "waihai")})) {
    REQUIRE(r.status.ok());
  }
  const uint64_t deltas_before = waihai.writer().stats().local_deltas;

  struct Expected {
    absl::StatusCode code;
    model::WriteOutcome outcome;
  };
  std::vector<std::future<std::vector<LocalResult>>> futures;
  std::vector<Expected> expected;
  auto submit = [&](LocalWrite w, absl::StatusCode code,
                    model::WriteOutcome outcome = model::WriteOutcome::kUpdated) {
    std::vector<LocalWrite> writes;
    writes.push_back(std::move(w));
    futures.push_back(waihai.writer().SubmitLocal(std::move(writes)));
    expected.push_back({code, outcome});
  };
  auto registration = [&](int n) {
    v1::PersonFields person = Person(n, "waihai");
    LocalWrite w = Write(LocalWrite::Kind::kUpsert, waihai.planner().PrepareUpsert(&person).value());
    w.fields = person;
    return w;
  };

  // People 0 and 1: 200 phone changes, taking turns; a new person every tenth write.
  std::string last_phone[2];
  for (int i = 0; i < 200; ++i) {
    last_phone[i % 2] = Phone(i);
    submit(Edit(pids[i % 2], "phone", Phone(i)), absl::StatusCode::kOk);
    if (i % 10 == 9) {
      submit(registration(100 + i), absl::StatusCode::kOk, model::WriteOutcome::kCreated);
    }
  }
  // The same person again, unchanged: judged against the delta still in flight.
  submit(Edit(pids[1], "phone", last_phone[1]), absl::StatusCode::kOk,
         model::WriteOutcome::kUnchanged);
  // Person 2 leaves, is erased and purged, and comes back.
  const std::vector<v1::Group> personal = {v1::IDENTITY, v1::CONTACT, v1::RESIDENCE, v1::WORK,
                                           v1::CATEGORY, v1::LIST,     v1::TEST};
  submit(Write(LocalWrite::Kind::kDeregister, pids[2]), absl::StatusCode::kOk);
  submit(Edit(pids[2], "phone", Phone(900)), absl::StatusCode::kFailedPrecondition);
  LocalWrite erase = Write(LocalWrite::Kind::kErase, pids[2]);
  erase.erase = personal;
  submit(std::move(erase), absl::StatusCode::kOk);
  submit(Write(LocalWrite::Kind::kPurge, pids[2]), absl::StatusCode::kOk);
  submit(Edit(pids[2], "phone", Phone(901)), absl::StatusCode::kNotFound);
  submit(registration(2), absl::StatusCode::kOk, model::WriteOutcome::kCreated);
  submit(Edit(pids[2], "phone", Phone(902)), absl::StatusCode::kOk);

  for (size_t i = 0; i < futures.size(); ++i) {
    std::vector<LocalResult> r = futures[i].get();
    INFO("write " << i << ": " << (r.empty() ? "no result" : r[0].status.ToString()));
    REQUIRE(r.size() == 1);
    CHECK(r[0].status.code() == expected[i].code);
    if (r[0].status.ok()) CHECK(r[0].outcome == expected[i].outcome);
  }
  auto phone_of = [&](testing::TestNode& node, const std::string& pid) {
    return model::GroupOf(*node.store().GetRecord(pid).value(), v1::CONTACT).value().phone();
  };
  CHECK(phone_of(waihai, pids[0]) == last_phone[0]);
  CHECK(phone_of(waihai, pids[1]) == last_phone[1]);
  CHECK(phone_of(waihai, pids[2]) == Phone(902));
  CHECK(waihai.store().counts().records == 3 + 20);
  CHECK(waihai.store().counts().registered_white == 3 + 20);
  CHECK(waihai.writer().stats().local_deltas - deltas_before > 100);

  // guzhen applies the same deltas one at a time, nothing in flight: the same records,
  // counts and digests. So does waihai after a restart, from what it stored.
  for (RemoteOutcome outcome : p.Ship()) CHECK(outcome == RemoteOutcome::kApplied);
  CHECK(p.guzhen.Dump() == waihai.Dump());
  CHECK(p.guzhen.store().counts().records == waihai.store().counts().records);
  CHECK(p.guzhen.store().DigestNode("").digest == waihai.store().DigestNode("").digest);
  std::vector<std::string> before_restart = waihai.Dump();
  waihai.Restart();
  CHECK(waihai.Dump() == before_restart);
  CHECK(waihai.store().counts().records == 3 + 20);
  CHECK(waihai.store().DigestNode("").digest == p.guzhen.store().DigestNode("").digest);
}

TEST_CASE(
    "Writer: a failed commit refuses only what was planned on it, and once the store takes "
    "writes again the own stream goes on from the last committed delta",
    "[sync][faults]") {
  wlsync::testing::TempDir dir("sync-full-disk");
  wlsync::testing::SmallDisk disk(dir.path(), 64);
  REQUIRE(disk.mounted());  // needs CAP_SYS_ADMIN, as root here and in CI
  model::FederationKey federation = model::FederationKey::Generate();
  model::Grids grids = testing::TestGrids();
  testing::TestNode waihai{"waihai", federation, grids, dir / "db"};
  testing::TestNode guzhen{"guzhen", federation, grids};
  waihai.Trust(guzhen);
  guzhen.Trust(waihai);
  waihai.Start();
  guzhen.Start();
  for (const LocalResult& r : waihai.Register({Person(0, "waihai"), Person(1, "waihai")})) {
    REQUIRE(r.status.ok());
  }

  // The disk fills up. RocksDB preallocates its log, so the first writes still fit: queue
  // more than the preallocated log holds, all at once, so that deltas are in flight when
  // the first commit fails.
  REQUIRE(disk.Fill("filler") > 0);
  std::vector<std::string> pids;
  std::vector<std::future<std::vector<LocalResult>>> futures;
  for (int n = 100; n < 30100; ++n) {
    v1::PersonFields person = Person(n, "waihai");
    LocalWrite w;
    w.kind = LocalWrite::Kind::kUpsert;
    w.pid = waihai.planner().PrepareUpsert(&person).value();
    w.fields = person;
    pids.push_back(w.pid);
    std::vector<LocalWrite> writes;
    writes.push_back(std::move(w));
    futures.push_back(waihai.writer().SubmitLocal(std::move(writes)));
  }
  size_t acknowledged = 0, refused = 0;
  for (size_t i = 0; i < futures.size(); ++i) {
    LocalResult r = futures[i].get().at(0);
    // Acknowledged means stored; refused means not stored at all.
    bool stored = waihai.store().GetRecord(pids[i]).value().has_value();
    if (r.status.ok()) {
      ++acknowledged;
      CHECK(stored);
    } else {
      ++refused;
      CHECK(!stored);
      CHECK(r.status.message().find("No space left on device") != std::string_view::npos);
    }
  }
  INFO("acknowledged=" << acknowledged << " refused=" << refused);
  REQUIRE(refused > 0);
  CHECK(waihai.store().counts().records == static_cast<int64_t>(2 + acknowledged));

  // Space is freed; nothing else happened meanwhile. The next write must not fall with the
  // old failure, and must follow the last committed delta of the stream.
  std::filesystem::remove(dir / "filler");
  // RocksDB may be recovering by itself at first; the node retries the same way.
  absl::Status recovered;
  for (int i = 0; i < 100 && !(recovered = waihai.store().TryRecover()).ok(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  INFO(recovered.ToString());
  REQUIRE(recovered.ok());
  std::vector<LocalResult> after = waihai.Register({Person(1, "waihai"), Person(99, "waihai")});
  REQUIRE(after.size() == 2);
  CHECK(after[0].status.ok());
  CHECK(after[1].status.ok());
  for (const std::string& d : waihai.OwnDeltas()) {
    RemoteResult r = guzhen.writer().ApplyRemote(d);
    INFO(r.status.ToString());
    CHECK(r.outcome == RemoteOutcome::kApplied);
  }
  CHECK(guzhen.Dump() == waihai.Dump());
  CHECK(guzhen.store().counts().records == static_cast<int64_t>(3 + acknowledged));
}

}  // namespace
}  // namespace wlsync::sync
