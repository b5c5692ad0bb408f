// Reconciliation between real wlsyncd processes: equal nodes compare by their roots and
// certify; a damaged data dir is found and repaired from signed deltas; state that no
// signed delta backs is reported, never accepted.
#include <grpcpp/grpcpp.h>
#include <rocksdb/db.h>

#include <catch2/catch.hpp>
#include <fstream>
#include <thread>

#include "model/digest.h"
#include "model/merge.h"
#include "net/credentials.h"
#include "net/node_tls.h"
#include "storage/sealing.h"
#include "storage/store.h"
#include "tests/support/cluster.h"
#include "tests/support/raw_db.h"
#include "tests/sync/fixture.h"
#include "wlsync/v1/peer.grpc.pb.h"

namespace wlsync::sync {
namespace {

using wlsync::testing::Node;
using wlsync::testing::TempDir;
using wlsync::testing::WaitFor;

// Commuters `first` to `first + n - 1` of testing::Person.
void WriteCommuters(const std::string& path, int n, int first = 0) {
  std::ofstream out(path);
  out << "id_doc,name,phone,home,residence_address,residence_grid,workplace,work_grid,"
         "category,list,list_reason,last_test_date,last_test_result\n";
  for (int i = first; i < first + n; ++i) {
    v1::PersonFields p = testing::Person(i, "waihai");
    out << p.id_doc() << "," << p.name() << "," << p.phone() << ",waihai," << p.residence_address()
        << ",WH-MAYI-01," << p.workplace() << ",GZ-GUYI-02,COMMUTER,WHITE,,2022-11-26,NEGATIVE\n";
  }
}

long Field(const std::string& json, const std::string& key) {
  size_t at = json.find("\"" + key + "\": ");
  if (at == std::string::npos) return -1;
  at += key.size() + 4;
  if (json[at] == '"') ++at;
  return std::strtol(json.c_str() + at, nullptr, 10);
}

// Rewrites records of a stopped node's data dir through the store's own commit, keeping
// the digest tree consistent, as a bug or a damaged disk might leave them.
void Damage(const Node& node, int every, const std::function<void(v1::Record*)>& change) {
  storage::StoreOptions options;  // the node's own keys, so that it reads what we write
  options.data_key = storage::LoadDataKeyFile(node.dir() + "/keys/data.key").value();
  options.index_tag_key =
      model::FederationKey::LoadFile(node.dir() + "/keys/federation.key")->DeriveKey("index");
  auto store = storage::Store::Open(node.dir() + "/data", options);
  REQUIRE(store.ok());
  storage::CommitBatch batch;
  int i = 0;
  for (auto cursor = (*store)->ScanRecords(); cursor->Valid(); cursor->Next(), ++i) {
    if (i % every != 0) continue;
    v1::Record before = *cursor->record();
    v1::Record after = before;
    change(&after);
    storage::DigestChange d{after.pid(), model::RecordDigest(after), 0};
    model::XorInto(&d.delta, model::RecordDigest(before));
    batch.digests.push_back(d);
    batch.records.push_back(after);
  }
  REQUIRE((*store)->Commit(batch).ok());
}

// Deletes every log entry of `origin`'s streams from a stopped node's data dir with RocksDB
// itself (as a restore from an older copy or a damaged disk might leave it): the node's
// cursors still say it applied them, but a repair has to fetch them from the peer.
void DropLog(const Node& node, const std::string& origin) {
  using wlsync::testing::ColumnFamilies;
  wlsync::testing::WithRawDb(node.dir() + "/data", [&](rocksdb::DB* db, const ColumnFamilies& cfs) {
    CHECK(db->DeleteRange(rocksdb::WriteOptions(), cfs.at("log"), origin + '\0', origin + '\1')
              .ok());
  });
}

struct Federation {
  TempDir root{"reconcile"};
  std::vector<std::unique_ptr<Node>> nodes = wlsync::testing::MakeNodes(root.path(), {"waihai", "guzhen"});
  Node& waihai = *nodes[0];
  Node& guzhen = *nodes[1];

  Federation() {
    wlsync::testing::FullMesh(nodes);
    REQUIRE(waihai.Start());
    REQUIRE(guzhen.Start());
    WriteCommuters(root / "people.csv", 500);
    REQUIRE(waihai.Cli({"import", root / "people.csv"}).exit_code == 0);
    REQUIRE(WaitFor([&] { return guzhen.Records() == 500; }, std::chrono::seconds(20)));
  }
};

TEST_CASE("Reconcile: equal nodes agree by their roots and sign a certificate", "[e2e]") {
  Federation f;
  auto r = f.waihai.Cli({"reconcile", "--peer", "guzhen", "--cert-out", f.root / "cert.json"});
  INFO(r.out << r.err);
  REQUIRE(r.exit_code == 0);
  REQUIRE(r.out.find("\"equal\": true") != std::string::npos);
  REQUIRE(Field(r.out, "records_compared") == 500);
  REQUIRE(Field(r.out, "differing") == 0);
  REQUIRE(Field(r.out, "bytes_sent") + Field(r.out, "bytes_received") < 64 * 1024);

  auto ok = wlsync::testing::Cli({"verify-cert", f.root / "cert.json", "--config", f.waihai.config()});
  INFO(ok.err);
  REQUIRE(ok.exit_code == 0);
  REQUIRE(ok.out.find("valid: waihai and guzhen held the same 500 records") != std::string::npos);

  SECTION("a tampered certificate is refused") {
    std::string cert = wlsync::testing::ReadFile(f.root / "cert.json");
    size_t at = cert.find("\"statement\": \"") + 20;
    cert[at] = cert[at] == 'A' ? 'B' : 'A';
    wlsync::testing::WriteFile(f.root / "bad.json", cert);
    auto bad = wlsync::testing::Cli({"verify-cert", f.root / "bad.json", "--config", f.waihai.config()});
    REQUIRE(bad.exit_code == 1);
  }
  SECTION("without the peer's key it cannot be checked") {
    auto lone = wlsync::testing::Cli({"verify-cert", f.root / "cert.json", "--key",
                                      "waihai=" + f.waihai.public_key_hex()});
    REQUIRE(lone.exit_code == 1);
    REQUIRE(lone.err.find("no public key for node guzhen") != std::string::npos);
  }

  auto reports = f.waihai.Cli({"reconcile-report", "--last", "5"});
  REQUIRE(reports.exit_code == 0);
  REQUIRE(reports.out.find("\"peer\":\"guzhen\"") != std::string::npos);
}

// A Peer stub at `to` that presents `as`'s certificate, as `as`'s own reconciler does.
std::unique_ptr<v1::Peer::Stub> PeerStub(const Node& as, const Node& to) {
  auto tls = net::NodeTls::Load({as.cert(), as.dir() + "/tls/" + as.name() + ".key", as.ca()},
                                {{to.name(), to.cert(), "peers[0].cert"}});
  REQUIRE(tls.ok());
  return v1::Peer::NewStub(grpc::CreateChannel(to.address(),
                                               net::PeerChannelCredentials(*tls, to.name())));
}

TEST_CASE("Reconcile: the peer service sends short digests and only differing groups on request",
          "[e2e]") {
  Federation f;
  std::unique_ptr<v1::Peer::Stub> stub = PeerStub(f.guzhen, f.waihai);
  auto call = [&](auto method, auto request, auto* response) {
    grpc::ClientContext context;
    request.set_node("guzhen");
    return (stub.get()->*method)(&context, request, response);
  };

  // Tree children and bucket entries: 16-byte digests unless fewer are asked for.
  for (uint32_t asked : {0u, 8u, 12u}) {
    v1::TreeRequest tree;
    tree.add_prefixes("");
    tree.set_digest_bytes(asked);
    v1::TreeResponse children;
    REQUIRE(call(&v1::Peer::Stub::GetTree, tree, &children).ok());
    REQUIRE(children.children_size() == 1);
    CHECK(children.children(0).digests().size() == 32 * (asked == 0 ? 16 : asked));
    CHECK(children.root_digest().size() == 16);
  }
  v1::BucketsRequest buckets;
  buckets.add_buckets("aaaa");
  buckets.set_digest_bytes(8);
  v1::BucketsResponse entries;
  REQUIRE(call(&v1::Peer::Stub::GetBuckets, buckets, &entries).ok());
  CHECK(entries.buckets(0).digests().size() == 8u * entries.buckets(0).pids_size());
  for (uint32_t bad : {4u, 17u}) {
    v1::TreeRequest tree;
    tree.set_digest_bytes(bad);
    v1::TreeResponse ignored;
    grpc::Status s = call(&v1::Peer::Stub::GetTree, tree, &ignored);
    CHECK(s.error_code() == grpc::StatusCode::INVALID_ARGUMENT);
    CHECK(s.error_message().find("digest_bytes") != std::string::npos);
  }

  // Record refs: without group digests every group comes with its digest; with them, the
  // matching groups are only named in same_groups.
  std::string pid = model::FederationKey::LoadFile(f.waihai.dir() + "/keys/federation.key")
                        ->Pid(testing::Person(7, "waihai").id_doc());
  v1::RecordRefsRequest plain;
  plain.add_pids(pid);
  v1::RecordRefsResponse full;
  REQUIRE(call(&v1::Peer::Stub::GetRecordRefs, plain, &full).ok());
  REQUIRE(full.records(0).groups_size() == 9);
  std::string mine;
  for (const v1::GroupRef& g : full.records(0).groups()) {
    REQUIRE(g.digest().size() == 16);
    mine += g.digest().substr(0, 8);
  }
  mine[(v1::CONTACT - 1) * 8] ^= 1;  // this node's phone differs
  v1::RecordRefsRequest filtered = plain;
  filtered.set_group_digests(mine);
  v1::RecordRefsResponse diff;
  REQUIRE(call(&v1::Peer::Stub::GetRecordRefs, filtered, &diff).ok());
  REQUIRE(diff.records(0).groups_size() == 1);
  CHECK(diff.records(0).groups(0).group() == v1::CONTACT);
  CHECK(diff.records(0).groups(0).digest().empty());
  CHECK(diff.records(0).groups(0).writer().seq() > 0);
  CHECK(diff.records(0).same_groups() == (0x1ffu & ~(1u << (v1::CONTACT - 1))));

  filtered.set_group_digests(mine.substr(1));
  v1::RecordRefsResponse ignored;
  grpc::Status s = call(&v1::Peer::Stub::GetRecordRefs, filtered, &ignored);
  CHECK(s.error_code() == grpc::StatusCode::INVALID_ARGUMENT);
  CHECK(s.error_message().find("group_digests") != std::string::npos);
}

TEST_CASE("Reconcile: a damaged data dir is found and repaired from signed deltas", "[e2e]") {
  Federation f;
  REQUIRE(f.guzhen.Stop() == 0);
  // Every 10th record loses its phone and list (same stamps, other values); every 25th
  // loses its groups altogether.
  Damage(f.guzhen, 10, [](v1::Record* r) {
    r->mutable_groups(v1::CONTACT - 1)->mutable_value()->set_phone("13000000000");
    r->mutable_groups(v1::LIST - 1)->mutable_value()->set_list("GREY");
  });
  Damage(f.guzhen, 25, [](v1::Record* r) {
    for (auto& g : *r->mutable_groups()) g.Clear();
  });
  REQUIRE(f.guzhen.Start());
  REQUIRE(f.guzhen.Export() != f.waihai.Export());

  auto r = f.guzhen.Cli({"reconcile", "--peer", "waihai"});
  INFO(r.out << r.err);
  REQUIRE(r.exit_code == 0);
  REQUIRE(Field(r.out, "differing") == 60);  // 50 + 20, 10 of them in both sets
  REQUIRE(Field(r.out, "repaired") == 60);
  REQUIRE(r.out.find("\"equal\": true") != std::string::npos);
  REQUIRE(f.guzhen.Export() == f.waihai.Export());
}

TEST_CASE("Reconcile: state that no signed delta backs is reported as unrepairable", "[e2e]") {
  Federation f;
  REQUIRE(f.guzhen.Stop() == 0);
  // Forged newer phones at guzhen, claiming to come from waihai's first delta.
  Damage(f.guzhen, 100, [](v1::Record* r) {
    v1::GroupState* g = r->mutable_groups(v1::CONTACT - 1);
    g->mutable_stamp()->set_hlc(g->stamp().hlc() + 1000);
    g->mutable_value()->set_phone("13000000000");
  });
  REQUIRE(f.guzhen.Start());

  // Waihai never takes the forged state.
  auto r = f.waihai.Cli({"reconcile", "--peer", "guzhen"});
  INFO(r.out << r.err);
  REQUIRE(r.exit_code == 3);
  REQUIRE(Field(r.out, "differing") == 5);
  REQUIRE(Field(r.out, "repaired") == 0);
  REQUIRE(r.out.find("no signed delta held by either node") != std::string::npos);
  REQUIRE(f.waihai.Export().find("13000000000") == std::string::npos);

  // Guzhen sees its forged groups as newer than waihai's: they are not repaired there
  // either, and the run says so.
  auto back = f.guzhen.Cli({"reconcile", "--peer", "waihai"});
  REQUIRE(back.exit_code == 3);
  REQUIRE(Field(back.out, "newer_here") == 5);
}

TEST_CASE(
    "Reconcile: a repair the clock guard holds back is reported with the reason, and a "
    "later run makes it",
    "[e2e]") {
  const std::string faketime = wlsync::testing::FakeTimeLibrary();
  INFO("libfaketime is missing: run deploy/install-deps.sh");
  REQUIRE(!faketime.empty());
  Federation f;
  REQUIRE(f.guzhen.Stop() == 0);
  // Same stamps, other phones: a damaged disk. Then guzhen's clock runs half an hour
  // behind, so the deltas that prove waihai's values are 30 minutes ahead of it.
  Damage(f.guzhen, 50, [](v1::Record* r) {
    r->mutable_groups(v1::CONTACT - 1)->mutable_value()->set_phone("13000000000");
  });
  const std::string offset = f.root / "guzhen.offset";
  wlsync::testing::WriteFile(offset, "-30m\n");
  f.guzhen.SetDaemonEnv("LD_PRELOAD", faketime);
  f.guzhen.SetDaemonEnv("FAKETIME_TIMESTAMP_FILE", offset);
  f.guzhen.SetDaemonEnv("DONT_FAKE_MONOTONIC", "1");
  REQUIRE(f.guzhen.Start());

  auto held = f.guzhen.Cli({"reconcile", "--peer", "waihai"});
  INFO(held.out << held.err);
  CHECK(held.exit_code == 3);
  CHECK(Field(held.out, "differing") == 10);
  CHECK(Field(held.out, "repaired") == 0);
  CHECK(held.out.find("clock guard") != std::string::npos);
  CHECK(held.out.find("left for the next reconciliation") != std::string::npos);
  CHECK(f.guzhen.Export().find("13000000000") != std::string::npos);

  // The clock right again: the next run repairs them.
  REQUIRE(f.guzhen.Stop() == 0);
  f.guzhen.SetDaemonEnv("LD_PRELOAD", "");
  REQUIRE(f.guzhen.Start());
  auto later = f.guzhen.Cli({"reconcile", "--peer", "waihai"});
  INFO(later.out << later.err);
  CHECK(later.exit_code == 0);
  CHECK(Field(later.out, "repaired") == 10);
  CHECK(f.guzhen.Export() == f.waihai.Export());
}

TEST_CASE("Reconcile: deltas in flight during live writes are not reported as divergence",
          "[e2e]") {
  Federation f;
  std::thread writer([&] {
    for (int round = 0; round < 4; ++round) {
      std::string path = f.root / ("live" + std::to_string(round) + ".csv");
      std::ofstream out(path);
      out << "id_doc,name,phone,home,residence_address,residence_grid,workplace,work_grid,"
             "category,list,list_reason,last_test_date,last_test_result\n";
      for (int i = 1000 + round * 500; i < 1500 + round * 500; ++i) {
        v1::PersonFields p = testing::Person(i, "waihai");
        out << p.id_doc() << "," << p.name() << "," << p.phone() << ",waihai,"
            << p.residence_address() << ",WH-MAYI-01,x,GZ-GUYI-02,COMMUTER,WHITE,,,\n";
      }
      out.close();
      f.waihai.Cli({"import", path, "--batch-rows", "8"});
    }
  });
  std::vector<std::string> outs;
  for (int i = 0; i < 3; ++i) outs.push_back(f.guzhen.Cli({"reconcile", "--peer", "waihai"}).out);
  writer.join();
  for (const std::string& out : outs) {
    INFO(out);
    REQUIRE(Field(out, "differing") == 0);
    REQUIRE(out.find("\"unrepairable\": []") != std::string::npos);
    REQUIRE(out.find("\"error\": \"\"") != std::string::npos);
  }
  REQUIRE(WaitFor([&] { return f.guzhen.Records() == 2500; }, std::chrono::seconds(30)));
  auto final_run = f.guzhen.Cli({"reconcile", "--peer", "waihai"});
  REQUIRE(final_run.exit_code == 0);
  REQUIRE(final_run.out.find("\"equal\": true") != std::string::npos);
}

TEST_CASE("Reconcile: deltas the log lacks come from the peer, past its per-call limits", "[e2e]") {
  Federation f;
  // 6,000 more people in deltas of about 1 MiB (more bytes than one GetDeltas reply
  // carries), then 500 in 20 imports of their own (more deltas than one call may name).
  WriteCommuters(f.root / "more.csv", 6000, 500);
  REQUIRE(f.waihai.Cli({"import", f.root / "more.csv"}).exit_code == 0);
  for (int i = 0; i < 20; ++i) {
    std::string path = f.root / ("small" + std::to_string(i) + ".csv");
    WriteCommuters(path, 25, 6500 + i * 25);
    REQUIRE(f.waihai.Cli({"import", path}).exit_code == 0);
  }
  REQUIRE(WaitFor([&] { return f.guzhen.Records() == 7000; }, std::chrono::seconds(60)));
  REQUIRE(f.guzhen.Stop() == 0);
  Damage(f.guzhen, 7, [](v1::Record* r) {
    for (auto& g : *r->mutable_groups()) g.Clear();
  });
  DropLog(f.guzhen, "waihai");
  REQUIRE(f.guzhen.Start());
  REQUIRE(f.guzhen.Export() != f.waihai.Export());

  auto r = f.guzhen.Cli({"reconcile", "--peer", "waihai"});
  INFO(r.out << r.err);
  REQUIRE(r.exit_code == 0);
  CHECK(r.out.find("\"error\": \"\"") != std::string::npos);
  CHECK(Field(r.out, "differing") == 1000);  // every 7th of 7,000
  CHECK(Field(r.out, "repaired") == 1000);
  CHECK(r.out.find("\"equal\": true") != std::string::npos);
  CHECK(f.guzhen.Export() == f.waihai.Export());
}

}  // namespace
}  // namespace wlsync::sync
