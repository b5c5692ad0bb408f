// A forked stream end to end, with real nodes: a fork recorded in the data dir is loaded at
// start, refuses the stream's deltas and shows in status; `wlsync fork list` shows it to the
// admin only, and `wlsync fork clear` lifts it at once, is audited, and stays cleared after
// a restart. The fork is written into the stopped node's store by the test: a node never
// signs two bodies for one place of its stream, so a real fork needs a stolen key.
#include <catch2/catch.hpp>
#include <string>
#include <thread>

#include "daemon/config.h"
#include "model/pid.h"
#include "storage/sealing.h"
#include "storage/store.h"
#include "sync/forks.h"
#include "tests/support/cluster.h"

namespace wlsync::testing {
namespace {

using std::chrono::seconds;

// Opens the stopped node's store as wlsyncd does and records a fork of the longest stream
// of `origin` it holds. Returns the stream's name.
std::string PlantFork(const Node& node, const std::string& origin) {
  absl::StatusOr<daemon::Config> config = daemon::LoadConfig(node.config());
  REQUIRE(config.ok());
  absl::StatusOr<model::FederationKey> federation =
      model::FederationKey::LoadFile(config->federation_key);
  REQUIRE(federation.ok());
  storage::StoreOptions options;
  options.index_tag_key = federation->DeriveKey("index");
  absl::StatusOr<std::string> data_key = storage::LoadDataKeyFile(config->data_key);
  REQUIRE(data_key.ok());
  options.data_key = *data_key;
  auto store = storage::Store::Open(config->data_dir, options);
  REQUIRE(store.ok());

  auto streams = (*store)->Streams();
  REQUIRE(streams.ok());
  v1::ForkedStream fork;
  for (const auto& [id, state] : *streams) {
    if (id.origin != origin || state.seq <= fork.seq()) continue;
    fork.set_origin(id.origin);
    fork.set_epoch(id.epoch);
    fork.set_seq(state.seq);
    fork.set_held_hash(state.last_hash);
  }
  REQUIRE(fork.seq() > 0);
  fork.set_other_hash(std::string(32, '\x5a'));
  fork.set_refused_seq(fork.seq() + 1);
  fork.set_since_unix_ms(1'700'000'000'000);
  sync::ForkedStreams forks(**store);
  REQUIRE(forks.Load().ok());
  REQUIRE(forks.Add(fork).ok());
  return sync::StreamName({fork.origin(), fork.epoch()});
}

TEST_CASE(
    "Fork: a recorded fork refuses its stream after a restart until `fork clear`, "
    "which is audited",
    "[e2e][fork]") {
  TempDir root("fork");
  auto nodes = StartMesh(root.path(), {"waihai", "guzhen"});
  REQUIRE(nodes.size() == 2);
  Node& waihai = *nodes[0];
  Node& guzhen = *nodes[1];
  REQUIRE(waihai.Cli({"import", SampleRows(root.path(), 40)}).exit_code == 0);
  REQUIRE(WaitFor([&] { return guzhen.Records() == 40; }, seconds(30)));

  REQUIRE(guzhen.Stop() == 0);
  std::string stream = PlantFork(guzhen, "waihai");
  REQUIRE(guzhen.Start());

  // The stream stays refused: waihai's next write does not arrive.
  std::string who = SampleIdDoc(0);
  REQUIRE(waihai.Cli({"set", who, "phone", "13900000002"}).exit_code == 0);
  REQUIRE(WaitFor(
      [&] { return Contains(guzhen.Cli({"status"}).out, "FORKED stream refused: " + stream); },
      seconds(10)));
  std::this_thread::sleep_for(seconds(2));
  CHECK(PhoneAt(guzhen, who) != "13900000002");

  CommandResult listed = AdminCli(guzhen, {"fork", "list"});
  INFO(listed.err);
  REQUIRE(listed.exit_code == 0);
  CHECK(Contains(listed.out, stream));
  CHECK(Contains(listed.out, "other      sha256=" + model::HexEncode(std::string(32, '\x5a'))));
  CommandResult as_operator = guzhen.Cli({"fork", "clear", stream});
  CHECK(as_operator.exit_code != 0);
  CHECK(Contains(as_operator.err, "PERMISSION_DENIED"));
  CHECK(AdminCli(guzhen, {"fork", "clear", "waihai/nothex"}).exit_code != 0);

  CommandResult cleared = AdminCli(guzhen, {"fork", "clear", stream, "--reason", "drill"});
  INFO(cleared.err);
  REQUIRE(cleared.exit_code == 0);
  CHECK(Contains(cleared.out, "cleared " + stream));
  CHECK(Contains(cleared.out, "no forked stream"));
  CHECK(Contains(AdminCli(guzhen, {"fork", "clear", stream}).err, "NOT_FOUND"));
  // Accepted again without a restart: the puller resumes from the cursor.
  REQUIRE(WaitFor([&] { return PhoneAt(guzhen, who) == "13900000002"; }, seconds(30)));

  REQUIRE(guzhen.MakeToken("auditor-1", "auditor", guzhen.token_file("auditor")));
  std::string trail =
      guzhen.Cli({"--token-file", guzhen.token_file("auditor"), "audit", "export"}).out;
  CHECK(Contains(trail, "\"method\":\"Emergency.ClearFork\""));
  CHECK(Contains(trail, "stream=" + stream + " seq="));
  CHECK(Contains(trail, "reason=\\\"drill\\\""));

  REQUIRE(guzhen.Stop() == 0);
  REQUIRE(guzhen.Start());
  CHECK(!Contains(guzhen.Cli({"status"}).out, "FORKED"));
  CHECK(Contains(AdminCli(guzhen, {"fork", "list"}).out, "no forked stream"));
}

}  // namespace
}  // namespace wlsync::testing
