// Support for the fault suite: clients that write through the real client API and remember
// exactly which writes the node acknowledged, and checks that two nodes hold the same
// records and the same streams. Used by tests/faults/*.
#pragma once

#include <atomic>
#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "tests/support/cluster.h"
#include "wlsync/v1/registry.pb.h"

namespace wlsync::testing {

// Data rows of a generated registry (wlsync-gen, synthetic people), as ImportRows.
std::vector<v1::ImportRow> GeneratedRows(const std::string& dir, int rows, int seed);

// Imports rows at one node over the Import stream, a batch every `pause`: a row counts as
// acknowledged once the node's answer for its batch says CREATED, UPDATED or UNCHANGED.
// Run returns once `stop` is set or the rows run out and every answer is in, or when the
// stream fails (the node died). Not thread safe; one thread runs it.
class AckingImporter {
 public:
  AckingImporter(const Node& node, const std::vector<v1::ImportRow>& rows, size_t begin,
                 size_t end, size_t batch_rows = 20,
                 std::chrono::milliseconds pause = std::chrono::milliseconds(10));

  void Run(const std::atomic<bool>& stop);

  // Where the next Run starts (rows before it were sent, acknowledged or not).
  size_t next() const { return next_; }
  const std::set<std::string>& acked() const { return acked_; }
  // Rows the node refused (never expected with generated rows).
  const std::vector<std::string>& refusals() const { return refusals_; }

 private:
  const Node& node_;
  const std::vector<v1::ImportRow>& rows_;
  size_t next_;
  const size_t end_;
  const size_t batch_rows_;
  const std::chrono::milliseconds pause_;
  std::set<std::string> acked_;
  std::vector<std::string> refusals_;
};

// The bearer token in DIR/ROLE.token, without its line break.
std::string TokenOf(const Node& node, const std::string& role);

// The node's status, parsed; nothing when it does not answer.
std::optional<v1::StatusResponse> Status(const Node& node);
// Stream -> (seq, events) as the node holds it, keyed "origin/epoch".
std::map<std::string, std::pair<uint64_t, uint64_t>> Streams(const v1::StatusResponse& status);
// The pids of `export` (jsonl).
std::set<std::string> ExportedPids(const std::string& jsonl);

}  // namespace wlsync::testing
