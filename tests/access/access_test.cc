#include <catch2/catch.hpp>

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

  std::string Raw(uint64_t seq) {
    std::string key;
    storage::keys::PutFixed64(&key, seq);
    return store->Get(storage::Table::kAudit, key).value().value();
  }
  void Put(uint64_t seq, const std::string& value) {
    std::string key;
    storage::keys::PutFixed64(&key, seq);
    storage::TableBatch b;
    b.puts.push_back({storage::Table::kAudit, key, value});
    REQUIRE(store->Write(b, true).ok());
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

}  // namespace
}  // namespace wlsync::access
