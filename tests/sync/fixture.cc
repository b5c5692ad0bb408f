#include "tests/sync/fixture.h"

#include "model/merge.h"
#include "model/validate.h"

namespace wlsync::sync::testing {

model::Grids TestGrids() {
  return model::Grids::FromLists({{"WH-MAYI-01", "waihai"}, {"GZ-GUYI-02", "guzhen"},
                                  {"ZS-TEST-01", "third"}});
}

v1::PersonFields Person(int n, const std::string& home) {
  char digits[32];
  std::snprintf(digits, sizeof(digits), "44070419900101%03d", n % 1000);
  std::string id(digits);
  id.resize(17);
  id.push_back(model::IdDocCheckChar(id));
  // Vary the birth day to get more than 1000 people.
  if (n >= 1000) {
    std::snprintf(digits, sizeof(digits), "4407041990%02d%02d%03d", 1 + (n / 1000) % 12,
                  1 + (n / 12000) % 28, n % 1000);
    id = std::string(digits).substr(0, 17);
    id.push_back(model::IdDocCheckChar(id));
  }
  v1::PersonFields p;
  p.set_id_doc(id);
  p.set_name("测试" + std::to_string(n));
  p.set_phone("138" + std::to_string(10000000 + n % 90000000));
  p.set_home(home);
  p.set_residence_address("测试村" + std::to_string(n) + "号");
  p.set_residence_grid(home == "guzhen" ? "GZ-GUYI-02" : "WH-MAYI-01");
  p.set_workplace("测试厂");
  p.set_work_grid("GZ-GUYI-02");
  p.set_category("COMMUTER");
  p.set_list("WHITE");
  p.set_last_test_date("2022-11-26");
  p.set_last_test_result("NEGATIVE");
  return p;
}

TestNode::TestNode(std::string name, const model::FederationKey& federation,
                   const model::Grids& grids, std::string data_dir)
    : name_(std::move(name)),
      dir_("sync-" + name_),
      data_dir_(data_dir.empty() ? dir_ / "db" : std::move(data_dir)),
      grids_(grids),
      key_(SigningKey::Generate()),
      node_key_(key_) {
  writer_options.group_window = std::chrono::microseconds(500);
  auto store = storage::Store::Open(data_dir_, storage::StoreOptions{});
  store_ = std::move(*store);
  clock_ = std::make_unique<model::HybridClock>(wall_, store_->hlc_high_water());
  planner_ = std::make_unique<model::WritePlanner>(name_, federation, grids_, policy_);
  (void)trust_.Add(name_, key_.public_key());
}

TestNode::~TestNode() {
  if (writer_) writer_->Stop();
}

void TestNode::Trust(const TestNode& other) { (void)trust_.Add(other.name(), other.key().public_key()); }

void TestNode::Start() {
  writer_ = std::make_unique<Writer>(*store_, *clock_, *planner_, node_key_, trust_,
                                     writer_options);
  (void)writer_->Start();
}

void TestNode::Restart() {
  writer_->Stop();
  writer_.reset();
  clock_.reset();
  store_.reset();
  auto store = storage::Store::Open(data_dir_, storage::StoreOptions{});
  store_ = std::move(*store);
  clock_ = std::make_unique<model::HybridClock>(wall_, store_->hlc_high_water());
  Start();
}

std::vector<LocalResult> TestNode::Register(const std::vector<v1::PersonFields>& people) {
  std::vector<LocalWrite> writes;
  for (v1::PersonFields p : people) {
    LocalWrite w;
    w.kind = LocalWrite::Kind::kUpsert;
    absl::StatusOr<std::string> pid = planner_->PrepareUpsert(&p);
    w.pid = pid.ok() ? *pid : "";
    w.fields = p;
    writes.push_back(std::move(w));
  }
  return writer_->WriteLocal(std::move(writes));
}

std::vector<LocalResult> TestNode::Set(const std::string& pid, const std::string& field,
                                       const std::string& value) {
  LocalWrite w;
  w.kind = LocalWrite::Kind::kUpdate;
  w.pid = pid;
  w.edits.push_back({field, value});
  std::vector<LocalWrite> writes;
  writes.push_back(std::move(w));
  return writer_->WriteLocal(std::move(writes));
}

std::vector<LocalResult> TestNode::Deregister(const std::string& pid) {
  LocalWrite w;
  w.kind = LocalWrite::Kind::kDeregister;
  w.pid = pid;
  std::vector<LocalWrite> writes;
  writes.push_back(std::move(w));
  return writer_->WriteLocal(std::move(writes));
}

std::vector<std::string> TestNode::OwnDeltas(uint64_t after) {
  std::vector<std::string> out;
  auto log = store_->ReadLog(writer_->own_stream(), after, 1 << 20);
  for (auto& [seq, bytes] : *log) out.push_back(bytes);
  return out;
}

std::vector<std::string> TestNode::Dump() {
  std::vector<std::string> out;
  auto cursor = store_->ScanRecords();
  for (; cursor->Valid(); cursor->Next()) {
    out.push_back(model::SerializeDeterministic(*cursor->record()));
  }
  return out;
}

Pair::Pair() {
  waihai.Trust(guzhen);
  guzhen.Trust(waihai);
  waihai.Start();
  guzhen.Start();
}

std::vector<RemoteResult> Pair::ShipResults(uint64_t after) {
  std::vector<RemoteResult> out;
  for (std::string& d : waihai.OwnDeltas(after)) out.push_back(guzhen.writer().ApplyRemote(d));
  return out;
}

std::vector<RemoteOutcome> Pair::Ship(uint64_t after) {
  std::vector<RemoteOutcome> out;
  for (const RemoteResult& r : ShipResults(after)) out.push_back(r.outcome);
  return out;
}

std::string SignDelta(const v1::DeltaBody& body, const SigningKey& key) {
  std::string bytes = body.SerializeAsString();
  v1::SignedDelta envelope;
  envelope.set_body(bytes);
  envelope.set_key_id(key.key_id());
  envelope.set_signature(key.Sign(bytes));
  return envelope.SerializeAsString();
}

}  // namespace wlsync::sync::testing
