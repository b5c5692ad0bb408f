// wlsync-bench-reconcile-fill: prepares stopped nodes for bench/reconcile_bench.sh without the
// gRPC import, through the same write path a running node uses, so that every record is
// backed by a real signed delta and reconciliation can repair from it.
//
//   fill   --node DIR --records N [--people-per-delta 455]
//          drives a real sync::Writer over DIR's store with local upserts of N synthetic
//          people (9 events each), one WriteLocal call per 455 people, two calls in flight;
//          the writer's own sizing rules decide how many calls share a delta.
//   copy   --from DIR --to DIR
//          applies every delta of the source node's own streams to the target node through
//          the target's Writer::ApplyRemote, as a pull would, without the network.
//   damage --node DIR --count K --seed S
//          rewrites K random records in place: same stamps, another phone and list (what a
//          bug or a bad disk might leave, and what the node's own log can prove wrong).
//
// DIR is a node made by `wlsync init` (config.toml, data/, keys/NAME.key, grids.csv); the
// node's name is read from the key file name. Every command prints one line of key=value
// pairs. The daemon of DIR must be stopped: the store is opened directly.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <deque>
#include <filesystem>
#include <future>
#include <memory>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "CLI/CLI.hpp"
#include "absl/strings/string_view.h"
#include "base/logging.h"
#include "model/digest.h"
#include "model/grids.h"
#include "model/hlc.h"
#include "model/merge.h"
#include "model/pid.h"
#include "model/policy.h"
#include "model/validate.h"
#include "model/writes.h"
#include "storage/digest_tree.h"
#include "storage/sealing.h"
#include "storage/store.h"
#include "sync/signer.h"
#include "sync/writer.h"

namespace wlsync::bench {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

double Seconds(Clock::time_point since) {
  return std::chrono::duration<double>(Clock::now() - since).count();
}

int Fail(std::string_view what, absl::string_view message) {
  std::fprintf(stderr, "wlsync-bench-reconcile-fill: %.*s: %.*s\n", static_cast<int>(what.size()),
               what.data(), static_cast<int>(message.size()), message.data());
  return 1;
}

// The files of a node directory made by `wlsync init`.
struct NodeDir {
  std::string dir;
  std::string name;

  static absl::StatusOr<NodeDir> Find(const std::string& dir) {
    std::error_code ec;
    for (const auto& entry : fs::directory_iterator(fs::path(dir) / "keys", ec)) {
      std::string file = entry.path().filename().string();
      // keys/ also holds the federation key and the data key (encryption at rest).
      if (file.ends_with(".key") && file != "federation.key" && file != "data.key") {
        return NodeDir{dir, file.substr(0, file.size() - 4)};
      }
    }
    return absl::NotFoundError(dir + ": no keys/NAME.key (made by `wlsync init`?)");
  }
  std::string data() const { return dir + "/data"; }
  std::string key() const { return dir + "/keys/" + name + ".key"; }
  std::string federation_key() const { return dir + "/keys/federation.key"; }
  std::string grids() const { return dir + "/grids.csv"; }

  // The options the node's daemon opens its store with: the index tag key comes from the
  // federation key (an open with another key would rebuild every index, here and again at
  // the daemon's next start), and the data key seals records as the daemon does (a store
  // sealed by the daemon refuses an open without it).
  absl::StatusOr<storage::StoreOptions> store_options() const {
    auto fed = model::FederationKey::LoadFile(federation_key());
    if (!fed.ok()) return fed.status();
    storage::StoreOptions so;
    so.index_tag_key = fed->DeriveKey("index");
    std::string data_key_file = dir + "/keys/data.key";
    if (std::filesystem::exists(data_key_file)) {
      absl::StatusOr<std::string> key = storage::LoadDataKeyFile(data_key_file);
      if (!key.ok()) return key.status();
      so.data_key = *key;
    }
    return so;
  }
};

// Everything a Writer needs, loaded from a node directory. Lifecycle: Open, then writer()
// until destruction, which stops the writer before closing the store.
class OfflineNode {
 public:
  static absl::StatusOr<std::unique_ptr<OfflineNode>> Open(const NodeDir& dir,
                                                           const NodeDir* trusted = nullptr) {
    auto n = std::unique_ptr<OfflineNode>(new OfflineNode(dir));
    auto fed = model::FederationKey::LoadFile(dir.federation_key());
    auto key = sync::SigningKey::LoadFile(dir.key());
    auto grids = model::Grids::LoadFile(dir.grids());
    if (!fed.ok()) return fed.status();
    if (!key.ok()) return key.status();
    if (!grids.ok()) return grids.status();
    n->federation_.emplace(*fed);
    n->key_.emplace(*key);
    n->grids_ = std::move(*grids);
    if (absl::Status s = n->trust_.Add(dir.name, n->key_->public_key()); !s.ok()) return s;
    if (trusted != nullptr) {
      auto hex = model::ReadSmallFile(trusted->key() + ".pub");
      if (!hex.ok()) return hex.status();
      while (!hex->empty() && (hex->back() == '\n' || hex->back() == '\r')) hex->pop_back();
      auto pub = sync::ParsePublicKeyHex(*hex, "peer public key");
      if (!pub.ok()) return pub.status();
      if (absl::Status s = n->trust_.Add(trusted->name, *pub); !s.ok()) return s;
    }

    // Skipping the WAL sync changes no byte of what is stored, only how long the fill takes.
    auto so = dir.store_options();
    if (!so.ok()) return so.status();
    so->sync = false;
    auto store = storage::Store::Open(dir.data(), *so);
    if (!store.ok()) return store.status();
    n->store_ = std::move(*store);
    n->clock_ = std::make_unique<model::HybridClock>(n->wall_, n->store_->hlc_high_water());
    n->planner_ = std::make_unique<model::WritePlanner>(dir.name, *n->federation_, n->grids_,
                                                        n->policy_);
    sync::WriterOptions wo;
    wo.group_window = std::chrono::microseconds(0);  // never wait for more requests
    n->node_key_ = std::make_unique<sync::NodeKey>(*n->key_);
    n->writer_ = std::make_unique<sync::Writer>(*n->store_, *n->clock_, *n->planner_,
                                                *n->node_key_, n->trust_, wo);
    if (absl::Status s = n->writer_->Start(); !s.ok()) return s;
    return n;
  }

  ~OfflineNode() {
    if (writer_) writer_->Stop();
  }

  storage::Store& store() { return *store_; }
  sync::Writer& writer() { return *writer_; }
  const model::WritePlanner& planner() const { return *planner_; }
  const model::Grids& grids() const { return grids_; }

 private:
  explicit OfflineNode(NodeDir dir) : dir_(std::move(dir)) {}

  NodeDir dir_;
  model::SystemWallClock wall_;
  std::optional<model::FederationKey> federation_;
  std::optional<sync::SigningKey> key_;
  std::unique_ptr<sync::NodeKey> node_key_;
  model::Grids grids_;
  model::OwnershipPolicy policy_;
  sync::TrustStore trust_;
  std::unique_ptr<storage::Store> store_;
  std::unique_ptr<model::HybridClock> clock_;
  std::unique_ptr<model::WritePlanner> planner_;
  std::unique_ptr<sync::Writer> writer_;
};

// Synthetic people of one home jurisdiction: person n is born on day n / 1000 after
// 1950-01-01 with sequence number n % 1000, so identity numbers never repeat (up to ~50M).
class People {
 public:
  People(const model::Grids& grids, std::string home) : home_(std::move(home)) {
    for (const model::GridInfo& g : grids.entries()) {
      (g.jurisdiction == home_ ? residence_ : work_).push_back(g.grid);
    }
    if (work_.empty()) work_ = residence_;
  }

  bool ok() const { return !residence_.empty(); }

  v1::PersonFields Make(int64_t n) const {
    static constexpr const char* kFamily[] = {"陈", "李", "黄", "张", "梁", "林", "刘", "吴"};
    static constexpr const char* kGiven[] = {"伟", "敏", "杰", "秀", "豪", "婷", "嘉", "俊",
                                             "华", "玲", "健", "丽", "志", "燕", "文", "芳"};
    static constexpr const char* kWork[] = {"五金厂", "灯具厂", "物流中心", "模具厂"};
    uint64_t h = static_cast<uint64_t>(n) * 0x9E3779B97F4A7C15ull;
    v1::PersonFields p;
    p.set_id_doc(IdDoc(n));
    p.set_name(std::string(kFamily[h % 8]) + kGiven[(h >> 8) % 16] + kGiven[(h >> 16) % 16]);
    p.set_phone("13" + std::to_string(800000000 + static_cast<int64_t>((h >> 24) % 200000000)));
    p.set_home(home_);
    p.set_residence_address("第" + std::to_string(1 + (h >> 32) % 40) + "巷" +
                            std::to_string(1 + n % 97) + "号");
    p.set_residence_grid(residence_[(h >> 40) % residence_.size()]);
    p.set_workplace(kWork[(h >> 44) % 4]);
    p.set_work_grid(work_[(h >> 48) % work_.size()]);
    p.set_category("COMMUTER");
    p.set_list("WHITE");
    p.set_last_test_date("2022-11-2" + std::to_string(6 + (h >> 52) % 3));
    p.set_last_test_result("NEGATIVE");
    return p;
  }

 private:
  static std::string IdDoc(int64_t n) {
    static const std::chrono::sys_days kBase = std::chrono::year{1950} / 1 / 1;
    std::chrono::year_month_day d{kBase + std::chrono::days(n / 1000)};
    char digits[32];
    std::snprintf(digits, sizeof(digits), "440704%04d%02u%02u%03d", static_cast<int>(d.year()),
                  static_cast<unsigned>(d.month()), static_cast<unsigned>(d.day()),
                  static_cast<int>(n % 1000));
    std::string id(digits, 17);
    id.push_back(model::IdDocCheckChar(id));
    return id;
  }

  std::string home_;
  std::vector<std::string> residence_;
  std::vector<std::string> work_;
};

int Fill(const std::string& dir, int64_t records, int per_delta) {
  auto where = NodeDir::Find(dir);
  if (!where.ok()) return Fail("fill", where.status().message());
  auto node = OfflineNode::Open(*where);
  if (!node.ok()) return Fail("fill", node.status().message());
  People people((*node)->grids(), where->name);
  if (!people.ok()) return Fail("fill", "grids: no grid of jurisdiction " + where->name);

  // Two calls in flight: this thread validates and derives pids while the writer commits.
  Clock::time_point start = Clock::now();
  std::deque<std::future<std::vector<sync::LocalResult>>> in_flight;
  int64_t refused = 0;
  auto drain_one = [&] {
    for (const sync::LocalResult& r : in_flight.front().get()) refused += r.status.ok() ? 0 : 1;
    in_flight.pop_front();
  };
  for (int64_t first = 0; first < records; first += per_delta) {
    std::vector<sync::LocalWrite> writes;
    for (int64_t n = first; n < std::min(records, first + per_delta); ++n) {
      sync::LocalWrite w;
      w.fields = people.Make(n);
      auto pid = (*node)->planner().PrepareUpsert(&w.fields);
      if (!pid.ok()) return Fail("fill", pid.status().message());
      w.pid = *pid;
      writes.push_back(std::move(w));
    }
    in_flight.push_back((*node)->writer().SubmitLocal(std::move(writes)));
    if (in_flight.size() >= 2) drain_one();
    if (refused > 0) return Fail("fill", "the writer refused a write");
  }
  while (!in_flight.empty()) drain_one();
  const sync::WriterStats& stats = (*node)->writer().stats();
  std::printf("node=%s records=%lld deltas=%llu events=%llu refused=%lld seconds=%.1f\n",
              where->name.c_str(), static_cast<long long>((*node)->store().counts().records),
              static_cast<unsigned long long>(stats.local_deltas.load()),
              static_cast<unsigned long long>(stats.local_events.load()),
              static_cast<long long>(refused), Seconds(start));
  return refused == 0 ? 0 : 1;
}

int Copy(const std::string& from_dir, const std::string& to_dir) {
  auto from = NodeDir::Find(from_dir);
  auto to = NodeDir::Find(to_dir);
  if (!from.ok()) return Fail("copy", from.status().message());
  if (!to.ok()) return Fail("copy", to.status().message());
  auto source_options = from->store_options();
  if (!source_options.ok()) return Fail("copy", source_options.status().message());
  auto source = storage::Store::Open(from->data(), *source_options);
  if (!source.ok()) return Fail("copy", source.status().message());
  auto target = OfflineNode::Open(*to, &*from);
  if (!target.ok()) return Fail("copy", target.status().message());

  // Every open of a store starts a new epoch, so the fill's deltas are in the source's
  // streams of earlier epochs: copy all streams the source originated.
  Clock::time_point start = Clock::now();
  auto streams = (*source)->Streams();
  if (!streams.ok()) return Fail("copy", streams.status().message());
  uint64_t deltas = 0, bytes = 0;
  for (const auto& [stream, state] : *streams) {
    if (stream.origin != from->name) continue;
    for (uint64_t after = 0; after < state.seq;) {
      auto batch = (*source)->ReadLog(stream, after, 64);
      if (!batch.ok()) return Fail("copy", batch.status().message());
      if (batch->empty()) return Fail("copy", "the source's log ends before its cursor");
      for (auto& [seq, signed_delta] : *batch) {
        bytes += signed_delta.size();
        sync::RemoteResult r = (*target)->writer().ApplyRemote(std::move(signed_delta));
        if (r.outcome != sync::RemoteOutcome::kApplied &&
            r.outcome != sync::RemoteOutcome::kDuplicate) {
          return Fail("copy", std::string(sync::RemoteOutcomeName(r.outcome)) + ": " +
                                  std::string(r.status.message()));
        }
        after = seq;
        ++deltas;
      }
    }
  }
  if (deltas == 0) return Fail("copy", "the source holds no delta of its own");
  std::printf("from=%s to=%s deltas=%llu delta_bytes=%llu records=%lld seconds=%.1f\n",
              from->name.c_str(), to->name.c_str(), static_cast<unsigned long long>(deltas),
              static_cast<unsigned long long>(bytes),
              static_cast<long long>((*target)->store().counts().records), Seconds(start));
  return 0;
}

// Picks `count` distinct records at random (a random bucket, then a random record of it).
std::vector<v1::Record> PickRecords(const storage::Store& store, int64_t count, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::set<std::string> taken;
  std::vector<v1::Record> out;
  for (int64_t tries = 0; static_cast<int64_t>(out.size()) < count && tries < count * 100; ++tries) {
    std::string bucket;
    for (int i = 0; i < storage::kTreeDepth; ++i) {
      bucket.push_back(storage::DigestTree::ValueChar(static_cast<int>(rng() % storage::kFanout)));
    }
    std::vector<v1::Record> in_bucket;
    for (auto c = store.ScanRecords(bucket); c->Valid(); c->Next()) {
      if (auto r = c->record(); r.ok()) in_bucket.push_back(*std::move(r));
    }
    if (in_bucket.empty()) continue;
    v1::Record& pick = in_bucket[rng() % in_bucket.size()];
    if (taken.insert(pick.pid()).second) out.push_back(std::move(pick));
  }
  return out;
}

int Damage(const std::string& dir, int64_t count, uint64_t seed) {
  auto where = NodeDir::Find(dir);
  if (!where.ok()) return Fail("damage", where.status().message());
  auto options = where->store_options();
  if (!options.ok()) return Fail("damage", options.status().message());
  auto store = storage::Store::Open(where->data(), *options);
  if (!store.ok()) return Fail("damage", store.status().message());

  Clock::time_point start = Clock::now();
  std::vector<v1::Record> picked = PickRecords(**store, count, seed);
  storage::CommitBatch batch;
  uint64_t record_bytes = 0, changed_group_bytes = 0;
  for (const v1::Record& before : picked) {
    v1::Record after = before;
    after.mutable_groups(v1::CONTACT - 1)->mutable_value()->set_phone("13000000000");
    after.mutable_groups(v1::LIST - 1)->mutable_value()->set_list("GREY");
    record_bytes += model::SerializeDeterministic(before).size();
    changed_group_bytes += before.groups(v1::CONTACT - 1).ByteSizeLong() +
                           before.groups(v1::LIST - 1).ByteSizeLong();
    storage::DigestChange d{after.pid(), model::RecordDigest(after), 0};
    model::XorInto(&d.delta, model::RecordDigest(before));
    batch.digests.push_back(std::move(d));
    batch.records.push_back(std::move(after));
  }
  // Keep the counts true to the damaged state (white became grey).
  batch.counts_delta.registered_white = -static_cast<int64_t>(picked.size());
  batch.counts_delta.registered_grey = static_cast<int64_t>(picked.size());
  if (absl::Status s = (*store)->Commit(batch); !s.ok()) return Fail("damage", s.message());
  std::printf("node=%s damaged=%zu record_bytes=%llu changed_group_bytes=%llu seconds=%.1f\n",
              where->name.c_str(), picked.size(), static_cast<unsigned long long>(record_bytes),
              static_cast<unsigned long long>(changed_group_bytes), Seconds(start));
  return static_cast<int64_t>(picked.size()) == count ? 0 : 1;
}

}  // namespace
}  // namespace wlsync::bench

int main(int argc, char** argv) {
  CLI::App app{"wlsync-bench-reconcile-fill: prepares stopped nodes for reconcile_bench.sh"};
  app.require_subcommand(1);
  std::string node, from, to;
  int64_t records = 0, count = 0;
  int per_delta = 455;
  uint64_t seed = 1;

  CLI::App* fill = app.add_subcommand("fill", "local upserts of N people through a Writer");
  fill->add_option("--node", node, "node directory (wlsync init)")->required();
  fill->add_option("--records", records, "people to write")->required()->check(CLI::PositiveNumber);
  fill->add_option("--people-per-delta", per_delta, "people per WriteLocal call (9 events each)")
      ->check(CLI::Range(1, 455));
  CLI::App* copy = app.add_subcommand("copy", "apply the source's own stream at the target");
  copy->add_option("--from", from, "source node directory")->required();
  copy->add_option("--to", to, "target node directory")->required();
  CLI::App* damage = app.add_subcommand("damage", "rewrite K random records in place");
  damage->add_option("--node", node, "node directory")->required();
  damage->add_option("--count", count, "records to damage")->required()->check(CLI::PositiveNumber);
  damage->add_option("--seed", seed, "which records");
  CLI11_PARSE(app, argc, argv);

  wlsync::base::ConfigureLogging(wlsync::base::LogFormat::kText, "warn");
  if (fill->parsed()) return wlsync::bench::Fill(node, records, per_delta);
  if (copy->parsed()) return wlsync::bench::Copy(from, to);
  return wlsync::bench::Damage(node, count, seed);
}
