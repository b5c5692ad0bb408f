#include "tests/fuzz/fuzz_node.h"

#include "base/strings.h"
#include "wlsync/v1/delta.pb.h"

namespace wlsync::fuzz {

TestKeys::TestKeys(const ScratchDir& dir) {
  for (std::string_view node : kNodes) keys_.emplace(std::string(node), TestSigningKey(dir, node));
}

const sync::SigningKey* TestKeys::Find(std::string_view node) const {
  auto it = keys_.find(node);
  return it == keys_.end() ? nullptr : &it->second;
}

FuzzNode::FuzzNode(std::string name)
    : name_(std::move(name)),
      dir_(name_),
      keys_(std::make_unique<TestKeys>(dir_)),
      federation_(TestFederationKey(dir_)) {
  absl::StatusOr<model::Grids> grids = model::Grids::LoadFile(SampleGridsPath());
  WLSYNC_FUZZ_CHECK(grids.ok(), grids.status().message());
  grids_ = *std::move(grids);
  for (std::string_view node : kNodes) {
    absl::Status added = trust_.Add(node, keys_->Get(node).public_key());
    WLSYNC_FUZZ_CHECK(added.ok(), added.message());
  }

  storage::StoreOptions options;
  options.sync = false;  // nothing here must survive a crash of the process
  options.index_tag_key = federation_.DeriveKey("index");
  options.data_key = std::string(32, '\x42');  // records sealed as on a real node
  absl::StatusOr<std::unique_ptr<storage::Store>> store =
      storage::Store::Open(dir_ / "db", options);
  WLSYNC_FUZZ_CHECK(store.ok(), store.status().message());
  store_ = *std::move(store);

  clock_ = std::make_unique<model::HybridClock>(wall_, store_->hlc_high_water());
  planner_ = std::make_unique<model::WritePlanner>(name_, federation_, grids_, policy_);
  sync::WriterOptions writer_options;
  writer_options.group_window = std::chrono::microseconds(0);
  node_key_ = std::make_unique<sync::NodeKey>(keys_->Get(name_));
  writer_ = std::make_unique<sync::Writer>(*store_, *clock_, *planner_, *node_key_, trust_,
                                           writer_options);
  absl::Status started = writer_->Start();
  WLSYNC_FUZZ_CHECK(started.ok(), started.message());
}

FuzzNode::~FuzzNode() {
  writer_->Stop();
  writer_.reset();
  store_.reset();
}

std::string FuzzNode::Sign(std::string_view origin, const std::string& body_bytes) const {
  const sync::SigningKey* key = keys_->Find(origin);
  if (key == nullptr) key = &keys_->Get("guzhen");
  v1::SignedDelta envelope;
  envelope.set_body(body_bytes);
  envelope.set_key_id(key->key_id());
  envelope.set_signature(key->Sign(body_bytes));
  return envelope.SerializeAsString();
}

}  // namespace wlsync::fuzz
