// TLS between real wlsyncd processes: a node whose certificate is signed by the same CA but
// is not the pinned one is refused both when it calls and when it is called; a plain-TCP
// client is refused by a TLS node; the CLI without the right CA is refused with a clear
// error; plain TCP needs an explicit api.insecure = true.
#include <catch2/catch.hpp>
#include <sstream>

#include "tests/support/cluster.h"

namespace wlsync::testing {
namespace {

// A node named like `real`, with the same federation key and CA, but its own certificate.
std::unique_ptr<Node> Impostor(const TempDir& root, const Node& real) {
  int port = FreePort();
  std::string dir = root / ("impostor-" + real.name());
  CommandResult r = Cli({"init", dir, "--name", real.name(), "--listen",
                         "127.0.0.1:" + std::to_string(port), "--grids", SampleFile("grids.csv"),
                         "--federation-key", real.dir() + "/keys/federation.key", "--ca-cert",
                         SharedTestCa().cert, "--ca-key", SharedTestCa().key});
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  return std::make_unique<Node>(real.name(), dir, port);
}

std::string PeerError(const Node& node) {
  std::string status = node.Cli({"status", "--json"}).out;
  size_t at = status.find("\"last_error\": \"");
  return at == std::string::npos ? "" : status.substr(at, status.find('\n', at) - at);
}

TEST_CASE("TLS: a peer certificate of the same CA that is not the pinned one is refused",
          "[e2e][tls]") {
  TempDir root("tls-pin");
  auto nodes = MakeNodes(root.path(), {"waihai", "guzhen"});
  REQUIRE(nodes.size() == 2);
  Node& waihai = *nodes[0];
  Node& guzhen = *nodes[1];
  std::unique_ptr<Node> impostor = Impostor(root, guzhen);

  SECTION("as a client: the node refuses its Pull and serves it nothing") {
    waihai.AddPeer(guzhen);
    impostor->AddPeer(waihai);  // claims to be guzhen, with a certificate waihai does not pin
    REQUIRE(waihai.Start());
    REQUIRE(impostor->Start());
    REQUIRE(waihai.Cli({"import", SampleRows(root.path(), 40)}).exit_code == 0);
    REQUIRE(WaitFor(
        [&] {
          return PeerError(*impostor).find("not the one this node pins") != std::string::npos;
        },
        std::chrono::seconds(15)));
    CHECK(PeerError(*impostor).find("UNAUTHENTICATED") == std::string::npos);  // text only
    CHECK(waihai.log().find("claims node=guzhen refused: its client certificate") !=
          std::string::npos);
    CHECK(waihai.log().find("peer=guzhen pull started") == std::string::npos);
    CHECK(impostor->Records() == 0);
  }
  SECTION("as a server: the node refuses it in the handshake and sends it no request") {
    // waihai pins guzhen's certificate but is pointed at the impostor's address.
    std::string text = ReadFile(guzhen.config());
    waihai.AppendConfig("[[peers]]\nname = \"guzhen\"\naddress = \"" + impostor->address() +
                        "\"\npublic_key = \"" + guzhen.public_key_hex() + "\"\ncert = \"" +
                        guzhen.cert() + "\"\n");
    impostor->AddPeer(waihai);
    REQUIRE(impostor->Start());
    REQUIRE(impostor->Cli({"import", SampleRows(root.path(), 40)}).exit_code == 0);
    REQUIRE(waihai.Start());
    REQUIRE(WaitFor(
        [&] {
          return PeerError(waihai).find("not the one pinned for peer guzhen") != std::string::npos;
        },
        std::chrono::seconds(15)));
    CHECK(waihai.log().find("peer=guzhen target=127.0.0.1 refused: its server certificate") !=
          std::string::npos);
    CHECK(waihai.Records() == 0);
    CHECK(impostor->log().find("peer=waihai pull started") == std::string::npos);
  }
}

TEST_CASE("TLS: pinned peers replicate over mutual TLS", "[e2e][tls]") {
  TempDir root("tls-ok");
  auto nodes = StartMesh(root.path(), {"waihai", "guzhen"});
  REQUIRE(nodes.size() == 2);
  REQUIRE(nodes[0]->Cli({"import", SampleRows(root.path(), 30)}).exit_code == 0);
  REQUIRE(WaitFor([&] { return nodes[1]->Records() == 30; }, std::chrono::seconds(15)));
  CHECK(nodes[0]->log().find("tls cert sha256=") != std::string::npos);
  CHECK(nodes[1]->log().find("refused") == std::string::npos);
}

TEST_CASE("TLS: the CLI needs the node's CA, and plain TCP is refused by a TLS node",
          "[e2e][tls]") {
  TempDir root("tls-cli");
  auto nodes = StartMesh(root.path(), {"waihai"});
  REQUIRE(nodes.size() == 1);
  Node& node = *nodes[0];
  std::string wlsync = std::string(WLSYNC_BIN_DIR) + "/wlsync";
  std::map<std::string, std::string> clean = {
      {"WLSYNC_NODE", ""}, {"WLSYNC_CA", ""}, {"WLSYNC_INSECURE", ""}};

  SECTION("without a CA: refused before connecting, naming --ca and WLSYNC_CA") {
    CommandResult r = Run({wlsync, "--node", node.address(), "status"}, clean);
    CHECK(r.exit_code == 2);
    CHECK(r.err.find("give --ca FILE or set WLSYNC_CA") != std::string::npos);
  }
  SECTION("with another CA: the handshake fails and the error says to check --ca") {
    CommandResult made = Cli({"init", root / "other", "--name", "other", "--listen", "127.0.0.1:1",
                              "--grids", SampleFile("grids.csv")});
    REQUIRE(made.exit_code == 0);
    CommandResult r =
        Run({wlsync, "--node", node.address(), "--ca", root / "other/tls/ca.crt", "status"}, clean);
    CHECK(r.exit_code == 1);
    CHECK(r.err.find("UNAVAILABLE") != std::string::npos);
    CHECK(r.err.find("TLS handshake with the node failed: check --ca") != std::string::npos);
  }
  SECTION("a CA file that holds no certificate") {
    WriteFile(root / "empty.crt", "");
    CommandResult r =
        Run({wlsync, "--node", node.address(), "--ca", root / "empty.crt", "status"}, clean);
    CHECK(r.exit_code == 2);
    CHECK(r.err.find("holds no PEM certificate") != std::string::npos);
  }
  SECTION("a plain-TCP client") {
    CommandResult r = Run({wlsync, "--node", node.address(), "--insecure", "status"}, clean);
    CHECK(r.exit_code == 1);
    CHECK(r.err.find("UNAVAILABLE") != std::string::npos);
    CHECK(r.err.find("drop --insecure") != std::string::npos);
    clean["WLSYNC_INSECURE"] = "1";
    CHECK(Run({wlsync, "--node", node.address(), "health"}, clean).exit_code == 1);
  }
  SECTION("the node's CA from WLSYNC_CA") {
    clean["WLSYNC_CA"] = node.ca();
    CommandResult r = Run({wlsync, "--node", node.address(), "health"}, clean);
    CHECK(r.exit_code == 0);
    CHECK(r.out == "SERVING\n");
  }
}

TEST_CASE("TLS: plain TCP only with api.insecure = true, logged as a warning", "[e2e][tls]") {
  TempDir root("tls-insecure");
  auto nodes = MakeNodes(root.path(), {"waihai", "guzhen"});
  REQUIRE(nodes.size() == 2);
  for (auto& n : nodes) n->SetInsecure();
  FullMesh(nodes);
  for (auto& n : nodes) REQUIRE(n->Start());
  CHECK(nodes[0]->log().find("warning [node] node=waihai api is plain TCP") != std::string::npos);
  REQUIRE(nodes[0]->Cli({"import", SampleRows(root.path(), 20)}).exit_code == 0);
  REQUIRE(WaitFor([&] { return nodes[1]->Records() == 20; }, std::chrono::seconds(15)));

  // A TLS client (the CLI with a CA) cannot talk to it.
  CommandResult tls = Run({std::string(WLSYNC_BIN_DIR) + "/wlsync", "--node", nodes[0]->address(),
                           "--ca", nodes[0]->ca(), "status"},
                          {{"WLSYNC_INSECURE", ""}});
  CHECK(tls.exit_code == 1);
  CHECK(tls.err.find("TLS handshake with the node failed") != std::string::npos);
}

}  // namespace
}  // namespace wlsync::testing
