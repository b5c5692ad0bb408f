// What an operator sees of a running pair of nodes: the one-screen `wlsync status`, and the
// progress line of import, export and reconcile, drawn on a terminal (a real pty, made with
// script(1)) and absent when stderr is a pipe.
#include <catch2/catch.hpp>

#include <regex>
#include <string>

#include "tests/support/cluster.h"

namespace wlsync::testing {
namespace {

// Runs `wlsync ARGS` against `node` inside a pseudo-terminal; the pty's output (stdout and
// stderr together, as a terminal shows them).
CommandResult OnTerminal(const Node& node, const std::string& args) {
  std::string command = std::string(WLSYNC_BIN_DIR) + "/wlsync --node " + node.address() +
                        " --ca " + node.ca() + " --token-file " + node.token_file("operator") +
                        " " + args;
  return Run({"/usr/bin/script", "--quiet", "--return", "--command", command, "/dev/null"},
             {{"TERM", "xterm"}, {"WLSYNC_PROGRESS", ""}});
}

TEST_CASE("CLI: status shows the whole node on one screen", "[cli][e2e]") {
  TempDir root("status-screen");
  auto nodes = StartMesh(root.path(), {"waihai", "guzhen"});
  REQUIRE(nodes.size() == 2);
  Node& waihai = *nodes[0];
  REQUIRE(waihai.Cli({"import", SampleRows(root.path(), 30)}).exit_code == 0);
  REQUIRE(WaitFor([&] { return nodes[1]->Records() == 30; }, std::chrono::seconds(20)));
  REQUIRE(waihai.Cli({"reconcile", "--peer", "guzhen"}).exit_code == 0);

  CommandResult r = waihai.Cli({"status"});
  REQUIRE(r.exit_code == 0);
  INFO(r.out);
  CHECK(r.out.rfind("node        waihai   epoch ", 0) == 0);
  CHECK(r.out.find("health      SERVING\n") != std::string::npos);
  CHECK(r.out.find("records     30 held: ") != std::string::npos);
  CHECK(r.out.find("writes      accepted\n") != std::string::npos);
  CHECK(r.out.find("quarantine  0 events\n") != std::string::npos);
  CHECK(r.out.find("lockdown off") != std::string::npos);
  CHECK(r.out.find("metrics     port " + std::to_string(waihai.metrics_port())) !=
        std::string::npos);
  // Caught up: no events behind, and a lag of a few tenths of a second at most (the lag is
  // measured from the peer's last heartbeat, so a loaded machine shows more than 0.0 s).
  std::smatch lag;
  REQUIRE(std::regex_search(r.out, lag, std::regex("guzhen       connected    0 events, ([0-9.]+) s")));
  CHECK(std::stod(lag[1].str()) < 5.0);
  CHECK(r.out.find("equal (") != std::string::npos);
  CHECK(r.out.find("\nwaihai       ") != std::string::npos);  // its own stream

  REQUIRE(nodes[1]->Stop() == 0);
  // The link goes down, and the failed reconnects name why.
  REQUIRE(WaitFor(
      [&] {
        std::string out = waihai.Cli({"status"}).out;
        return out.find("guzhen       DOWN") != std::string::npos &&
               out.find("  last error: pull: ") != std::string::npos;
      },
      std::chrono::seconds(15)));
}

TEST_CASE("CLI: import, export and reconcile draw progress on a terminal only", "[cli][e2e]") {
  TempDir root("progress");
  auto nodes = StartMesh(root.path(), {"waihai", "guzhen"});
  REQUIRE(nodes.size() == 2);
  Node& waihai = *nodes[0];
  std::string rows = SampleRows(root.path(), 3000);

  CommandResult tty = OnTerminal(waihai, "import " + rows);
  INFO(tty.out << tty.err);
  REQUIRE(tty.exit_code == 0);
  CHECK(tty.out.find("\rimport " + rows + ": ") != std::string::npos);
  CHECK(tty.out.find("/3,000 rows (") != std::string::npos);
  CHECK(tty.out.find("/s, ") != std::string::npos);
  CHECK(tty.out.find("imported=3000 updated=0 unchanged=0 rejected=0") != std::string::npos);

  CommandResult exported = OnTerminal(waihai, "export --format csv");
  REQUIRE(exported.exit_code == 0);
  CHECK(exported.out.find("\rexport: ") != std::string::npos);

  REQUIRE(WaitFor([&] { return nodes[1]->Records() == 3000; }, std::chrono::seconds(30)));
  CommandResult reconciled = OnTerminal(waihai, "reconcile --peer guzhen");
  CHECK(reconciled.exit_code == 0);

  // Piped: the same commands print no progress line at all.
  CommandResult piped = waihai.Cli({"import", rows});
  REQUIRE(piped.exit_code == 0);
  CHECK(piped.err.find('\r') == std::string::npos);
  CHECK(piped.out == "imported=0 updated=0 unchanged=3000 rejected=0\n");
  CommandResult piped_export = waihai.Cli({"export"});
  CHECK(piped_export.err.find('\r') == std::string::npos);
}

}  // namespace
}  // namespace wlsync::testing
