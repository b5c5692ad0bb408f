// The emergency response end to end, with real nodes: a freeze stops sync both ways at
// once and is shown to the frozen peer; a lockdown revokes tracer tokens and refuses export
// and case unmasking while writes and sync go on; the leak report counts what was read.
#include <catch2/catch.hpp>
#include <string>
#include <thread>

#include "tests/support/cluster.h"

namespace wlsync::testing {
namespace {

TEST_CASE("Emergency: a freeze stops sync both ways at once, an unfreeze resumes it",
          "[e2e][emergency]") {
  TempDir root("freeze");
  auto nodes = StartMesh(root.path(), {"waihai", "guzhen"});
  REQUIRE(nodes.size() == 2);
  Node& waihai = *nodes[0];
  Node& guzhen = *nodes[1];
  REQUIRE(waihai.Cli({"import", SampleFile("commuters.csv")}).exit_code == 0);
  long records = waihai.Records();
  REQUIRE(WaitFor([&] { return guzhen.Records() == records; }, std::chrono::seconds(30)));

  CommandResult frozen =
      AdminCli(waihai, {"emergency", "freeze", "--peer", "guzhen", "--reason", "drill"});
  INFO(frozen.err);
  REQUIRE(frozen.exit_code == 0);
  REQUIRE(frozen.out.find("\"peer\":\"guzhen\"") != std::string::npos);
  CHECK(AdminCli(waihai, {"emergency", "freeze", "--peer", "nobody"}).exit_code == 1);

  std::string who = SampleIdDoc(0);
  REQUIRE(waihai.Cli({"set", who, "phone", "13900000001"}).exit_code == 0);
  REQUIRE(guzhen.Cli({"set", who, "residence_address", "测试路1号"}).exit_code == 0);
  // The frozen peer is told why, in its status.
  REQUIRE(WaitFor(
      [&] {
        return guzhen.Cli({"status", "--json"})
                   .out.find(
                       "frozen: waihai has frozen its link with guzhen (emergency freeze: "
                       "drill)") != std::string::npos;
      },
      std::chrono::seconds(10)));
  std::this_thread::sleep_for(std::chrono::seconds(2));
  CHECK(PhoneAt(guzhen, who) != "13900000001");
  CHECK(waihai.Cli({"get", who}).out.find("测试路1号") == std::string::npos);
  CommandResult rec = waihai.Cli({"reconcile", "--peer", "guzhen"});
  CHECK(rec.exit_code == 1);
  CHECK(rec.err.find("is frozen") != std::string::npos);

  REQUIRE(AdminCli(waihai, {"emergency", "unfreeze", "--peer", "guzhen"}).exit_code == 0);
  CHECK(WaitFor([&] { return PhoneAt(guzhen, who) == "13900000001"; }, std::chrono::seconds(20)));
  CHECK(WaitFor(
      [&] {
        return waihai.Cli({"get", who}).out.find("测试路1号") != std::string::npos;
      },
      std::chrono::seconds(20)));

  // Both actions are in waihai's trail.
  REQUIRE(waihai.MakeToken("auditor-1", "auditor", waihai.token_file("auditor")));
  CommandResult trail =
      waihai.Cli({"--token-file", waihai.token_file("auditor"), "audit", "by-token", "admin"});
  CHECK(trail.out.find("\"method\":\"Emergency.Freeze\"") != std::string::npos);
  CHECK(trail.out.find(R"(peer=guzhen reason=\"drill\")") != std::string::npos);
  CHECK(trail.out.find("\"method\":\"Emergency.Unfreeze\"") != std::string::npos);
}

TEST_CASE("Emergency: a lockdown revokes tracers, refuses export and unmasking, keeps writes",
          "[e2e][emergency]") {
  TempDir root("lockdown");
  auto nodes = StartMesh(root.path(), {"waihai"});
  REQUIRE(nodes.size() == 1);
  Node& node = *nodes[0];
  REQUIRE(node.Cli({"import", SampleFile("commuters.csv")}).exit_code == 0);
  REQUIRE(node.MakeToken("tracer-1", "tracer", node.token_file("tracer")));
  auto as_tracer = [&](const std::string& file, std::vector<std::string> args) {
    args.insert(args.begin(), {"--token-file", file});
    return node.Cli(args);
  };
  REQUIRE(
      as_tracer(node.token_file("tracer"), {"query", "--list", "GREY", "--limit", "3"}).exit_code ==
      0);

  CommandResult on = AdminCli(node, {"emergency", "lockdown", "--reason", "suspected leak"});
  INFO(on.err);
  REQUIRE(on.exit_code == 0);
  CHECK(on.out.find("\"lockdown\":true") != std::string::npos);
  CHECK(on.out.find("\"revoked_tracer_tokens\":1") != std::string::npos);

  CommandResult revoked = as_tracer(node.token_file("tracer"), {"query", "--list", "GREY"});
  CHECK(revoked.exit_code == 1);
  CHECK(revoked.err.find("tracer-1 was revoked") != std::string::npos);
  CommandResult exported = node.Cli({"export"});
  CHECK(exported.exit_code == 1);
  CHECK(exported.err.find("FAILED_PRECONDITION: lockdown: Export is suspended") !=
        std::string::npos);
  // A tracer token made during the lockdown may query, masked, but not unmask.
  std::string fresh = root / "fresh.token";
  REQUIRE(node.MakeToken("tracer-2", "tracer", fresh));
  CHECK(as_tracer(fresh, {"query", "--list", "GREY", "--limit", "1"}).exit_code == 0);
  CommandResult unmask = as_tracer(fresh, {"query", "--list", "GREY", "--case", "C-9"});
  CHECK(unmask.exit_code == 1);
  CHECK(unmask.err.find("lockdown: unmasking") != std::string::npos);
  CHECK(node.Cli({"set", SampleIdDoc(0), "phone", "13900000002"}).exit_code == 0);

  // The lockdown survives a restart.
  REQUIRE(node.Stop() == 0);
  REQUIRE(node.Start());
  CHECK(node.Cli({"export"}).exit_code == 1);
  CHECK(AdminCli(node, {"emergency", "state"}).out.find("\"lockdown_reason\":\"suspected leak\"") !=
        std::string::npos);

  REQUIRE(AdminCli(node, {"emergency", "lift"}).exit_code == 0);
  CHECK(node.Cli({"export"}).exit_code == 0);
  CHECK(as_tracer(fresh, {"query", "--list", "GREY", "--case", "C-9", "--limit", "1"}).exit_code ==
        0);
}

TEST_CASE("Emergency: the leak report counts who read whom since a time", "[e2e][emergency]") {
  TempDir root("leak-report");
  auto nodes = StartMesh(root.path(), {"waihai"});
  REQUIRE(nodes.size() == 1);
  Node& node = *nodes[0];
  REQUIRE(node.Cli({"import", SampleFile("commuters.csv")}).exit_code == 0);
  REQUIRE(node.MakeToken("tracer-1", "tracer", node.token_file("tracer")));
  std::string tracer = node.token_file("tracer");
  REQUIRE(node.Cli({"--token-file", tracer, "query", "--list", "GREY", "--limit", "4"}).exit_code ==
          0);
  REQUIRE(
      node.Cli({"--token-file", tracer, "query", "--list", "GREY", "--limit", "2", "--case", "C-1"})
          .exit_code == 0);  // the same 2 people again
  REQUIRE(node.Cli({"get", SampleIdDoc(0)}).exit_code == 0);
  REQUIRE(node.Cli({"export"}).exit_code == 0);

  CommandResult json = AdminCli(node, {"emergency", "report", "--since", "2020-01-01", "--json"});
  INFO(json.out << json.err);
  REQUIRE(json.exit_code == 0);
  CHECK(json.out.find("\"token\":\"tracer-1\",\"role\":\"tracer\",\"calls\":2,\"refused\":0,"
                      "\"records_read\":6,\"people\":4,\"full_exports\":0,\"cases\":[\"C-1\"]") !=
        std::string::npos);
  CHECK(json.out.find("\"full_exports\":1,") != std::string::npos);
  CHECK(json.out.find("\"people\":5,") != std::string::npos);  // 4 greylisted + the one got
  CHECK(json.out.find(SampleIdDoc(0)) == std::string::npos);   // pids only
  CommandResult text = AdminCli(node, {"emergency", "report", "--since", "2020-01-01"});
  CHECK(text.out.find("full exports showing everyone") != std::string::npos);
  CHECK(AdminCli(node, {"emergency", "report", "--since", "yesterday"}).exit_code == 2);
  // Only admins.
  CHECK(node.Cli({"emergency", "state"}).err.find("PERMISSION_DENIED") != std::string::npos);
}

}  // namespace
}  // namespace wlsync::testing
