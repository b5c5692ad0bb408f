// Access control end to end: real wlsyncd processes and the real CLI, one node per test
// case. Each role against each method, token expiry and revocation, masking and case
// unmasking, the rate limit, and the audit trail's tamper evidence on the stopped node's
// RocksDB.
#include <catch2/catch.hpp>

#include <map>
#include <string>
#include <thread>
#include <vector>

#include "absl/time/time.h"
#include <rocksdb/db.h>

#include "access/audit_chain.h"
#include "storage/keys.h"
#include "sync/signer.h"
#include "tests/support/raw_db.h"
#include "tests/support/cluster.h"
#include "wlsync/v1/audit.pb.h"

namespace wlsync::testing {
namespace {

// Edits the stopped node's audit column families (entries, then index and head) with
// RocksDB itself, as someone with the data dir (not the node's API) would.
using AuditEdit = std::function<void(rocksdb::DB*, rocksdb::ColumnFamilyHandle* audit,
                                     rocksdb::ColumnFamilyHandle* index)>;
void EditAudit(const std::string& data_dir, const AuditEdit& edit) {
  WithRawDb(data_dir, [&](rocksdb::DB* db, const ColumnFamilies& cfs) {
    auto audit = cfs.find("audit");
    auto index = cfs.find("audit_index");
    if (audit != cfs.end() && index != cfs.end()) edit(db, audit->second, index->second);
  });
}

// A started node with the sample imported and one token per role in DIR/ROLE.token.
struct Secured {
  TempDir root{"access"};
  std::vector<std::unique_ptr<Node>> nodes;
  Node* node = nullptr;

  explicit Secured(const std::string& auth_extra = "") {
    nodes = MakeNodes(root.path(), {"waihai"});
    REQUIRE(nodes.size() == 1);
    node = nodes[0].get();
    if (!auth_extra.empty()) {
      std::string config = ReadFile(node->config());
      size_t at = config.find("[auth]\n");
      REQUIRE(at != std::string::npos);
      config.insert(at + 7, auth_extra + "\n");
      WriteFile(node->config(), config);
    }
    REQUIRE(node->Start());
    for (const char* role : {"tracer", "auditor"}) {
      REQUIRE(node->MakeToken(std::string(role) + "-1", role, node->token_file(role)));
    }
    REQUIRE(node->Cli({"import", SampleFile("commuters.csv")}).exit_code == 0);
  }

  // The CLI with the token of `role` ("admin" is init's token, "none" sends no token).
  CommandResult As(const std::string& role, std::vector<std::string> args) {
    std::vector<std::string> full = {"--node", node->address()};
    if (role != "none") {
      full.push_back("--token-file");
      full.push_back(role == "admin" ? node->dir() + "/admin.token" : node->token_file(role));
    }
    full.insert(full.end(), args.begin(), args.end());
    // testing::Cli would add the node's default token; run the binary directly.
    std::vector<std::string> argv = {std::string(WLSYNC_BIN_DIR) + "/wlsync"};
    argv.insert(argv.end(), full.begin(), full.end());
    return Run(argv, {{"WLSYNC_TOKEN_FILE", ""}, {"WLSYNC_NODE", ""}, {"WLSYNC_CA", node->ca()}});
  }
};

// A person of the sample: first data row's identity number and phone.
struct SamplePerson {
  std::string id_doc, phone, grid;
};
SamplePerson FirstSamplePerson() {
  std::string csv = ReadFile(SampleFile("commuters.csv"));
  size_t start = csv.find('\n') + 1;
  std::string line = csv.substr(start, csv.find('\n', start) - start);
  std::vector<std::string> cells;
  size_t pos = 0;
  for (size_t comma; (comma = line.find(',', pos)) != std::string::npos; pos = comma + 1) {
    cells.push_back(line.substr(pos, comma - pos));
  }
  cells.push_back(line.substr(pos));
  REQUIRE(cells.size() >= 6);
  return {cells[0], cells[2], cells[5]};
}

TEST_CASE("Access: each role may call exactly its commands", "[e2e][access]") {
  Secured s;
  SamplePerson p = FirstSamplePerson();
  struct Row {
    std::vector<std::string> args;
    std::vector<std::string> allowed;
  };
  const std::vector<Row> rows = {
      {{"get", p.id_doc}, {"operator"}},
      {{"set", p.id_doc, "phone", "13900001111"}, {"operator"}},
      {{"export"}, {"operator"}},
      {{"quarantine"}, {"operator"}},
      {{"reconcile-report"}, {"operator"}},
      {{"import", SampleFile("commuters.csv")}, {"operator"}},
      {{"status"}, {"operator", "tracer", "auditor", "admin"}},
      {{"query", "--grid", p.grid, "--limit", "2"}, {"operator", "tracer"}},
      {{"token", "list"}, {"admin"}},
      {{"audit", "export"}, {"auditor"}},
      {{"audit", "by-token", "operator"}, {"auditor"}},
  };
  for (const Row& row : rows) {
    for (const std::string role : {"operator", "tracer", "auditor", "admin"}) {
      CommandResult r = s.As(role, row.args);
      bool allowed = std::find(row.allowed.begin(), row.allowed.end(), role) != row.allowed.end();
      INFO(role << " " << row.args[0] << (row.args.size() > 1 ? " " + row.args[1] : "") << "\n"
                << r.err);
      if (allowed) {
        CHECK(r.exit_code == 0);
      } else {
        CHECK(r.exit_code == 1);
        CHECK(r.err.find("PERMISSION_DENIED") != std::string::npos);
      }
    }
  }
}

TEST_CASE("Access: no token, a bad, an expired or a revoked token is UNAUTHENTICATED",
          "[e2e][access]") {
  Secured s;
  SECTION("no token") {
    CommandResult r = s.As("none", {"status"});
    CHECK(r.exit_code == 1);
    CHECK(r.err.find("UNAUTHENTICATED: no token") != std::string::npos);
    CHECK(r.err.find("--token-file") != std::string::npos);
  }
  SECTION("a made-up token") {
    std::string bad = s.root / "bad.token";
    WriteFile(bad, "wlt_" + std::string(52, 'a') + "\n");
    CommandResult r = Run({std::string(WLSYNC_BIN_DIR) + "/wlsync", "--node", s.node->address(),
                           "--ca", s.node->ca(), "--token-file", bad, "status"});
    CHECK(r.exit_code == 1);
    CHECK(r.err.find("UNAUTHENTICATED: token: unknown") != std::string::npos);
  }
  SECTION("revocation takes effect at once") {
    REQUIRE(s.As("tracer", {"query", "--list", "GREY", "--limit", "1"}).exit_code == 0);
    REQUIRE(s.As("admin", {"token", "revoke", "tracer-1"}).exit_code == 0);
    CommandResult r = s.As("tracer", {"query", "--list", "GREY", "--limit", "1"});
    CHECK(r.exit_code == 1);
    CHECK(r.err.find("UNAUTHENTICATED: token: tracer-1 was revoked") != std::string::npos);
    CommandResult list = s.As("admin", {"token", "list"});
    CHECK(list.out.find("\"revoked_by\":\"admin\"") != std::string::npos);
  }
  SECTION("expiry") {
    std::string at = absl::FormatTime(absl::RFC3339_sec, absl::Now() + absl::Seconds(3),
                                      absl::UTCTimeZone());
    std::string file = s.root / "short.token";
    REQUIRE(s.As("admin", {"token", "create", "short", "--role", "tracer", "--expires", at,
                           "--out", file}).exit_code == 0);
    std::vector<std::string> query = {std::string(WLSYNC_BIN_DIR) + "/wlsync", "--node",
                                      s.node->address(), "--ca", s.node->ca(), "--token-file",
                                      file, "query",
                                      "--list", "GREY", "--limit", "1"};
    REQUIRE(Run(query).exit_code == 0);
    std::this_thread::sleep_for(std::chrono::milliseconds(3500));
    CommandResult r = Run(query);
    CHECK(r.exit_code == 1);
    CHECK(r.err.find("UNAUTHENTICATED: token: short has expired") != std::string::npos);
  }
  SECTION("an expiry in the past is refused") {
    CommandResult r = s.As("admin", {"token", "create", "old", "--role", "tracer", "--expires",
                                     "2020-01-01"});
    CHECK(r.exit_code == 1);
    CHECK(r.err.find("expires: must be in the future") != std::string::npos);
  }
}

TEST_CASE("Access: a tracer sees masked values unless the query names a case",
          "[e2e][access]") {
  Secured s;
  SamplePerson p = FirstSamplePerson();
  std::string masked_phone = p.phone.substr(0, 3) + "****" + p.phone.substr(p.phone.size() - 4);

  CommandResult tracer = s.As("tracer", {"query", "--phone", p.phone, "--json"});
  REQUIRE(tracer.exit_code == 0);
  CHECK(tracer.out.find(p.phone) == std::string::npos);
  CHECK(tracer.out.find(p.id_doc) == std::string::npos);
  CHECK(tracer.out.find(masked_phone) != std::string::npos);
  CHECK(tracer.out.find(p.id_doc.substr(0, 6) + "**********" + p.id_doc.substr(16)) !=
        std::string::npos);

  CommandResult with_case = s.As("tracer", {"query", "--phone", p.phone, "--case", "C-17", "--json"});
  REQUIRE(with_case.exit_code == 0);
  CHECK(with_case.out.find(p.phone) != std::string::npos);
  CHECK(with_case.out.find(p.id_doc) != std::string::npos);

  CommandResult op = s.As("operator", {"query", "--phone", p.phone, "--json"});
  CHECK(op.out.find(p.id_doc) != std::string::npos);

  CommandResult bad_case = s.As("tracer", {"query", "--phone", p.phone, "--case", "a b"});
  CHECK(bad_case.exit_code == 1);
  CHECK(bad_case.err.find("case_id") != std::string::npos);

  // The trail names the case, hashes the phone, and answers who saw the person.
  CommandResult trail = s.As("auditor", {"audit", "by-token", "tracer-1"});
  REQUIRE(trail.exit_code == 0);
  CHECK(trail.out.find("\"case_id\":\"C-17\"") != std::string::npos);
  CHECK(trail.out.find(p.phone) == std::string::npos);
  CHECK(trail.out.find("phone=h:") != std::string::npos);
  CommandResult who = s.As("auditor", {"audit", "who-saw", p.id_doc});
  REQUIRE(who.exit_code == 0);
  CHECK(who.out.find("\"token\":\"tracer-1\"") != std::string::npos);
  CHECK(who.out.find("\"token\":\"operator\"") != std::string::npos);
  CHECK(who.out.find(p.id_doc) == std::string::npos);
}

TEST_CASE("Access: the rate limit refuses a flood, and each refusal is in the trail",
          "[e2e][access]") {
  Secured s("tracer_requests_per_minute = 3\ntracer_records_per_hour = 5");
  SamplePerson p = FirstSamplePerson();
  // Records budget: a page of 6 exceeds 5 records per hour.
  CommandResult big = s.As("tracer", {"query", "--grid", p.grid, "--limit", "6"});
  CHECK(big.exit_code == 1);
  CHECK(big.err.find("RESOURCE_EXHAUSTED: rate limit: token tracer-1 exceeded 5 records per hour") !=
        std::string::npos);
  CHECK(s.As("tracer", {"query", "--grid", p.grid, "--limit", "2"}).exit_code == 0);
  CommandResult third = s.As("tracer", {"query", "--grid", p.grid, "--limit", "1"});
  CHECK(third.exit_code == 0);
  CommandResult flood = s.As("tracer", {"query", "--grid", p.grid, "--limit", "1"});
  CHECK(flood.exit_code == 1);
  CHECK(flood.err.find("exceeded 3 requests per minute") != std::string::npos);
  // Other tokens are not held up.
  CHECK(s.As("operator", {"query", "--grid", p.grid, "--limit", "1"}).exit_code == 0);

  CommandResult trail = s.As("auditor", {"audit", "by-token", "tracer-1"});
  CHECK(trail.out.find("RESOURCE_EXHAUSTED: rate limit: token tracer-1 exceeded 3 requests") !=
        std::string::npos);
  CHECK(trail.out.find("exceeded 5 records per hour") != std::string::npos);
}

TEST_CASE("Audit: a changed or deleted entry in RocksDB is found by audit verify",
          "[e2e][access]") {
  Secured s;
  for (int i = 0; i < 5; ++i) {
    REQUIRE(s.As("tracer", {"query", "--list", "GREY", "--limit", "1"}).exit_code == 0);
  }
  CommandResult ok = s.As("auditor", {"audit", "verify", "--public-key", s.node->public_key_hex()});
  INFO(ok.out << ok.err);
  REQUIRE(ok.exit_code == 0);
  REQUIRE(ok.out.find("\"ok\":true") != std::string::npos);
  REQUIRE(ok.out.find("\"signature_checked\":true") != std::string::npos);
  // Nothing is old enough for retention yet: the whole trail, from entry 1.
  CHECK(ok.out.find("\"verified_from_seq\":1,\"removed_by_retention\":0") != std::string::npos);

  std::string key;
  storage::keys::PutFixed64(&key, 3);
  REQUIRE(s.node->Stop() == 0);
  SECTION("changed") {
    EditAudit(s.node->dir() + "/data",
              [&](rocksdb::DB* db, rocksdb::ColumnFamilyHandle* cf, rocksdb::ColumnFamilyHandle*) {
                std::string value;
                REQUIRE(db->Get(rocksdb::ReadOptions(), cf, key, &value).ok());
                v1::AuditEntry e;
                REQUIRE(e.ParseFromString(value));
                e.clear_pids();
                e.set_result_count(0);
                REQUIRE(db->Put(rocksdb::WriteOptions(), cf, key, e.SerializeAsString()).ok());
              });
    REQUIRE(s.node->Start());
    CommandResult r = s.As("auditor", {"audit", "verify"});
    CHECK(r.exit_code == 1);
    CHECK(r.out.find("entry 3 was changed") != std::string::npos);
  }
  SECTION("deleted") {
    EditAudit(s.node->dir() + "/data",
              [&](rocksdb::DB* db, rocksdb::ColumnFamilyHandle* cf, rocksdb::ColumnFamilyHandle*) {
                REQUIRE(db->Delete(rocksdb::WriteOptions(), cf, key).ok());
              });
    REQUIRE(s.node->Start());
    CommandResult r = s.As("auditor", {"audit", "verify"});
    CHECK(r.exit_code == 1);
    CHECK(r.out.find("entry 3 is missing") != std::string::npos);
  }
}

// Rewrites the stopped node's trail so that its first `old` entries were made 400 days ago,
// chained and signed anew with the node's own key: what a year of use would have left.
void AgeFirstEntries(Node& node, uint64_t old) {
  absl::StatusOr<sync::SigningKey> key =
      sync::SigningKey::LoadFile(node.dir() + "/keys/" + node.name() + ".key");
  REQUIRE(key.ok());
  int64_t then = absl::ToUnixMillis(absl::Now() - absl::Hours(24 * 400));
  EditAudit(node.dir() + "/data", [&](rocksdb::DB* db, rocksdb::ColumnFamilyHandle* audit,
                                      rocksdb::ColumnFamilyHandle* index) {
    std::unique_ptr<rocksdb::Iterator> it(db->NewIterator(rocksdb::ReadOptions(), audit));
    std::string prev(32, '\0');
    v1::AuditHead head;
    for (it->SeekToFirst(); it->Valid(); it->Next()) {
      v1::AuditEntry e;
      REQUIRE(e.ParseFromString(it->value().ToString()));
      if (e.seq() <= old) e.set_unix_ms(then + static_cast<int64_t>(e.seq()));
      e.set_prev_hash(prev);
      prev = access::EntryHash(e);
      head.set_seq(e.seq());
      REQUIRE(db->Put(rocksdb::WriteOptions(), audit, it->key(), e.SerializeAsString()).ok());
    }
    head.set_hash(prev);
    head.set_node(node.name());
    head.set_key_id(key->key_id());
    head.set_signature(key->SignRaw(access::HeadMessage(head)));
    REQUIRE(db->Put(rocksdb::WriteOptions(), index, "h", head.SerializeAsString()).ok());
  });
}

TEST_CASE("Audit: entries older than audit_keep_days are removed and verify starts after them",
          "[e2e][access]") {
  Secured s;
  for (int i = 0; i < 5; ++i) {
    REQUIRE(s.As("tracer", {"query", "--list", "GREY", "--limit", "1"}).exit_code == 0);
  }
  REQUIRE(s.node->Stop() == 0);
  AgeFirstEntries(*s.node, 3);
  REQUIRE(s.node->Start());  // the default keeps a year; the first sweep runs at start
  REQUIRE(WaitFor(
      [&] { return s.node->log().find("retention removed audit_entries=3") != std::string::npos; },
      std::chrono::seconds(30)));

  CommandResult ok = s.As("auditor", {"audit", "verify", "--public-key", s.node->public_key_hex()});
  INFO(ok.out << ok.err);
  REQUIRE(ok.exit_code == 0);
  CHECK(ok.out.find("\"verified_from_seq\":4,\"removed_by_retention\":3") != std::string::npos);
  CHECK(ok.err.find("the 3 older entries were removed by retention") != std::string::npos);
  CommandResult exported = s.As("auditor", {"audit", "export"});
  CHECK(exported.out.find("\"seq\":3,") == std::string::npos);
  CHECK(exported.out.find("\"method\":\"Audit.Retention\"") != std::string::npos);
  CHECK(MetricValue(s.node->Metrics(), "wlsync_audit_entries_removed_total") == 3);

  // Entry 4 is not old enough: deleting it by hand is named.
  REQUIRE(s.node->Stop() == 0);
  std::string four;
  storage::keys::PutFixed64(&four, 4);
  EditAudit(s.node->dir() + "/data",
            [&](rocksdb::DB* db, rocksdb::ColumnFamilyHandle* audit, rocksdb::ColumnFamilyHandle*) {
              REQUIRE(db->Delete(rocksdb::WriteOptions(), audit, four).ok());
            });
  REQUIRE(s.node->Start());
  CommandResult r = s.As("auditor", {"audit", "verify", "--public-key", s.node->public_key_hex()});
  INFO(r.out << r.err);
  CHECK(r.exit_code == 1);
  CHECK(r.out.find("entry 4 is missing") != std::string::npos);
}

}  // namespace
}  // namespace wlsync::testing
