// In-process nodes for sync tests: a real Store, clock, planner, signing key and Writer per
// node, with an injectable wall clock, so deltas can be made at one node and fed to another.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "model/grids.h"
#include "model/hlc.h"
#include "model/pid.h"
#include "model/policy.h"
#include "model/writes.h"
#include "storage/store.h"
#include "sync/signer.h"
#include "sync/writer.h"
#include "tests/support/cluster.h"
#include "wlsync/v1/delta.pb.h"

namespace wlsync::sync::testing {

class FakeWallClock final : public model::WallClock {
 public:
  int64_t NowMs() const override { return now_ms + offset_ms; }
  int64_t now_ms = model::SystemWallClock().NowMs();
  int64_t offset_ms = 0;
};

// Grids of two jurisdictions, enough for valid people of either.
model::Grids TestGrids();

// A valid person of `home` whose identity number is built from `n`.
v1::PersonFields Person(int n, const std::string& home);

// A node without networking. Not thread safe except through its Writer.
class TestNode {
 public:
  // `data_dir`: where the store lives (default: a temporary directory of the node's own).
  TestNode(std::string name, const model::FederationKey& federation, const model::Grids& grids,
           std::string data_dir = "");
  ~TestNode();

  // Adds `other`'s public key to this node's trust store (before Start).
  void Trust(const TestNode& other);
  void Start();
  // Stops the writer, closes and reopens the store, and starts a new writer on it: what a
  // restart of the node keeps. The trust store stays as it is.
  void Restart();

  // The options Start gives the writer (a 500 us group window unless changed).
  WriterOptions writer_options;

  const std::string& name() const { return name_; }
  storage::Store& store() { return *store_; }
  Writer& writer() { return *writer_; }
  // The key the node started with; node_key() holds the current one after a rotation.
  const SigningKey& key() const { return key_; }
  NodeKey& node_key() { return node_key_; }
  TrustStore& trust() { return trust_; }
  const model::WritePlanner& planner() const { return *planner_; }
  FakeWallClock& wall() { return wall_; }

  // Registers people through the writer; REQUIRE-free, returns the results.
  std::vector<LocalResult> Register(const std::vector<v1::PersonFields>& people);
  std::vector<LocalResult> Set(const std::string& pid, const std::string& field,
                               const std::string& value);
  std::vector<LocalResult> Deregister(const std::string& pid);

  // This node's own deltas with seq > after, serialized.
  std::vector<std::string> OwnDeltas(uint64_t after = 0);
  // Every record, serialized deterministically, in pid order.
  std::vector<std::string> Dump();

 private:
  std::string name_;
  wlsync::testing::TempDir dir_;
  std::string data_dir_;
  FakeWallClock wall_;
  const model::Grids& grids_;
  model::OwnershipPolicy policy_;
  SigningKey key_;
  NodeKey node_key_;
  TrustStore trust_;
  std::unique_ptr<storage::Store> store_;
  std::unique_ptr<model::HybridClock> clock_;
  std::unique_ptr<model::WritePlanner> planner_;
  std::unique_ptr<Writer> writer_;
};

// Two nodes, waihai and guzhen, trusting each other, started.
struct Pair {
  model::FederationKey federation = model::FederationKey::Generate();
  model::Grids grids = TestGrids();
  TestNode waihai{"waihai", federation, grids};
  TestNode guzhen{"guzhen", federation, grids};

  Pair();
  // Feeds waihai's own deltas with seq > after to guzhen; returns the results.
  std::vector<RemoteResult> ShipResults(uint64_t after = 0);
  // The same, the outcomes only.
  std::vector<RemoteOutcome> Ship(uint64_t after = 0);
};

// Signs `body` with `key` into a serialized SignedDelta.
std::string SignDelta(const v1::DeltaBody& body, const SigningKey& key);

}  // namespace wlsync::sync::testing
