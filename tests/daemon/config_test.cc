#include <catch2/catch.hpp>

#include <filesystem>

#include "daemon/config.h"
#include "tests/support/cluster.h"

namespace wlsync::daemon {
namespace {

using wlsync::testing::CommandResult;
using wlsync::testing::TempDir;

constexpr const char* kMinimal = R"(
[node]
name = "waihai"
data_dir = "data"
signing_key = "keys/waihai.key"
federation_key = "keys/federation.key"
grids = "grids.csv"
[tls]
cert = "tls/waihai.crt"
key = "tls/waihai.key"
ca = "tls/ca.crt"
)";

const std::string kKey(64, 'a');

// kMinimal without its [tls] section.
std::string WithoutTls() {
  std::string text(kMinimal);
  return text.substr(0, text.find("[tls]"));
}

TEST_CASE("Config: a minimal file loads with defaults and resolves paths", "[daemon]") {
  absl::StatusOr<Config> c = ParseConfig(kMinimal, "test.toml", "/srv/node");
  REQUIRE(c.ok());
  REQUIRE(c->name == "waihai");
  REQUIRE(c->data_dir == "/srv/node/data");
  REQUIRE(c->max_clock_skew_ms == 10000);
  REQUIRE(c->max_message_bytes == 4 << 20);
  REQUIRE(c->peers.empty());
  REQUIRE_FALSE(c->insecure);
  REQUIRE(c->tls_cert == "/srv/node/tls/waihai.crt");
  REQUIRE(c->tls_key == "/srv/node/tls/waihai.key");
  REQUIRE(c->tls_ca == "/srv/node/tls/ca.crt");
  REQUIRE(c->retention_audit_keep_days == 365);
}

TEST_CASE("Config: audit retention is whole days, 0 keeping the trail for ever", "[daemon]") {
  auto [value, ok, want] = GENERATE(table<std::string, bool, int64_t>({
      {"0", true, 0},
      {"1", true, 1},
      {"730", true, 730},
      {"36500", true, 36500},
      {"-1", false, 0},
      {"-365", false, 0},
      {"36501", false, 0},
      {"\"365d\"", false, 0},
      {"0.5", false, 0},
  }));
  std::string text = std::string(kMinimal) + "[retention]\naudit_keep_days = " + value + "\n";
  absl::StatusOr<Config> c = ParseConfig(text, "test.toml", "/srv");
  INFO(value);
  REQUIRE(c.ok() == ok);
  if (ok) {
    REQUIRE(c->retention_audit_keep_days == want);
  } else {
    REQUIRE(std::string(c.status().message()).find("retention.audit_keep_days") !=
            std::string::npos);
  }
}

const std::string kPeer =
    "[[peers]]\nname = \"guzhen\"\naddress = \"127.0.0.1:7402\"\npublic_key = \"" + kKey + "\"\n";

TEST_CASE("Config: TLS with pinned peer certificates is the default, plain TCP is explicit",
          "[daemon][tls]") {
  const std::string& peer = kPeer;
  SECTION("TLS with a pinned peer certificate, relative to the config") {
    std::string text = std::string(kMinimal) + peer + "cert = \"peers/guzhen.crt\"\n";
    absl::StatusOr<Config> c = ParseConfig(text, "t.toml", "/srv");
    REQUIRE(c.ok());
    REQUIRE(c->peers[0].cert == "/srv/peers/guzhen.crt");
  }
  SECTION("plain TCP only with an explicit api.insecure = true") {
    absl::StatusOr<Config> c =
        ParseConfig(WithoutTls() + "[api]\ninsecure = true\n" + peer, "t.toml", "/srv");
    REQUIRE(c.ok());
    REQUIRE(c->insecure);
    REQUIRE(c->peers[0].cert.empty());
  }
}

TEST_CASE("Config: a peer's key history is a path beside the config, optional", "[daemon][keys]") {
  std::string base = std::string(kMinimal) + kPeer + "cert = \"peers/guzhen.crt\"\n";
  absl::StatusOr<Config> none = ParseConfig(base, "t.toml", "/srv");
  REQUIRE(none.ok());
  REQUIRE(none->key_histories.empty());
  absl::StatusOr<Config> c =
      ParseConfig(base + "key_history = \"peers/guzhen.key.history\"\n", "t.toml", "/srv");
  REQUIRE(c.ok());
  REQUIRE(c->key_histories.size() == 1);
  REQUIRE(c->key_histories[0].first == "guzhen");
  REQUIRE(c->key_histories[0].second == "/srv/peers/guzhen.key.history");
  absl::StatusOr<Config> bad = ParseConfig(base + "key_history = 3\n", "t.toml", "/srv");
  REQUIRE(!bad.ok());
  REQUIRE(std::string(bad.status().message()).find("peers[0].key_history") != std::string::npos);
}

TEST_CASE("Config: TLS is required, and each peer's pinned certificate, unless insecure",
          "[daemon][tls]") {
  const std::string& peer = kPeer;
  auto [text, key] = GENERATE_COPY(table<std::string, std::string>({
      {WithoutTls(), "tls: missing section [tls]"},
      {WithoutTls() + "[api]\ninsecure = false\n", "tls: missing section [tls]"},
      {WithoutTls() + "[tls]\ncert = \"a\"\nca = \"b\"\n", "tls.key: missing"},
      {std::string(kMinimal) + "chain = \"x\"\n", "tls.chain: unknown key"},
      {std::string(kMinimal) + peer, "peers[0].cert: missing"},
      {std::string(kMinimal) + peer + "cert = 7\n", "peers[0].cert: must be a string"},
      {WithoutTls() + "[api]\ninsecure = \"yes\"\n", "api.insecure"},
  }));
  absl::StatusOr<Config> c = ParseConfig(text, "t.toml", "/srv");
  INFO(text);
  REQUIRE_FALSE(c.ok());
  INFO(c.status().message());
  REQUIRE(std::string(c.status().message()).find(key) != std::string::npos);
}

TEST_CASE("Config: the auth section sets the admin token and each role's limits", "[daemon]") {
  std::string text = std::string(kMinimal) + "[auth]\nadmin_token_sha256 = \"" + kKey +
                     "\"\ntracer_requests_per_minute = 7\ntracer_records_per_hour = 0\n";
  absl::StatusOr<Config> c = ParseConfig(text, "test.toml", "/srv");
  REQUIRE(c.ok());
  REQUIRE(c->admin_token_sha256 == kKey);
  REQUIRE(c->limits.at(access::Role::kTracer).requests_per_minute == 7);
  REQUIRE(c->limits.at(access::Role::kTracer).records_per_hour == 0);
  REQUIRE(c->limits.at(access::Role::kOperator).requests_per_minute == 6000);
}

TEST_CASE("Config: the shipped example loads", "[daemon]") {
  std::string example = wlsync::testing::ReadFile(std::string(WLSYNC_SOURCE_DIR) +
                                                  "/deploy/config/example.toml");
  // The one placeholder an operator must fill in: the peer's public key.
  const std::string placeholder = "<64 hex characters: the content of guzhen's keys/guzhen.key.pub>";
  size_t at = example.find(placeholder);
  REQUIRE(at != std::string::npos);
  example.replace(at, placeholder.size(), kKey);
  absl::StatusOr<Config> c = ParseConfig(example, "example.toml", "/srv");
  INFO(c.status().message());
  REQUIRE(c.ok());
  REQUIRE(c->limits.at(access::Role::kTracer).records_per_hour == 5000);
  REQUIRE(c->retention_audit_keep_days == 365);
}

TEST_CASE("Config: peers and trusted keys are read", "[daemon]") {
  std::string text = std::string(kMinimal) + "[[peers]]\nname = \"guzhen\"\naddress = \"127.0.0.1:7402\"\npublic_key = \"" +
                     kKey + "\"\ncert = \"guzhen.crt\"\n[[trusted]]\nname = \"third\"\npublic_key = \"" + kKey + "\"\n";
  absl::StatusOr<Config> c = ParseConfig(text, "test.toml", "/srv");
  REQUIRE(c.ok());
  REQUIRE(c->peers.size() == 1);
  REQUIRE(c->peers[0].address == "127.0.0.1:7402");
  REQUIRE(c->peers[0].public_key.size() == 32);
  REQUIRE(c->trusted.size() == 1);
}

TEST_CASE("Config: an IPv6 peer address is kept in its shortest form", "[daemon]") {
  // Certificates name an IPv6 address in its shortest form; a longer spelling of the same
  // address failed the TLS name check.
  std::string text = std::string(kMinimal) +
                     "[[peers]]\nname = \"guzhen\"\naddress = \"[0:0:0:0:0:0:0:1]:7402\"\n"
                     "public_key = \"" +
                     kKey + "\"\ncert = \"guzhen.crt\"\n";
  absl::StatusOr<Config> c = ParseConfig(text, "test.toml", "/srv");
  REQUIRE(c.ok());
  REQUIRE(c->peers[0].address == "[::1]:7402");

  CHECK(CanonicalHostPort("[0:0:0:0:0:0:0:1]:7401") == "[::1]:7401");
  CHECK(CanonicalHostPort("[FE80:0:0::0001]:1") == "[fe80::1]:1");
  CHECK(CanonicalHostPort("[::ffff:127.0.0.1]:9") == "127.0.0.1:9");
  CHECK(CanonicalHostPort("[::FFFF:7F00:1]:9") == "127.0.0.1:9");
  for (const char* unchanged : {"[::1]:7401", "127.0.0.1:7401", "node-a.example:7401"}) {
    CHECK(CanonicalHostPort(unchanged) == unchanged);
  }
}

TEST_CASE("Config: every kind of mistake names the key", "[daemon]") {
  auto [text, key] = GENERATE(table<std::string, std::string>({
      {"[node]\nname = \"waihai\"\n", "node.data_dir"},
      {std::string(kMinimal) + "[api]\nlisten = 7401\n", "api.listen"},
      {std::string(kMinimal) + "[api]\nlisten = \"nohostport\"\n", "api.listen"},
      {std::string(kMinimal) + "[api]\nlisten = \"::1:7401\"\n", "api.listen"},
      {std::string(kMinimal) + "[sync]\nmax_clock_skew_ms = -1\n", "sync.max_clock_skew_ms"},
      {std::string(kMinimal) + "[sync]\nmax_clock_skw_ms = 5\n", "sync.max_clock_skw_ms"},
      {std::string(kMinimal) + "[log]\nformat = \"xml\"\n", "log.format"},
      {std::string(kMinimal) + "[ownership]\nidentity = \"anyone\"\n", "ownership.identity"},
      {std::string(kMinimal) + "[ownership]\ncolour = \"home\"\n", "ownership.colour"},
      {std::string(kMinimal) +
           "[[peers]]\nname = \"guzhen\"\naddress = \"h:1\"\npublic_key = \"abc\"\n",
       "peers[0].public_key"},
      {std::string(kMinimal) + "[[peers]]\nname = \"waihai\"\naddress = \"h:1\"\npublic_key = \"" +
           std::string(64, 'a') + "\"\n",
       "peers[0].name: is this node's own name"},
      {std::string(kMinimal) + "[[peers]]\nname = \"Guzhen!\"\naddress = \"h:1\"\npublic_key = \"" +
           std::string(64, 'a') + "\"\n",
       "peers[0].name"},
      {std::string(kMinimal) +
           "[[peers]]\nname = \"guzhen\"\naddress = \"::1:7402\"\npublic_key = \"" +
           std::string(64, 'a') + "\"\n",
       "peers[0].address: must be HOST:PORT: an IPv6 address goes in brackets"},
      {std::string(kMinimal) + "surprise = 1\n", "surprise"},
      {std::string(kMinimal) + "[auth]\nadmin_token_sha256 = \"xyz\"\n", "auth.admin_token_sha256"},
      {std::string(kMinimal) + "[auth]\ntracer_requests_per_minute = -5\n",
       "auth.tracer_requests_per_minute"},
      {std::string(kMinimal) + "[auth]\nspy_records_per_hour = 5\n", "auth.spy_records_per_hour"},
      {"[node\nname=", "test.toml:"},
  }));
  absl::StatusOr<Config> c = ParseConfig(text, "test.toml", "/srv");
  INFO(text);
  REQUIRE_FALSE(c.ok());
  INFO(c.status().message());
  REQUIRE(std::string(c.status().message()).find(key) != std::string::npos);
}

TEST_CASE("Daemon: start-up refuses a bad config, a missing key and a held data dir",
          "[daemon][e2e]") {
  TempDir root("daemon");
  auto nodes = wlsync::testing::MakeNodes(root.path(), {"waihai"});
  REQUIRE(nodes.size() == 1);
  wlsync::testing::Node& node = *nodes[0];
  std::string wlsyncd = std::string(WLSYNC_BIN_DIR) + "/wlsyncd";

  SECTION("a data dir held by a running node") {
    REQUIRE(node.Start());
    CommandResult second = wlsync::testing::Run({wlsyncd, "--config", node.config()});
    REQUIRE(second.exit_code == 1);
    REQUIRE(second.err.find("in use by another running node") != std::string::npos);
    REQUIRE(node.Stop() == 0);  // SIGTERM: clean exit
  }
  SECTION("a port another node already listens on") {
    REQUIRE(node.Start());
    auto others = wlsync::testing::MakeNodes(root / "other", {"guzhen"});
    REQUIRE(others.size() == 1);
    std::string text = wlsync::testing::ReadFile(others[0]->config());
    size_t at = text.find("listen = \"");
    size_t end = text.find('"', at + 10);
    text.replace(at, end - at + 1, "listen = \"" + node.address() + "\"");
    wlsync::testing::WriteFile(others[0]->config(), text);
    CommandResult second = wlsync::testing::Run({wlsyncd, "--config", others[0]->config()});
    REQUIRE(second.exit_code == 1);
    REQUIRE(second.err.find("cannot listen") != std::string::npos);
    REQUIRE(node.Stop() == 0);
  }
  SECTION("a missing signing key") {
    std::filesystem::remove(node.dir() + "/keys/waihai.key");
    CommandResult r = wlsync::testing::Run({wlsyncd, "--config", node.config()});
    REQUIRE(r.exit_code == 1);
    REQUIRE(r.err.find("node.signing_key") != std::string::npos);
  }
  SECTION("a TLS key that is not the certificate's, and a missing pinned certificate") {
    std::filesystem::copy_file(wlsync::testing::SharedTestCa().key, node.dir() + "/tls/waihai.key",
                               std::filesystem::copy_options::overwrite_existing);
    CommandResult r = wlsync::testing::Run({wlsyncd, "--config", node.config()});
    REQUIRE(r.exit_code == 1);
    REQUIRE(r.err.find("tls.key: " + node.dir() + "/tls/waihai.key: is not the key of tls.cert") !=
            std::string::npos);
  }
  SECTION("a pinned peer certificate that cannot be read") {
    node.AppendConfig("[[peers]]\nname = \"guzhen\"\naddress = \"127.0.0.1:1\"\npublic_key = \"" +
                      kKey + "\"\ncert = \"peers/guzhen.crt\"\n");
    CommandResult r = wlsync::testing::Run({wlsyncd, "--config", node.config()});
    REQUIRE(r.exit_code == 1);
    REQUIRE(r.err.find("peers[0].cert: " + node.dir() + "/peers/guzhen.crt: cannot open") !=
            std::string::npos);
  }
  SECTION("an unknown config key") {
    std::string text = wlsync::testing::ReadFile(node.config());
    size_t at = text.find("max_clock_skew_ms");
    REQUIRE(at != std::string::npos);
    text.insert(at, "bogus = 1\n");
    wlsync::testing::WriteFile(node.config(), text);
    CommandResult r = wlsync::testing::Run({wlsyncd, "--config", node.config()});
    REQUIRE(r.exit_code == 1);
    REQUIRE(r.err.find("sync.bogus") != std::string::npos);
  }
  SECTION("no --config") {
    CommandResult r = wlsync::testing::Run({wlsyncd});
    REQUIRE(r.exit_code != 0);
    REQUIRE(r.err.find("--config") != std::string::npos);
  }
}

}  // namespace
}  // namespace wlsync::daemon
