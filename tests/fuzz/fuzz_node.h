// A node without networking for the delta target and its seed generator: a real Store in a
// scratch directory, a fixed wall clock, the default ownership policy, and a trust store
// holding the test keys of every node in kNodes. The receiver of the delta target is
// "waihai"; the seed deltas are written by "guzhen" and "third".
#pragma once

#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "model/grids.h"
#include "model/hlc.h"
#include "model/pid.h"
#include "model/policy.h"
#include "model/writes.h"
#include "storage/store.h"
#include "sync/signer.h"
#include "sync/writer.h"
#include "tests/fuzz/fuzz_support.h"

namespace wlsync::fuzz {

// The jurisdictions of the test federation; each signs with TestSigningKey(node).
inline constexpr std::string_view kNodes[] = {"waihai", "guzhen", "third"};

// 2022-11-26 00:00 UTC, the date of the sample data: every run sees the same clock, so the
// clock-skew guard judges a given input the same way.
inline constexpr int64_t kFixedNowMs = 1669420800000;

class FixedWallClock final : public model::WallClock {
 public:
  int64_t NowMs() const override { return kFixedNowMs; }
};

// The test keys of kNodes, for signing deltas as any of them. Immutable after construction.
class TestKeys {
 public:
  explicit TestKeys(const ScratchDir& dir);
  // The key of `node`, or nullptr when it is not one of kNodes.
  const sync::SigningKey* Find(std::string_view node) const;
  const sync::SigningKey& Get(std::string_view node) const { return *Find(node); }

 private:
  std::map<std::string, sync::SigningKey, std::less<>> keys_;
};

// Lifecycle: construct (opens the store and starts the writer), use, destroy (stops the
// writer, closes the store and removes the scratch directory). Use from one thread.
class FuzzNode {
 public:
  explicit FuzzNode(std::string name);
  ~FuzzNode();
  FuzzNode(const FuzzNode&) = delete;
  FuzzNode& operator=(const FuzzNode&) = delete;

  const std::string& name() const { return name_; }
  const TestKeys& keys() const { return *keys_; }
  const model::WritePlanner& planner() const { return *planner_; }
  storage::Store& store() { return *store_; }
  sync::Writer& writer() { return *writer_; }

  // Serialized SignedDelta signed by `origin`'s test key over `body_bytes` (the unknown
  // origins get guzhen's key, which then does not verify).
  std::string Sign(std::string_view origin, const std::string& body_bytes) const;

 private:
  const std::string name_;
  ScratchDir dir_;
  std::unique_ptr<TestKeys> keys_;
  model::FederationKey federation_;
  model::Grids grids_;
  model::OwnershipPolicy policy_;
  FixedWallClock wall_;
  sync::TrustStore trust_;
  std::unique_ptr<storage::Store> store_;
  std::unique_ptr<model::HybridClock> clock_;
  std::unique_ptr<model::WritePlanner> planner_;
  std::unique_ptr<sync::NodeKey> node_key_;
  std::unique_ptr<sync::Writer> writer_;
};

}  // namespace wlsync::fuzz
