#include <catch2/catch.hpp>

#include <atomic>
#include <thread>

#include "access/audit_chain.h"
#include "access/audit_trail.h"
#include "access/masking.h"
#include "access/rate_limit.h"
#include "access/roles.h"
#include "access/tokens.h"
#include "storage/keys.h"
#include "sync/signer.h"
#include "tests/support/cluster.h"

namespace wlsync::access {
namespace {

using wlsync::testing::TempDir;

struct Clock {
  int64_t now = 1'700'000'000'000;
  std::function<int64_t()> fn() {
    return [this] { return now; };
  }
};

std::unique_ptr<storage::Store> OpenStore(const std::string& dir) {
  auto s = storage::Store::Open(dir, storage::StoreOptions{});
  REQUIRE(s.ok());
  return std::move(*s);
}

TEST_CASE("Roles: each role may call exactly its methods", "[access]") {
  using M = Method;
  struct Row {
    Method method;
    bool op, tracer, auditor, admin;
  };
  Row row = GENERATE(values<Row>({
      {M::kRegister, true, false, false, false},
      {M::kUpdate, true, false, false, false},
      {M::kDeregister, true, false, false, false},
      {M::kGet, true, false, false, false},
      {M::kImport, true, false, false, false},
      {M::kExport, true, false, false, false},
      {M::kStatus, true, true, true, true},
      {M::kReconcile, true, false, false, false},
      {M::kListReports, true, false, false, false},
      {M::kListQuarantine, true, false, false, false},
      {M::kSearch, true, true, false, false},
      {M::kCreateToken, false, false, false, true},
      {M::kListTokens, false, false, false, true},
      {M::kRevokeToken, false, false, false, true},
      {M::kAuditExport, false, false, true, false},
      {M::kAuditWhoSaw, false, false, true, false},
      {M::kAuditByToken, false, false, true, false},
      {M::kFreeze, false, false, false, true},
      {M::kUnfreeze, false, false, false, true},
      {M::kLockdown, false, false, false, true},
      {M::kLift, false, false, false, true},
      {M::kEmergencyState, false, false, false, true},
      {M::kEmergencyReport, false, false, false, true},
      {M::kRevokeCert, false, false, false, true},
      {M::kListCerts, false, false, false, true},
      {M::kReloadCerts, false, false, false, true},
      {M::kListForks, false, false, false, true},
      {M::kClearFork, false, false, false, true},
      {M::kKeyRotate, false, false, false, true},
      {M::kKeyRevoke, false, false, false, true},
      {M::kKeyList, false, false, false, true},
      {M::kKeyReport, false, false, false, true},
  }));
  INFO(MethodName(row.method));
  CHECK(Allowed(Role::kOperator, row.method) == row.op);
  CHECK(Allowed(Role::kTracer, row.method) == row.tracer);
  CHECK(Allowed(Role::kAuditor, row.method) == row.auditor);
  CHECK(Allowed(Role::kAdmin, row.method) == row.admin);
}

TEST_CASE("Tokens: created, authenticated, expired and revoked at once", "[access]") {
  TempDir dir("tokens");
  Clock clock;
  auto store = OpenStore(dir.path());
  TokenStore tokens(*store, clock.fn());
  REQUIRE(tokens.Load("").ok());

  auto made = tokens.Create("alice", Role::kTracer, clock.now + 60000, "admin");
  REQUIRE(made.ok());
  const std::string secret = made->second;
  REQUIRE(LooksLikeToken(secret));
  REQUIRE(tokens.Authenticate(secret)->name == "alice");
  REQUIRE(tokens.Authenticate(secret)->role == Role::kTracer);

  SECTION("the secret is never stored, only its hash") {
    bool seen = false;
    REQUIRE(store->Scan(storage::Table::kTokens, "", "", [&](std::string_view, std::string_view v) {
      CHECK(v.find(secret) == std::string_view::npos);
      CHECK(v.find(TokenHash(secret)) != std::string_view::npos);
      seen = true;
      return true;
    }).ok());
    REQUIRE(seen);
  }
  SECTION("expiry") {
    clock.now += 60000;
    auto r = tokens.Authenticate(secret);
    REQUIRE(r.status().code() == absl::StatusCode::kUnauthenticated);
    REQUIRE(std::string(r.status().message()).find("expired") != std::string::npos);
  }
  SECTION("revocation, also after a reload") {
    REQUIRE(tokens.Revoke("alice", "admin").ok());
    REQUIRE(tokens.Authenticate(secret).status().code() == absl::StatusCode::kUnauthenticated);
    TokenStore reloaded(*store, clock.fn());
    REQUIRE(reloaded.Load("").ok());
    REQUIRE(reloaded.Authenticate(secret).status().code() == absl::StatusCode::kUnauthenticated);
    REQUIRE(reloaded.List().front().revoked_by() == "admin");
  }
  SECTION("a reload keeps valid tokens") {
    TokenStore reloaded(*store, clock.fn());
    REQUIRE(reloaded.Load("").ok());
    REQUIRE(reloaded.Authenticate(secret)->name == "alice");
  }
  SECTION("bad input") {
    REQUIRE(tokens.Authenticate("").status().code() == absl::StatusCode::kUnauthenticated);
    REQUIRE(tokens.Authenticate(NewTokenSecret()).status().code() ==
            absl::StatusCode::kUnauthenticated);
    REQUIRE(tokens.Create("alice", Role::kTracer, 0, "admin").status().code() ==
            absl::StatusCode::kAlreadyExists);
    REQUIRE(tokens.Create("Bad Name", Role::kTracer, 0, "admin").status().code() ==
            absl::StatusCode::kInvalidArgument);
    REQUIRE(tokens.Create("late", Role::kTracer, clock.now - 1, "admin").status().code() ==
            absl::StatusCode::kInvalidArgument);
    REQUIRE(tokens.Revoke("nobody", "admin").status().code() == absl::StatusCode::kNotFound);
  }
}

TEST_CASE("Tokens: the config's admin token works until the config drops it", "[access]") {
  TempDir dir("tokens-admin");
  Clock clock;
  auto store = OpenStore(dir.path());
  std::string secret = NewTokenSecret();
  {
    TokenStore tokens(*store, clock.fn());
    REQUIRE(tokens.Load(TokenHash(secret)).ok());
    REQUIRE(tokens.Authenticate(secret)->role == Role::kAdmin);
    REQUIRE(tokens.Revoke("admin", "admin").status().code() ==
            absl::StatusCode::kFailedPrecondition);
  }
  TokenStore without(*store, clock.fn());
  REQUIRE(without.Load("").ok());
  REQUIRE(without.Authenticate(secret).status().code() == absl::StatusCode::kUnauthenticated);
}

TEST_CASE("Rate limits: requests per minute and records per hour refill over time",
          "[access]") {
  Clock clock;
  RateLimiter limiter({{Role::kTracer, {3, 100}}, {Role::kOperator, {0, 0}}}, clock.fn());
  for (int i = 0; i < 3; ++i) REQUIRE(limiter.AdmitRequest("t", Role::kTracer).ok());
  absl::Status refused = limiter.AdmitRequest("t", Role::kTracer);
  REQUIRE(refused.code() == absl::StatusCode::kResourceExhausted);
  REQUIRE(std::string(refused.message()).find("3 requests per minute") != std::string::npos);
  REQUIRE(limiter.AdmitRequest("other", Role::kTracer).ok());  // per token
  clock.now += 20000;                                            // a third of a minute: one more
  REQUIRE(limiter.AdmitRequest("t", Role::kTracer).ok());
  REQUIRE_FALSE(limiter.AdmitRequest("t", Role::kTracer).ok());

  REQUIRE(limiter.TakeRecords("t", Role::kTracer, 60).ok());
  REQUIRE(limiter.TakeRecords("t", Role::kTracer, 50).code() ==
          absl::StatusCode::kResourceExhausted);  // all or nothing
  REQUIRE(limiter.TakeRecords("t", Role::kTracer, 40).ok());
  clock.now += 36 * 60 * 1000;  // 0.6 h refills 60
  REQUIRE(limiter.TakeRecords("t", Role::kTracer, 60).ok());

  for (int i = 0; i < 1000; ++i) REQUIRE(limiter.AdmitRequest("o", Role::kOperator).ok());
  REQUIRE(limiter.TakeRecords("o", Role::kOperator, 1'000'000).ok());
}

TEST_CASE("Masking: phones and identity numbers", "[access]") {
  auto [in, phone, id] = GENERATE(table<std::string, std::string, std::string>({
      {"13812341234", "138****1234", "138123***34"},
      {"44070419900101123X", "440***********123X", "440704**********3X"},
      {"123", "***", "***"},
      {"", "", ""},
  }));
  CHECK(MaskPhone(in) == phone);
  CHECK(MaskIdDoc(in) == id);
  CHECK(IsValidCaseId("CASE-2022_11"));
  CHECK_FALSE(IsValidCaseId(""));
  CHECK_FALSE(IsValidCaseId("case 1"));
  CHECK_FALSE(IsValidCaseId(std::string(65, 'a')));
}

// A trail on a real store with a real signing key.
struct Trail {
  TempDir dir{"audit"};
  Clock clock;
  sync::SigningKey key = sync::SigningKey::Generate();
  std::unique_ptr<storage::Store> store = OpenStore(dir.path());
  std::unique_ptr<AuditTrail> trail = Make();

  std::unique_ptr<AuditTrail> Make() {
    auto t = std::make_unique<AuditTrail>(
        *store, "waihai",
        [this](std::string_view m) { return std::make_pair(key.key_id(), key.SignRaw(m)); },
        clock.fn());
    REQUIRE(t->Load().ok());
    return t;
  }

  void Add(const std::string& token, std::vector<std::string> pids) {
    v1::AuditEntry e;
    e.set_token(token);
    e.set_method("Query.Search");
    e.set_outcome("OK");
    e.set_result_count(pids.size());
    for (auto& p : pids) e.add_pids(p);
    REQUIRE(trail->Append(std::move(e)).ok());
    clock.now += 1000;
  }

  // Verifies the stored trail as `wlsync audit verify` does.
  absl::Status Verify(const std::string& public_key) {
    std::vector<v1::AuditEntry> entries;
    REQUIRE(trail->Read(1, 1000000, &entries).ok());
    ChainVerifier v(public_key);
    for (const auto& e : entries) {
      if (!v.Add(e)) break;
    }
    return v.Finish(trail->head());
  }
  // The message of Verify with the node's own key ("" when the trail verifies).
  std::string VerifyError() { return std::string(Verify(key.public_key()).message()); }

  std::string Raw(uint64_t seq) {
    return store->Get(storage::Table::kAudit, SeqKey(seq)).value().value();
  }
  void Put(uint64_t seq, const std::string& value) {
    storage::TableBatch b;
    b.puts.push_back({storage::Table::kAudit, SeqKey(seq), value});
    REQUIRE(store->Write(b, true).ok());
  }
  // As someone with the data dir would (the trail itself never deletes but by retention).
  void Delete(uint64_t seq) {
    storage::TableBatch b;
    b.deletes.push_back({storage::Table::kAudit, SeqKey(seq)});
    REQUIRE(store->Write(b, true).ok());
  }
  bool Has(uint64_t seq) {
    return store->Get(storage::Table::kAudit, SeqKey(seq)).value().has_value();
  }
  static std::string SeqKey(uint64_t seq) {
    std::string key;
    storage::keys::PutFixed64(&key, seq);
    return key;
  }
};

TEST_CASE("Audit: the chain verifies, and any edited or dropped entry is named", "[access]") {
  Trail t;
  for (int i = 0; i < 10; ++i) t.Add(i % 2 ? "alice" : "bob", {"pid" + std::to_string(i)});
  REQUIRE(t.Verify(t.key.public_key()).ok());
  REQUIRE(t.trail->head().seq() == 10);

  SECTION("an edited middle entry") {
    v1::AuditEntry e;
    REQUIRE(e.ParseFromString(t.Raw(4)));
    e.set_token("mallory");
    t.Put(4, e.SerializeAsString());
    absl::Status s = t.Verify(t.key.public_key());
    REQUIRE_FALSE(s.ok());
    REQUIRE(std::string(s.message()).find("entry 4 was changed") != std::string::npos);
  }
  SECTION("a deleted entry") {
    std::string key;
    storage::keys::PutFixed64(&key, 6);
    // Deleting through the store's API is not possible (append-only); do it as an
    // attacker with the data dir would: rewrite the table without entry 6.
    std::vector<v1::AuditEntry> entries;
    REQUIRE(t.trail->Read(1, 100, &entries).ok());
    TempDir copy("audit-copy");
    auto other = OpenStore(copy.path());
    storage::TableBatch b;
    for (const auto& e : entries) {
      if (e.seq() == 6) continue;
      std::string k;
      storage::keys::PutFixed64(&k, e.seq());
      b.puts.push_back({storage::Table::kAudit, k, e.SerializeAsString()});
    }
    REQUIRE(other->Write(b, true).ok());
    std::vector<v1::AuditEntry> left;
    AuditTrail reader(*other, "waihai", nullptr, t.clock.fn());
    REQUIRE(reader.Read(1, 100, &left).ok());
    ChainVerifier v(t.key.public_key());
    for (const auto& e : left) {
      if (!v.Add(e)) break;
    }
    absl::Status s = v.Finish(t.trail->head());
    REQUIRE(std::string(s.message()).find("entry 6 is missing") != std::string::npos);
  }
  SECTION("an edited newest entry no longer matches the signed head") {
    v1::AuditEntry e;
    REQUIRE(e.ParseFromString(t.Raw(10)));
    e.clear_pids();
    t.Put(10, e.SerializeAsString());
    auto reopened = t.Make();  // the node restarted on the edited dir
    std::vector<v1::AuditEntry> entries;
    REQUIRE(reopened->Read(1, 100, &entries).ok());
    ChainVerifier v(t.key.public_key());
    for (const auto& x : entries) v.Add(x);
    absl::Status s = v.Finish(reopened->head());
    REQUIRE(std::string(s.message()).find("entry 10 was changed") != std::string::npos);
  }
  SECTION("a deleted first entry") {
    t.Delete(1);
    REQUIRE_THAT(t.VerifyError(), Catch::Contains("entry 1 is missing"));
  }
  SECTION("a head signed by another key") {
    absl::Status s = t.Verify(sync::SigningKey::Generate().public_key());
    REQUIRE(std::string(s.message()).find("signature") != std::string::npos);
  }
  SECTION("queries of the trail") {
    std::vector<v1::AuditEntry> out;
    REQUIRE(t.trail->ByToken("alice", 0, 100, &out).ok());
    REQUIRE(out.size() == 5);
    out.clear();
    REQUIRE(t.trail->WhoSaw("pid3", 0, 100, &out).ok());
    REQUIRE(out.size() == 1);
    REQUIRE(out[0].seq() == 4);
    out.clear();
    REQUIRE(t.trail->ByToken("alice", t.clock.now - 3000, 100, &out).ok());
    REQUIRE(out.size() == 2);  // seqs 8 and 10
  }
}

TEST_CASE("Audit: concurrent appends form one unbroken chain", "[access]") {
  Trail t;
  std::vector<std::thread> threads;
  for (int k = 0; k < 8; ++k) {
    threads.emplace_back([&t, k] {
      for (int i = 0; i < 50; ++i) {
        v1::AuditEntry e;
        e.set_token("t" + std::to_string(k));
        e.set_outcome("OK");
        if (!t.trail->Append(std::move(e)).ok()) std::abort();
      }
    });
  }
  for (auto& th : threads) th.join();
  REQUIRE(t.trail->head().seq() == 400);
  REQUIRE(t.Verify(t.key.public_key()).ok());
  // The chain survives a restart: new entries continue it.
  auto reopened = t.Make();
  t.trail = std::move(reopened);
  t.Add("after", {});
  REQUIRE(t.Verify(t.key.public_key()).ok());
  REQUIRE(t.trail->head().seq() == 401);
}

constexpr int64_t kDay = 86400 * 1000;

// A trail with 6 entries made 400 days ago and 4 made today, then a retention of a year.
struct OldAndNew : Trail {
  int64_t old_until = 0;
  OldAndNew() {
    for (int i = 0; i < 6; ++i) Add(i % 2 ? "alice" : "bob", {"pid-old-" + std::to_string(i)});
    old_until = clock.now - 1000;
    clock.now += 400 * kDay;
    for (int i = 0; i < 4; ++i) Add("carol", {"pid-new-" + std::to_string(i)});
  }
  int64_t YearAgo() const { return clock.now - 365 * kDay; }
};

TEST_CASE("Audit retention: older entries go, younger stay, and the trail still verifies",
          "[access]") {
  OldAndNew t;
  size_t batch = GENERATE(size_t{1000}, size_t{4}, size_t{1});
  INFO("batch=" << batch);
  absl::StatusOr<PurgeResult> r = t.trail->Purge(t.YearAgo(), batch);
  REQUIRE(r.ok());
  CHECK(r->removed == 6);
  CHECK(r->first_kept == 7);
  CHECK(r->removed_until_ms == t.old_until);
  uint64_t batches = (6 + batch - 1) / batch;
  CHECK(r->batches == batches);
  for (uint64_t seq = 1; seq <= 6; ++seq) CHECK_FALSE(t.Has(seq));
  for (uint64_t seq = 7; seq <= 10 + batches; ++seq) CHECK(t.Has(seq));

  // The head carries the base; each batch left one entry with its counts.
  v1::AuditHead head = t.trail->head();
  CHECK(head.seq() == 10 + batches);
  CHECK(head.base_seq() == 7);
  CHECK(head.base_removed_until_ms() == t.old_until);
  std::vector<v1::AuditEntry> entries;
  REQUIRE(t.trail->Read(1, 100, &entries).ok());
  REQUIRE(entries.size() == 4 + batches);
  CHECK(entries.front().seq() == 7);
  CHECK(entries.back().method() == "Audit.Retention");
  CHECK(entries.back().result_count() == 6 - (batches - 1) * batch);
  CHECK(entries.back().pids_size() == 0);

  // The indexes forgot the removed entries.
  std::vector<v1::AuditEntry> out;
  REQUIRE(t.trail->ByToken("alice", 0, 100, &out).ok());
  CHECK(out.empty());
  REQUIRE(t.trail->WhoSaw("pid-old-2", 0, 100, &out).ok());
  CHECK(out.empty());
  REQUIRE(t.trail->ByToken("carol", 0, 100, &out).ok());
  CHECK(out.size() == 4);

  CHECK(t.VerifyError() == "");

  // Nothing more is old enough: a second sweep removes and appends nothing.
  absl::StatusOr<PurgeResult> again = t.trail->Purge(t.YearAgo(), batch);
  REQUIRE(again.ok());
  CHECK(again->removed == 0);
  CHECK(t.trail->head().seq() == head.seq());
}

TEST_CASE("Audit retention: an entry made after the cutoff stops the purge, whatever follows",
          "[access]") {
  Trail t;
  t.Add("a", {});
  t.clock.now += 400 * kDay;
  t.Add("b", {});             // young
  t.clock.now -= 200 * kDay;  // the clock went back: entry 3 is dated earlier than entry 2
  t.Add("c", {});
  t.clock.now += 200 * kDay;
  absl::StatusOr<PurgeResult> r = t.trail->Purge(t.clock.now - 365 * kDay, 100);
  REQUIRE(r.ok());
  CHECK(r->removed == 1);
  CHECK(t.Has(2));
  CHECK(t.Has(3));
  CHECK(t.VerifyError() == "");
}

TEST_CASE("Audit retention: a purge never removes the entries it appends itself", "[access]") {
  Trail t;
  for (int i = 0; i < 3; ++i) t.Add("a", {});
  // The clock stands far in the past, so the purge's own records look old too.
  absl::StatusOr<PurgeResult> r = t.trail->Purge(t.clock.now + 365 * kDay, 1);
  REQUIRE(r.ok());
  CHECK(r->removed == 3);
  CHECK(r->batches == 3);
  CHECK(t.trail->head().base_seq() == 4);
  CHECK(t.trail->head().seq() == 6);
  CHECK(t.VerifyError() == "");
}

TEST_CASE("Audit retention: tampering with what is kept is still found after a purge", "[access]") {
  OldAndNew t;
  std::string removed_six = t.Raw(6);
  REQUIRE(t.trail->Purge(t.YearAgo(), 1000).ok());
  REQUIRE(t.VerifyError() == "");

  SECTION("an edited kept entry") {
    v1::AuditEntry e;
    REQUIRE(e.ParseFromString(t.Raw(8)));
    e.set_token("mallory");
    t.Put(8, e.SerializeAsString());
    REQUIRE_THAT(t.VerifyError(), Catch::Contains("entry 8 was changed"));
  }
  SECTION("the oldest kept entry, too young for retention, deleted") {
    t.Delete(7);
    REQUIRE_THAT(t.VerifyError(), Catch::Contains("entry 7 is missing"));
  }
  SECTION("the two oldest kept entries deleted") {
    t.Delete(7);
    t.Delete(8);
    REQUIRE_THAT(t.VerifyError(), Catch::Contains("entry 7 is missing"));
  }
  SECTION("a kept entry in the middle deleted") {
    t.Delete(9);
    REQUIRE_THAT(t.VerifyError(), Catch::Contains("entry 9 is missing"));
  }
  SECTION("the prev_hash of the oldest kept entry edited") {
    v1::AuditEntry e;
    REQUIRE(e.ParseFromString(t.Raw(7)));
    e.set_prev_hash(std::string(32, 'x'));
    t.Put(7, e.SerializeAsString());
    REQUIRE_THAT(t.VerifyError(), Catch::Contains("entry 7 was changed"));
  }
  SECTION("a removed entry put back (from a backup)") {
    t.Put(6, removed_six);
    REQUIRE_THAT(t.VerifyError(), Catch::Contains("older than the retention base"));
  }
  SECTION("the base moved forward by hand: the chain fits, the signature does not") {
    v1::AuditEntry seven;
    REQUIRE(seven.ParseFromString(t.Raw(7)));
    t.Delete(7);
    v1::AuditHead head = t.trail->head();
    head.set_base_seq(8);
    head.set_base_prev_hash(EntryHash(seven));
    std::vector<v1::AuditEntry> entries;
    REQUIRE(t.trail->Read(1, 100, &entries).ok());
    ChainVerifier without_key("");
    for (const auto& e : entries) without_key.Add(e);
    REQUIRE(without_key.Finish(head).ok());  // the structure alone is consistent
    ChainVerifier v(t.key.public_key());
    for (const auto& e : entries) v.Add(e);
    absl::Status s = v.Finish(head);
    REQUIRE(std::string(s.message()).find("signature") != std::string::npos);
  }
}

TEST_CASE("Audit retention: refuses to remove entries that do not chain", "[access]") {
  OldAndNew t;
  auto [seq, edit, message] = GENERATE(table<uint64_t, bool, std::string>({
      {3, true, "entry 3 was changed"},  // an old entry edited
      {6, true, "entry 6 "},             // the newest old one: entry 7 no longer links
      {1, false, "entry 1 is missing"},  // the oldest deleted by hand
      {4, false, "entry 4 is missing"},  // one in the middle of the old ones
  }));
  INFO("seq=" << seq << " edit=" << edit);
  if (edit) {
    v1::AuditEntry e;
    REQUIRE(e.ParseFromString(t.Raw(seq)));
    e.set_token("mallory");
    t.Put(seq, e.SerializeAsString());
  } else {
    t.Delete(seq);
  }
  absl::StatusOr<PurgeResult> r = t.trail->Purge(t.YearAgo(), 1000);
  REQUIRE_FALSE(r.ok());
  CHECK(r.status().code() == absl::StatusCode::kDataLoss);
  CHECK_THAT(std::string(r.status().message()), Catch::Contains(message));
  for (uint64_t s = 1; s <= 10; ++s) CHECK(t.Has(s) == (edit || s != seq));
  CHECK(t.trail->head().base_seq() == 0);
  CHECK(t.trail->head().seq() == 10);
  // The evidence is still there to be found.
  CHECK_THAT(t.VerifyError(), Catch::Contains(message));
}

TEST_CASE("Audit retention: the base survives a restart and later purges extend it", "[access]") {
  OldAndNew t;
  REQUIRE(t.trail->Purge(t.YearAgo(), 1000).ok());
  t.trail = t.Make();  // the node restarted
  CHECK(t.trail->head().base_seq() == 7);
  t.Add("dave", {"pid-later"});
  REQUIRE(t.VerifyError() == "");

  // A year on, everything before today's entries is old: all of it goes, the newest too;
  // the purge's own entry is then the whole kept trail.
  uint64_t newest = t.trail->head().seq();
  t.clock.now += 366 * kDay;
  absl::StatusOr<PurgeResult> r = t.trail->Purge(t.YearAgo(), 1000);
  REQUIRE(r.ok());
  CHECK(r->removed == newest - 6);
  CHECK(t.trail->head().base_seq() == newest + 1);
  CHECK(t.trail->head().seq() == newest + 1);
  t.trail = t.Make();
  t.Add("erin", {});
  CHECK(t.VerifyError() == "");
  CHECK(t.trail->head().seq() == newest + 2);
}

TEST_CASE("Audit retention: purges and appends at once keep one chain", "[access]") {
  OldAndNew t;
  std::atomic<bool> done{false};
  std::thread appender([&] {
    for (int i = 0; i < 200; ++i) {
      v1::AuditEntry e;
      e.set_token("busy");
      if (!t.trail->Append(std::move(e)).ok()) std::abort();
    }
    done = true;
  });
  uint64_t removed = 0;
  do {
    absl::StatusOr<PurgeResult> r = t.trail->Purge(t.YearAgo(), 2);
    CHECK(r.ok());  // not REQUIRE: the appender thread must be joined
    if (!r.ok()) break;
    removed += r->removed;
  } while (!done);
  appender.join();
  CHECK(removed == 6);
  CHECK(t.trail->head().base_seq() == 7);
  CHECK(t.VerifyError() == "");
}

}  // namespace
}  // namespace wlsync::access
