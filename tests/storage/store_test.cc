#include "storage/store.h"

#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <csignal>
#include <random>
#include <set>
#include <thread>

#include "model/hlc.h"
#include "model/merge.h"
#include "storage/index.h"
#include "storage/keys.h"
#include "storage/sealing.h"
#include "tests/support/cluster.h"

namespace wlsync::storage {
namespace {

using testing::TempDir;

std::string Pid(int i) {
  std::string pid = "p" + std::to_string(i);
  pid.resize(26, 'a');
  return pid;
}

// A delta of `n` records, each carrying `seq` in its phone so that a reader can tell which
// delta wrote it.
CommitBatch MakeBatch(const StreamId& stream, uint64_t seq, int n, uint64_t hlc) {
  CommitBatch b;
  b.stream = stream;
  b.seq = seq;
  b.body_hash = std::string(32, static_cast<char>(seq));
  b.signed_delta = "delta-" + std::to_string(seq);
  b.max_hlc = hlc;
  b.hlc_high_water = hlc;
  b.event_count = static_cast<uint64_t>(n);
  for (int i = 0; i < n; ++i) {
    v1::Record r = model::EmptyRecord(Pid(i));
    v1::GroupState* contact = r.mutable_groups(v1::CONTACT - 1);
    contact->mutable_stamp()->set_hlc(hlc);
    contact->mutable_value()->set_phone(std::to_string(seq));
    b.records.push_back(r);
  }
  return b;
}

TEST_CASE("Store: every open starts a new epoch", "[storage]") {
  TempDir dir("store");
  std::string epoch;
  {
    auto store = Store::Open(dir / "db", StoreOptions{});
    REQUIRE(store.ok());
    REQUIRE((*store)->created_new());
    epoch = (*store)->epoch();
    REQUIRE(epoch.size() == 16);
  }
  auto again = Store::Open(dir / "db", StoreOptions{});
  REQUIRE(again.ok());
  REQUIRE_FALSE((*again)->created_new());
  REQUIRE((*again)->epoch().size() == 16);
  REQUIRE((*again)->epoch() != epoch);

  TempDir other("store");
  auto fresh = Store::Open(other / "db", StoreOptions{});
  REQUIRE((*fresh)->epoch() != epoch);
}

TEST_CASE("Store: a commit stores records and index keys given in any order, the last value "
          "of a pid winning", "[storage]") {
  TempDir dir("store");
  auto store = Store::Open(dir / "db", StoreOptions{});
  REQUIRE(store.ok());
  Store& s = **store;
  StreamId stream{"waihai", std::string(16, 'e')};
  // Records in descending pid order, then pid 3 again by reference with another phone.
  CommitBatch b = MakeBatch(stream, 1, 0, 1 << 20);
  for (int i = 9; i >= 0; --i) {
    v1::Record r = model::EmptyRecord(Pid(i));
    r.mutable_groups(v1::CONTACT - 1)->mutable_value()->set_phone("first");
    b.records.push_back(r);
  }
  v1::Record again = model::EmptyRecord(Pid(3));
  again.mutable_groups(v1::CONTACT - 1)->mutable_value()->set_phone("second");
  b.record_refs.push_back(&again);
  std::vector<std::string> keys;
  for (int i = 19; i >= 0; --i) keys.push_back("zorder/" + std::to_string(100 + i * 7 % 20));
  b.index_puts = keys;
  REQUIRE(s.Commit(b).ok());

  for (int i = 0; i < 10; ++i) {
    auto r = s.GetRecord(Pid(i));
    REQUIRE(r.ok());
    REQUIRE(r->has_value());
    CHECK((*r)->groups(v1::CONTACT - 1).value().phone() == (i == 3 ? "second" : "first"));
  }
  std::vector<std::string> stored;
  REQUIRE(s.Scan(Table::kIndex, "zorder/", "", [&](std::string_view key, std::string_view) {
             stored.emplace_back(key);
             return true;
           }).ok());
  std::sort(keys.begin(), keys.end());
  keys.erase(std::unique(keys.begin(), keys.end()), keys.end());
  CHECK(stored == keys);
}

TEST_CASE("Store: a data dir held by another node is refused with a clear error", "[storage]") {
  TempDir dir("store");
  auto first = Store::Open(dir / "db", StoreOptions{});
  REQUIRE(first.ok());
  auto second = Store::Open(dir / "db", StoreOptions{});
  REQUIRE_FALSE(second.ok());
  REQUIRE(second.status().code() == absl::StatusCode::kFailedPrecondition);
  REQUIRE(std::string(second.status().message()).find("in use by another running node") !=
          std::string::npos);
}

TEST_CASE("Store: a restart keeps records, log, cursors and counts, and the HLC moves on",
          "[storage]") {
  TempDir dir("store");
  StreamId stream{"waihai", std::string(16, 'e')};
  uint64_t hlc = model::HlcPack(1'900'000'000'000, 5);  // ahead of any wall clock here
  {
    auto store = Store::Open(dir / "db", StoreOptions{});
    CommitBatch b = MakeBatch(stream, 1, 3, hlc);
    b.counts_delta.records = 3;
    b.counts_delta.registered_white = 3;
    b.quarantine.push_back({stream, 1, 0, Pid(9), "ownership: test", 42});
    REQUIRE((*store)->Commit(b).ok());
  }
  auto store = Store::Open(dir / "db", StoreOptions{});
  REQUIRE(store.ok());
  Store& s = **store;
  REQUIRE(s.counts().records == 3);
  REQUIRE(s.counts().registered_white == 3);
  REQUIRE(s.quarantined() == 1);
  REQUIRE(s.hlc_high_water() == hlc);

  auto state = s.GetStream(stream);
  REQUIRE(state.ok());
  REQUIRE(state->has_value());
  REQUIRE((*state)->seq == 1);
  REQUIRE((*state)->events == 3);
  auto log = s.ReadLog(stream, 0, 10);
  REQUIRE(log.ok());
  REQUIRE(log->size() == 1);
  REQUIRE(log->front().second == "delta-1");
  auto record = s.GetRecord(Pid(2));
  REQUIRE(record.ok());
  REQUIRE(model::GroupOf(**record, v1::CONTACT).value().phone() == "1");
  auto quarantine = s.ReadQuarantine(10);
  REQUIRE(quarantine->size() == 1);
  REQUIRE(quarantine->front().reason == "ownership: test");

  model::SystemWallClock wall;
  model::HybridClock clock(wall, s.hlc_high_water());
  REQUIRE(clock.Tick() > hlc);
}

TEST_CASE("Store: the log reads back in seq order, per stream", "[storage]") {
  TempDir dir("store");
  auto store = Store::Open(dir / "db", StoreOptions{});
  StreamId a{"waihai", std::string(16, 'a')};
  StreamId b{"waihai", std::string(16, 'b')};
  for (uint64_t seq = 1; seq <= 300; ++seq) {
    REQUIRE((*store)->Commit(MakeBatch(seq % 2 ? a : b, (seq + 1) / 2, 1, seq)).ok());
  }
  auto first = (*store)->ReadLog(a, 0, 1000);
  REQUIRE(first->size() == 150);
  for (size_t i = 0; i < first->size(); ++i) REQUIRE((*first)[i].first == i + 1);
  auto tail = (*store)->ReadLog(b, 140, 5);
  REQUIRE(tail->size() == 5);
  REQUIRE(tail->front().first == 141);
  auto streams = (*store)->Streams();
  REQUIRE(streams->size() == 2);
}

// A child process commits deltas as fast as it can and is killed at a random moment after
// its first commit; the reopened store must hold, for every delta up to its cursor, the log
// entry and exactly the records that delta wrote, and nothing of any later delta.
TEST_CASE("Store: an applied delta is all-or-nothing across kill -9", "[storage][slow]") {
  std::mt19937 rng(std::random_device{}());
  for (int round = 0; round < 5; ++round) {
    TempDir dir("store-kill");
    StreamId stream{"waihai", std::string(16, 'k')};
    int ready[2];
    REQUIRE(pipe(ready) == 0);
    pid_t child = fork();
    REQUIRE(child >= 0);
    if (child == 0) {
      close(ready[0]);
      auto store = Store::Open(dir / "db", StoreOptions{});
      if (!store.ok()) _exit(3);
      for (uint64_t seq = 1;; ++seq) {
        if (!(*store)->Commit(MakeBatch(stream, seq, 200, seq)).ok()) _exit(4);
        if (seq == 1 && write(ready[1], "r", 1) != 1) _exit(5);
      }
    }
    // The kill lands at a random moment after the first commit, however slow the open.
    close(ready[1]);
    char byte = 0;
    REQUIRE(read(ready[0], &byte, 1) == 1);
    close(ready[0]);
    std::this_thread::sleep_for(std::chrono::milliseconds(rng() % 600));
    kill(child, SIGKILL);
    int status = 0;
    waitpid(child, &status, 0);
    REQUIRE(WIFSIGNALED(status));

    auto store = Store::Open(dir / "db", StoreOptions{});
    REQUIRE(store.ok());
    auto state = (*store)->GetStream(stream);
    REQUIRE(state.ok());
    REQUIRE(state->has_value());
    uint64_t last = (*state)->seq;
    REQUIRE(last > 0);
    auto log = (*store)->ReadLog(stream, 0, 1 << 20);
    REQUIRE(log->size() == last);
    for (int i = 0; i < 200; ++i) {
      auto r = (*store)->GetRecord(Pid(i));
      REQUIRE(r.ok());
      REQUIRE(r->has_value());
      REQUIRE(model::GroupOf(**r, v1::CONTACT).value().phone() == std::to_string(last));
    }
  }
}

}  // namespace
}  // namespace wlsync::storage

namespace wlsync::storage {
namespace {

// Every index entry of the store, and what its records call for.
std::pair<std::set<std::string>, std::set<std::string>> IndexAndExpected(const Store& s) {
  std::set<std::string> actual, expected;
  REQUIRE(s.Scan(Table::kIndex, "", "", [&](std::string_view k, std::string_view) {
    actual.insert(std::string(k));
    return true;
  }).ok());
  auto c = s.ScanRecords();
  for (; c->Valid(); c->Next()) {
    for (auto& k : s.indexer().Keys(c->record().value())) expected.insert(k);
  }
  return {actual, expected};
}

TEST_CASE("Store: indexes are rebuilt when the index key changes, and kept otherwise",
          "[storage]") {
  TempDir dir("index-rebuild");
  const std::string stale = "lGREY" + std::string(1, '\0') + Pid(0);
  StoreOptions a;
  a.index_tag_key = std::string(32, 'a');
  {
    auto s = Store::Open(dir.path(), a);
    REQUIRE(s.ok());
    CommitBatch b = MakeBatch(StreamId{"waihai", std::string(16, 'e')}, 1, 5, 1 << 20);
    for (v1::Record& r : b.records) {
      v1::GroupState* status = r.mutable_groups(v1::STATUS - 1);
      status->mutable_stamp()->set_hlc(1 << 20);
      status->mutable_value()->set_status("REGISTERED");
      for (auto& k : (*s)->indexer().Keys(r)) b.index_puts.push_back(k);
    }
    // A key of the first layout (list, category and status had a key each) is left over.
    b.index_puts.push_back(stale);
    REQUIRE((*s)->Commit(b).ok());
    auto [actual, expected] = IndexAndExpected(**s);
    REQUIRE(actual.erase(stale) == 1);
    REQUIRE(actual.size() == 5 * 3);  // phone, membership, updated
    REQUIRE(actual == expected);
  }
  StoreOptions other;
  other.index_tag_key = std::string(32, 'b');
  auto s = Store::Open(dir.path(), other);
  REQUIRE(s.ok());
  auto [actual, expected] = IndexAndExpected(**s);
  REQUIRE(actual == expected);
  REQUIRE(actual.size() == 15);
  // Phone terms changed with the key: none of the old ones is left.
  Indexer old_indexer(a.index_tag_key);
  const std::string old_phone = Indexer::TermPrefix(IndexKind::kPhone, old_indexer.PhoneTerm("1"));
  REQUIRE(std::none_of(actual.begin(), actual.end(),
                       [&](const std::string& k) { return k.starts_with(old_phone); }));
  REQUIRE_FALSE(actual.contains(stale));
}

}  // namespace
}  // namespace wlsync::storage

namespace wlsync::storage {
namespace {

TEST_CASE("Indexer: membership values holding the separator stay apart and parse back",
          "[storage]") {
  REQUIRE(Indexer::MembershipTerm("REGISTERED", "GREY", "COMMUTER") ==
          std::string("REGISTERED\0GREY\0COMMUTER", 24));
  std::string a = Indexer::MembershipTerm("REGISTERED", std::string("A\0B", 3), "C");
  std::string b = Indexer::MembershipTerm("REGISTERED", "A", std::string("B\0C", 3));
  REQUIRE(a != b);
  REQUIRE(Indexer::MembershipTerm("", "\x01", "") == std::string("\0\x01\x02\0", 4));
  const std::string stamp(kIndexStampLength, '\0');  // a stamp's bytes may be '\0' too
  const std::string empty =
      Indexer::TermPrefix(IndexKind::kMembership, std::string(2, '\0')) + stamp + Pid(0);
  std::optional<Indexer::Membership> none = Indexer::ParseMembership(empty);
  REQUIRE(none.has_value());
  REQUIRE((none->status.empty() && none->list.empty() && none->category.empty()));

  // The views point into the key.
  const std::string key_a = Indexer::TermPrefix(IndexKind::kMembership, a) + stamp + Pid(0);
  const std::string key_b = Indexer::TermPrefix(IndexKind::kMembership, b) + stamp + Pid(0);
  std::optional<Indexer::Membership> m = Indexer::ParseMembership(key_a);
  REQUIRE(m.has_value());
  REQUIRE(m->status == "REGISTERED");
  REQUIRE(m->list == std::string("A\x01\x01" "B"));
  REQUIRE(m->category == "C");
  m = Indexer::ParseMembership(key_b);
  REQUIRE(m.has_value());
  REQUIRE(m->list == "A");
  REQUIRE(m->category == std::string("B\x01\x01" "C"));

  REQUIRE_FALSE(Indexer::ParseMembership(
      Indexer::TermPrefix(IndexKind::kResidenceGrid, "WH-MAYI-01") + stamp + Pid(0)));
  const std::string one_value = Indexer::TermPrefix(IndexKind::kMembership, "x") + stamp + Pid(0);
  REQUIRE_FALSE(Indexer::ParseMembership(one_value));
  // A key of the layout before the stamp does not parse as one of this layout's.
  REQUIRE_FALSE(Indexer::ParseMembership(Indexer::TermPrefix(IndexKind::kMembership, a) + Pid(0)));
  REQUIRE_FALSE(Indexer::ParseMembership("m"));
}

TEST_CASE("Indexer: a term's keys are in stamp order, with a memtable hint per term", "[storage]") {
  Indexer indexer("");
  // Two people in one grid: the later residence stamp sorts after, whatever the pids.
  auto person = [](const std::string& pid, uint64_t residence_hlc) {
    v1::Record r = model::EmptyRecord(pid);
    auto set = [&](v1::Group g, uint64_t hlc, auto fill) {
      v1::GroupState* state = r.mutable_groups(g - 1);
      state->mutable_stamp()->set_hlc(hlc);
      fill(state->mutable_value());
    };
    set(v1::STATUS, 10, [](v1::PersonFields* v) { v->set_status("REGISTERED"); });
    set(v1::LIST, 30, [](v1::PersonFields* v) { v->set_list("WHITE"); });
    set(v1::CATEGORY, 20, [](v1::PersonFields* v) { v->set_category("COMMUTER"); });
    set(v1::CONTACT, 40, [](v1::PersonFields* v) { v->set_phone("13800000000"); });
    set(v1::RESIDENCE, residence_hlc, [](v1::PersonFields* v) { v->set_residence_grid("WH-1"); });
    return r;
  };
  auto key_of = [&](const v1::Record& r, IndexKind kind) {
    for (const std::string& k : indexer.Keys(r)) {
      if (k[0] == static_cast<char>(kind)) return k;
    }
    FAIL("no key of kind " << static_cast<char>(kind));
    return std::string();
  };
  const v1::Record early = person(Pid(9), 100);
  const v1::Record late = person(Pid(1), 200);
  REQUIRE(Pid(1) < Pid(9));
  const std::string early_grid = key_of(early, IndexKind::kResidenceGrid);
  const std::string late_grid = key_of(late, IndexKind::kResidenceGrid);
  REQUIRE(early_grid < late_grid);
  std::string stamp;
  keys::PutFixed64(&stamp, 100);
  REQUIRE(early_grid == Indexer::TermPrefix(IndexKind::kResidenceGrid, "WH-1") + stamp + Pid(9));
  REQUIRE(Indexer::PidOf(late_grid) == Pid(1));

  // Membership takes the highest of its three groups' stamps (the list's, 30).
  std::string membership_stamp;
  keys::PutFixed64(&membership_stamp, 30);
  REQUIRE(key_of(early, IndexKind::kMembership) ==
          Indexer::TermPrefix(IndexKind::kMembership,
                              Indexer::MembershipTerm("REGISTERED", "WHITE", "COMMUTER")) +
              membership_stamp + Pid(9));

  // Hints: one per term for grids, one per kind for phones and the updated index, none
  // for the empty key (where the index rebuild's DeleteRange starts).
  REQUIRE(Indexer::HintPrefixOf(early_grid) ==
          Indexer::TermPrefix(IndexKind::kResidenceGrid, "WH-1"));
  REQUIRE(Indexer::HintPrefixOf(key_of(early, IndexKind::kPhone)) == "p");
  REQUIRE(Indexer::HintPrefixOf(key_of(early, IndexKind::kUpdated)) == "u");
  REQUIRE(Indexer::HintPrefixOf("r") == "r");
  REQUIRE(Indexer::HintPrefixOf("").empty());
}

TEST_CASE("Sealer: values open with their key only, and damage is found", "[storage]") {
  Sealer sealer(std::string(32, 'k'));
  std::string buffer;
  std::string sealed = sealer.Seal("phone 13812341234");
  REQUIRE(sealed.find("13812341234") == std::string::npos);
  REQUIRE(sealer.Seal("phone 13812341234") != sealed);  // a fresh nonce each time
  REQUIRE(*sealer.Open(sealed, &buffer) == "phone 13812341234");

  SECTION("nonces never repeat, within a sealer or across two with one key") {
    Sealer twin(std::string(32, 'k'));
    std::set<std::string> nonces;
    std::string reused;
    for (int i = 0; i < 1000; ++i) {
      (i % 2 == 0 ? sealer : twin).SealTo(i % 3 == 0 ? "a longer plaintext" : "short", &reused);
      REQUIRE(*sealer.Open(reused, &buffer) == (i % 3 == 0 ? "a longer plaintext" : "short"));
      nonces.insert(reused.substr(3, 24));  // after the 3-byte marker
    }
    REQUIRE(nonces.size() == 1000);
  }
  SECTION("another key") {
    Sealer other(std::string(32, 'x'));
    REQUIRE(other.Open(sealed, &buffer).status().code() == absl::StatusCode::kDataLoss);
  }
  SECTION("no key") {
    Sealer none("");
    auto r = none.Open(sealed, &buffer);
    REQUIRE(r.status().code() == absl::StatusCode::kDataLoss);
    REQUIRE(std::string(r.status().message()).find("node.data_key") != std::string::npos);
    REQUIRE(none.Seal("plain") == "plain");
  }
  SECTION("a flipped byte or a cut value") {
    std::string damaged = sealed;
    damaged[damaged.size() - 3] ^= 1;
    REQUIRE(sealer.Open(damaged, &buffer).status().code() == absl::StatusCode::kDataLoss);
    REQUIRE(sealer.Open(sealed.substr(0, 10), &buffer).status().code() ==
            absl::StatusCode::kDataLoss);
  }
  SECTION("values stored before encryption still read") {
    REQUIRE(*sealer.Open("\x0a\x1a" "plain record", &buffer) == "\x0a\x1a" "plain record");
  }
}

TEST_CASE("Store: with a data key, records and log read back and a wrong key is refused",
          "[storage]") {
  TempDir dir("sealed-store");
  StoreOptions with_key;
  with_key.data_key = std::string(32, 'd');
  StreamId stream{"waihai", std::string(16, 's')};
  {
    auto s = Store::Open(dir.path(), with_key);
    REQUIRE(s.ok());
    REQUIRE((*s)->Commit(MakeBatch(stream, 1, 3, 1 << 20)).ok());
    REQUIRE((*s)->GetRecord(Pid(1)).value()->pid() == Pid(1));
    REQUIRE((*s)->ReadLog(stream, 0, 10).value().front().second == "delta-1");
  }
  StoreOptions wrong;
  wrong.data_key = std::string(32, 'w');
  auto s = Store::Open(dir.path(), wrong);
  REQUIRE(s.status().code() == absl::StatusCode::kFailedPrecondition);
  REQUIRE(std::string(s.status().message()).find("another data key") != std::string::npos);
  auto none = Store::Open(dir.path(), StoreOptions{});
  REQUIRE(none.status().code() == absl::StatusCode::kFailedPrecondition);
  REQUIRE(std::string(none.status().message()).find("set node.data_key") != std::string::npos);
  REQUIRE(Store::Open(dir.path(), with_key).ok());
}

// The federation key a data dir was written with: its pids derive from it, so a data dir
// opened with another would store every person again under a second pid.
TEST_CASE("Store: a data dir written with another federation key is refused, old ones too",
          "[storage]") {
  auto refused = [](const absl::StatusOr<std::unique_ptr<Store>>& s) {
    return s.status().code() == absl::StatusCode::kFailedPrecondition &&
           std::string(s.status().message()).find("another federation key") != std::string::npos &&
           std::string(s.status().message()).find("node.federation_key") != std::string::npos;
  };
  StreamId stream{"waihai", std::string(16, 's')};
  StoreOptions fed_a;
  fed_a.index_tag_key = std::string(32, 'a');
  fed_a.federation_check = "check-a";
  StoreOptions fed_b;
  fed_b.index_tag_key = std::string(32, 'b');
  fed_b.federation_check = "check-b";

  SECTION("a data dir that holds its check") {
    TempDir dir("federation-check");
    {
      auto s = Store::Open(dir.path(), fed_a);
      REQUIRE(s.ok());
      REQUIRE((*s)->Commit(MakeBatch(stream, 1, 3, 1 << 20)).ok());
    }
    REQUIRE(refused(Store::Open(dir.path(), fed_b)));
    // The check alone decides, whatever the index key says.
    StoreOptions same_index = fed_a;
    same_index.federation_check = "check-b";
    REQUIRE(refused(Store::Open(dir.path(), same_index)));
    auto s = Store::Open(dir.path(), fed_a);
    REQUIRE(s.ok());
    REQUIRE((*s)->GetRecord(Pid(1)).value()->pid() == Pid(1));
  }
  SECTION("a data dir from before the check: its index version tells the key") {
    TempDir dir("federation-old");
    StoreOptions old = fed_a;
    old.federation_check.clear();
    {
      auto s = Store::Open(dir.path(), old);
      REQUIRE(s.ok());
      REQUIRE((*s)->Commit(MakeBatch(stream, 1, 3, 1 << 20)).ok());
    }
    REQUIRE(refused(Store::Open(dir.path(), fed_b)));
    REQUIRE(Store::Open(dir.path(), fed_a).ok());  // the same key: the check is saved
    StoreOptions same_index = fed_a;
    same_index.federation_check = "check-b";
    REQUIRE(refused(Store::Open(dir.path(), same_index)));
  }
}

}  // namespace
}  // namespace wlsync::storage
