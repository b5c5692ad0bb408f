// The signing-key lifecycle end to end, with real nodes: a rotation reaches the peer, which
// verifies what came before and after it across restarts of both nodes; a node joining later
// verifies both keys' deltas from the key history it is given; a revocation by the origin
// reaches the peer, whose report lists what it accepted under the key; a node whose data dir is
// wiped after a rotation verifies its old deltas again from its key history.
#include <catch2/catch.hpp>
#include <filesystem>
#include <sstream>
#include <string>

#include "tests/support/cluster.h"

namespace wlsync::testing {
namespace {

std::string FirstIdDoc(const std::string& csv_path) {
  std::string csv = ReadFile(csv_path);
  size_t start = csv.find('\n') + 1;
  return csv.substr(start, csv.find(',', start) - start);
}

// The value of "field":"..." in the first object of a JSON text that has "marker" in it.
std::string JsonField(const std::string& json, const std::string& marker,
                      const std::string& field) {
  size_t at = json.find(marker);
  if (at == std::string::npos) return "";
  size_t obj = json.rfind('{', at);
  size_t f = json.find("\"" + field + "\":\"", obj);
  if (f == std::string::npos) return "";
  f += field.size() + 4;
  return json.substr(f, json.find('"', f) - f);
}

bool Propagates(const Node& from, const Node& to, const std::string& who,
                const std::string& phone) {
  if (from.Cli({"set", who, "phone", phone}).exit_code != 0) return false;
  return WaitFor(
      [&] {
        return to.Cli({"get", who}).out.find(phone) != std::string::npos;
      },
      std::chrono::seconds(20));
}

TEST_CASE("Keys: rotation and revocation between real nodes, across restarts and a wipe",
          "[e2e][keys]") {
  TempDir root("keys");
  auto nodes = MakeNodes(root.path(), {"waihai", "guzhen", "zhongshan"});
  REQUIRE(nodes.size() == 3);
  Node& waihai = *nodes[0];
  Node& guzhen = *nodes[1];
  Node& zhongshan = *nodes[2];  // joins later, linked to guzhen only
  waihai.AddPeer(guzhen);
  guzhen.AddPeer(waihai);
  guzhen.AddPeer(zhongshan);
  zhongshan.AddPeer(guzhen);
  REQUIRE(waihai.Start());
  REQUIRE(guzhen.Start());
  const std::string rows = SampleRows(root.path(), 200);
  REQUIRE(waihai.Cli({"import", rows}).exit_code == 0);
  REQUIRE(WaitFor([&] { return guzhen.Records() == waihai.Records(); }, std::chrono::seconds(30)));
  const std::string who = FirstIdDoc(rows);

  // Before any rotation, a key file swapped for another key is refused at start: peers would
  // refuse all it signs.
  const std::string key_file = waihai.dir() + "/keys/waihai.key";
  const std::string first_key = ReadFile(key_file);
  REQUIRE(waihai.Stop() == 0);
  WriteFile(key_file, std::string(64, 'b') + "\n");
  CHECK(!waihai.Start());
  CHECK(waihai.log().find("is not the key this node signed its deltas with") != std::string::npos);
  WriteFile(key_file, first_key);
  REQUIRE(waihai.Start());

  const std::string old_key =
      JsonField(AdminCli(waihai, {"key", "list", "--json"}).out, "\"state\":\"current\"", "key_id");
  REQUIRE(old_key.size() == 16);
  const std::string pub_before = ReadFile(waihai.dir() + "/keys/waihai.key.pub");

  // Rotate: the key files change, the history names both keys, the peer learns it.
  CommandResult rotated = AdminCli(waihai, {"key", "rotate", "--reason", "yearly", "--json"});
  INFO(rotated.err);
  REQUIRE(rotated.exit_code == 0);
  const std::string new_key = JsonField(rotated.out, "\"state\":\"current\"", "key_id");
  REQUIRE(new_key.size() == 16);
  REQUIRE(new_key != old_key);
  CHECK(JsonField(rotated.out, old_key, "state") == "retired");
  CHECK(ReadFile(waihai.dir() + "/keys/waihai.key.pub") != pub_before);
  CHECK(!std::filesystem::exists(waihai.dir() + "/keys/waihai.key.next"));
  std::string history = ReadFile(waihai.dir() + "/keys/waihai.key.history");
  CHECK(history.find(old_key) != std::string::npos);
  CHECK(history.find(new_key) != std::string::npos);

  REQUIRE(Propagates(waihai, guzhen, who, "13900000011"));
  std::string at_guzhen = AdminCli(guzhen, {"key", "list", "--node", "waihai", "--json"}).out;
  CHECK(JsonField(at_guzhen, old_key, "state") == "retired");
  CHECK(JsonField(at_guzhen, new_key, "state") == "valid");

  // A node joining after the rotation is given waihai's current key and its key history, and
  // verifies waihai's deltas of both keys, relayed by guzhen.
  zhongshan.Trust(waihai);
  zhongshan.AppendConfig("key_history = \"" + waihai.dir() + "/keys/waihai.key.history\"");
  REQUIRE(zhongshan.Start());
  CHECK(WaitFor([&] { return zhongshan.Records() == guzhen.Records(); }, std::chrono::seconds(30)));
  CHECK(zhongshan.Export() == guzhen.Export());
  CHECK(zhongshan.log().find("refused") == std::string::npos);

  // Both restart: guzhen keeps what it learnt, waihai signs with the new key.
  REQUIRE(guzhen.Stop() == 0);
  REQUIRE(guzhen.Start());
  REQUIRE(Propagates(waihai, guzhen, who, "13900000012"));
  REQUIRE(waihai.Stop() == 0);
  // Started with a key it never had (or its retired one), it refuses to start, naming where
  // the current key is; with a stale history file, it starts and rewrites it.
  const std::string current_key = ReadFile(key_file);
  WriteFile(key_file, std::string(64, 'a') + "\n");
  CHECK(!waihai.Start());
  CHECK(waihai.log().find("is not a key this node has signed with") != std::string::npos);
  WriteFile(key_file, current_key);
  const std::string history_file = waihai.dir() + "/keys/waihai.key.history";
  WriteFile(history_file, "# stale\n");
  REQUIRE(waihai.Start());
  CHECK(ReadFile(history_file).find(new_key) != std::string::npos);
  REQUIRE(Propagates(waihai, guzhen, who, "13900000013"));
  REQUIRE(Propagates(guzhen, waihai, who, "13900000014"));

  // The current key cannot be revoked; the retired one is, from before the import.
  CommandResult current = AdminCli(waihai, {"key", "revoke", new_key, "--from", "2020-01-01"});
  CHECK(current.exit_code == 1);
  CHECK(current.err.find("rotate") != std::string::npos);
  REQUIRE(AdminCli(waihai, {"key", "revoke", old_key, "--from", "2020-01-01", "--reason", "drill"})
              .exit_code == 0);
  REQUIRE(WaitFor(
      [&] {
        std::string keys = AdminCli(guzhen, {"key", "list", "--node", "waihai", "--json"}).out;
        return JsonField(keys, old_key, "state") == "revoked (origin)";
      },
      std::chrono::seconds(20)));
  CommandResult report = AdminCli(guzhen, {"key", "report", old_key, "--node", "waihai", "--json"});
  REQUIRE(report.exit_code == 0);
  CHECK(report.out.find("\"deltas_after_revocation\":0") == std::string::npos);
  CHECK(report.out.find("\"after_revocation\":true") != std::string::npos);
  CHECK(AdminCli(guzhen, {"key", "report", "0011223344556677", "--node", "waihai"}).exit_code == 1);
  // The text says what the origin vouched for; an unknown node is named as such.
  std::string text = AdminCli(guzhen, {"key", "report", old_key, "--node", "waihai"}).out;
  CHECK(text.find("vouched for by the origin's revocation notice") != std::string::npos);
  CommandResult nosuch = AdminCli(guzhen, {"key", "list", "--node", "nosuch"});
  CHECK(nosuch.exit_code == 1);
  CHECK(nosuch.err.find("nosuch is not a trusted node") != std::string::npos);

  // Every change is in waihai's trail.
  REQUIRE(waihai.MakeToken("auditor-1", "auditor", waihai.token_file("auditor")));
  std::string trail =
      waihai.Cli({"--token-file", waihai.token_file("auditor"), "audit", "by-token", "admin"}).out;
  CHECK(trail.find("\"method\":\"Keys.Rotate\"") != std::string::npos);
  CHECK(trail.find("\"method\":\"Keys.Revoke\"") != std::string::npos);

  // A wiped waihai gets its old streams back from guzhen and verifies the deltas of its retired key
  // from the history beside its key file.
  long records = guzhen.Records();
  REQUIRE(waihai.Stop() == 0);
  std::filesystem::remove_all(waihai.dir() + "/data");
  REQUIRE(waihai.Start());
  bool healed = WaitFor([&] { return waihai.Records() == records; }, std::chrono::seconds(30));
  std::string refusals;
  std::istringstream log(waihai.log());
  for (std::string line; std::getline(log, line);) {
    if (line.find("refused") != std::string::npos || line.find("error") != std::string::npos) {
      refusals += line + "\n";
    }
  }
  INFO(refusals);
  CHECK(healed);
  CHECK(waihai.Export() == guzhen.Export());
  CHECK(waihai.log().find("refused for its signing key") == std::string::npos);
}

}  // namespace
}  // namespace wlsync::testing
