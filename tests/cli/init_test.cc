// `wlsync init` makes a node that is secure and usable at once: a TLS certificate signed
// by a CA (made when none is given), keys readable by their owner only, and DIR/cli.env
// that points the CLI at the node with its CA. Bad TLS arguments leave nothing behind.
#include <sys/stat.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <sstream>

#include "tests/support/cluster.h"

namespace wlsync::testing {
namespace {

int Mode(const std::string& path) {
  struct stat st;
  REQUIRE(::stat(path.c_str(), &st) == 0);
  return st.st_mode & 0777;
}

// The `export NAME=value` lines of a cli.env file.
std::map<std::string, std::string> Exports(const std::string& path) {
  std::map<std::string, std::string> out;
  std::istringstream in(ReadFile(path));
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("export ", 0) != 0) continue;
    size_t eq = line.find('=');
    out[line.substr(7, eq - 7)] = line.substr(eq + 1);
  }
  return out;
}

std::vector<std::string> InitArgs(const std::string& dir, int port) {
  return {"init",     dir,
          "--name",   "waihai",
          "--listen", "127.0.0.1:" + std::to_string(port),
          "--grids",  SampleFile("grids.csv")};
}

TEST_CASE("Init: a new node gets a TLS certificate, a CA and cli.env, and is usable at once",
          "[cli][tls]") {
  TempDir root("init-tls");
  std::string dir = root / "waihai";
  int port = FreePort();
  CommandResult r = Cli(InitArgs(dir, port));
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  CHECK(r.out.find("tls certificate: ") != std::string::npos);

  CHECK(Mode(dir + "/tls/waihai.key") == 0600);
  CHECK(Mode(dir + "/tls/ca.key") == 0600);
  CHECK(Mode(dir + "/tls") == 0700);
  std::string config = ReadFile(dir + "/config.toml");
  CHECK(config.find("insecure = false") != std::string::npos);
  CHECK(config.find("[tls]\ncert = \"tls/waihai.crt\"\nkey = \"tls/waihai.key\"") !=
        std::string::npos);

  std::map<std::string, std::string> env = Exports(dir + "/cli.env");
  CHECK(env.at("WLSYNC_NODE") == "127.0.0.1:" + std::to_string(port));
  CHECK(env.at("WLSYNC_CA") == std::filesystem::absolute(dir + "/tls/ca.crt").string());

  Node node("waihai", dir, port);
  REQUIRE(node.Start());
  env["WLSYNC_INSECURE"] = "";
  CommandResult status = Run({std::string(WLSYNC_BIN_DIR) + "/wlsync", "status"}, env);
  INFO(status.err);
  CHECK(status.exit_code == 0);
  CHECK(status.out.rfind("node        waihai ", 0) == 0);
}

TEST_CASE("Init: bad TLS arguments are refused before anything is written", "[cli][tls]") {
  TempDir root("init-tls-bad");
  CommandResult other = Cli({"init", root / "other", "--name", "other", "--listen", "127.0.0.1:1",
                             "--grids", SampleFile("grids.csv")});
  REQUIRE(other.exit_code == 0);
  const TestCa& ca = SharedTestCa();

  std::vector<std::pair<std::vector<std::string>, std::string>> cases = {
      {{"--ca-cert", ca.cert}, "--ca-cert needs --ca-key"},
      {{"--ca-key", ca.key}, "--ca-key needs --ca-cert"},
      {{"--cert", root / "other/tls/other.crt"}, "--cert and --key go together"},
      {{"--cert", root / "other/tls/other.crt", "--key", root / "other/tls/other.key"},
       "--cert needs --ca-cert"},
      {{"--ca-cert", ca.cert, "--cert", root / "other/tls/other.crt", "--key",
        root / "other/tls/other.key"},
       "not accepted by the CA"},
      {{"--ca-cert", ca.cert, "--ca-key", root / "other/tls/ca.key"}, "--ca-cert/--ca-key"},
      {{"--ca-cert", root / "other/tls/other.crt", "--ca-key", root / "other/tls/other.key"},
       "not a CA certificate"},
      {{"--ca-cert", root / "missing.crt", "--ca-key", ca.key}, "--ca-cert: "},
      {{"--san", "bad,host"}, "--san: not a host name"},
  };
  for (const auto& [extra, message] : cases) {
    std::string dir = root / "node";
    std::vector<std::string> args = InitArgs(dir, 7401);
    args.insert(args.end(), extra.begin(), extra.end());
    CommandResult r = Cli(args);
    INFO(r.err);
    CHECK(r.exit_code == 1);
    CHECK(r.err.find(message) != std::string::npos);
    CHECK_FALSE(std::filesystem::exists(dir));
  }
}

}  // namespace
}  // namespace wlsync::testing
