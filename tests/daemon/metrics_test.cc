// The metrics listener of real nodes: every family the operations issue names is exported
// and agrees with what the nodes did (status, import summaries, RPCs made), and a listener
// that cannot open stops the start with a clear error.
#include <catch2/catch.hpp>

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <regex>

#include "tests/support/cluster.h"

namespace wlsync::daemon {
namespace {

using wlsync::testing::CommandResult;
using wlsync::testing::MetricValue;
using wlsync::testing::Node;
using wlsync::testing::WaitFor;

// A number from `status --json` ("key": "123" or "key": 123), the first after `after`.
long StatusNumber(const std::string& json, const std::string& key, const std::string& after = "") {
  size_t from = after.empty() ? 0 : json.find(after);
  std::smatch m;
  std::string tail = json.substr(from == std::string::npos ? 0 : from);
  if (!std::regex_search(tail, m, std::regex("\"" + key + "\": \"?([0-9]+)"))) return -1;
  return std::stol(m[1]);
}

// The events of `origin`'s stream as `node` holds it.
long StreamEvents(const Node& node, const std::string& origin) {
  std::string json = node.Cli({"status", "--json"}).out;
  std::string streams = json.substr(json.find("\"streams\""));
  return StatusNumber(streams, "events", "\"origin\": \"" + origin + "\"");
}

TEST_CASE("Metrics: two nodes export what they applied, sent, imported and served",
          "[daemon][e2e]") {
  wlsync::testing::TempDir root("metrics");
  auto nodes = wlsync::testing::StartMesh(root.path(), {"waihai", "guzhen"});
  REQUIRE(nodes.size() == 2);
  Node& waihai = *nodes[0];
  Node& guzhen = *nodes[1];

  // 40 rows, one of them twice (refused), then one edit.
  std::string rows = wlsync::testing::SampleRows(root.path(), 40);
  std::string text = wlsync::testing::ReadFile(rows);
  text += text.substr(text.find('\n') + 1, text.find('\n', text.find('\n') + 1) - text.find('\n'));
  wlsync::testing::WriteFile(rows, text);
  CommandResult imported = waihai.Cli({"import", rows});
  REQUIRE(imported.exit_code == 3);  // some rows refused
  REQUIRE(WaitFor([&] { return guzhen.Records() == 40; }, std::chrono::seconds(20)));

  long own_seq = StatusNumber(waihai.Cli({"status", "--json"}).out, "own_seq");
  long events = StreamEvents(waihai, "waihai");
  REQUIRE(own_seq > 0);
  REQUIRE(events >= 40);
  REQUIRE(WaitFor([&] { return StreamEvents(guzhen, "waihai") == events; },
                  std::chrono::seconds(20)));

  SECTION("what waihai made, imported and sent") {
    std::string m;
    REQUIRE(WaitFor(
        [&] {
          m = waihai.Metrics();
          return MetricValue(m, R"(wlsync_deltas_sent_total{peer="guzhen",origin="waihai"})") ==
                 own_seq;
        },
        std::chrono::seconds(10)));
    CHECK(MetricValue(m, R"(wlsync_deltas_applied_total{peer="waihai",origin="waihai"})") ==
          own_seq);
    CHECK(MetricValue(m, R"(wlsync_events_applied_total{peer="waihai",origin="waihai"})") ==
          events);
    CHECK(MetricValue(m, R"(wlsync_events_sent_total{peer="guzhen",origin="waihai"})") == events);
    CHECK(MetricValue(m, R"(wlsync_sent_bytes_total{peer="guzhen",origin="waihai"})") > 0);
    CHECK(MetricValue(m, R"(wlsync_import_rows_total{outcome="created"})") == 40);
    CHECK(MetricValue(m, R"(wlsync_import_rows_total{outcome="rejected"})") == 1);
    CHECK(MetricValue(m, R"(wlsync_records{status="REGISTERED",list="WHITE"})") +
              MetricValue(m, R"(wlsync_records{status="REGISTERED",list="GREY"})") +
              MetricValue(m, R"(wlsync_records{status="DEREGISTERED"})") ==
          40);
    CHECK(MetricValue(m, R"(wlsync_peer_connected{peer="guzhen"})") == 1);
    CHECK(MetricValue(m, "wlsync_health_serving") == 1);
    CHECK(MetricValue(m, "wlsync_store_write_error") == 0);
    CHECK(MetricValue(m, "wlsync_own_seq") == own_seq);
    CHECK(MetricValue(m, R"(wlsync_store_write_stalls_total{kind="stopped"})") >= 0);
    CHECK(MetricValue(m, "wlsync_store_memtable_bytes") > 0);
    CHECK(MetricValue(m, R"(wlsync_reconcile_last_success_timestamp_seconds{peer="guzhen"})") ==
          0);
    CHECK(m.find("# TYPE wlsync_rpc_duration_seconds histogram") != std::string::npos);
    CHECK(MetricValue(
              m, R"(wlsync_rpc_duration_seconds_count{method="wlsync.v1.Registry/Import",code="OK"})") ==
          1);
    // The Peer service's calls are timed too: guzhen's Pull stream is still open, but the
    // import's status calls above were answered.
    CHECK(MetricValue(
              m, R"(wlsync_rpc_duration_seconds_count{method="wlsync.v1.Registry/Status",code="OK"})") >=
          1);
  }

  SECTION("what guzhen applied from waihai, and its lag") {
    std::string m;
    REQUIRE(WaitFor(
        [&] {
          m = guzhen.Metrics();
          return MetricValue(m, R"(wlsync_replication_lag_events{peer="waihai"})") == 0;
        },
        std::chrono::seconds(10)));
    CHECK(MetricValue(m, R"(wlsync_deltas_applied_total{peer="waihai",origin="waihai"})") ==
          own_seq);
    CHECK(MetricValue(m, R"(wlsync_events_applied_total{peer="waihai",origin="waihai"})") ==
          events);
    CHECK(MetricValue(
              m, R"(wlsync_deltas_received_total{peer="waihai",origin="waihai",outcome="applied"})") ==
          own_seq);
    CHECK(MetricValue(m, R"(wlsync_signature_failures_total{peer="waihai"})") == 0);
    CHECK(MetricValue(m, R"(wlsync_peer_last_contact_timestamp_seconds{peer="waihai"})") > 0);
  }

  SECTION("refused calls are counted by code, and the audit trail by entries") {
    std::string before = waihai.Metrics();
    double audit = MetricValue(before, "wlsync_audit_entries_total");
    CHECK(MetricValue(before, "wlsync_audit_entries_removed_total") == 0);  // none old enough
    std::string bad = root / "bad.token";
    wlsync::testing::WriteFile(bad, "wlt_notavalidtoken\n");
    CommandResult r = wlsync::testing::Cli(
        {"--node", waihai.address(), "--token-file", bad, "get", "pid-does-not-matter"});
    CHECK(r.exit_code != 0);
    std::string after = waihai.Metrics();
    CHECK(MetricValue(
              after,
              R"(wlsync_rpc_duration_seconds_count{method="wlsync.v1.Registry/Get",code="UNAUTHENTICATED"})") ==
          1);
    CHECK(MetricValue(after, "wlsync_audit_entries_total") == audit + 1);  // the refusal
    CHECK(MetricValue(after, R"(wlsync_refusals_total{reason="unauthenticated",audit="entry"})") ==
          1);
  }

  SECTION("health checks are counted under their own method") {
    REQUIRE(waihai.Cli({"health"}).exit_code == 0);
    CHECK(MetricValue(waihai.Metrics(),
                      R"(wlsync_rpc_duration_seconds_count{method="grpc.health.v1.Health/Check",code="OK"})") >= 1);
  }

  SECTION("only /metrics is served") {
    CHECK(wlsync::testing::HttpGet(waihai.metrics_port(), "/metrics").code == 200);
    CHECK(wlsync::testing::HttpGet(waihai.metrics_port(), "/").code == 404);
  }
}

TEST_CASE("Metrics: deltas signed with a key other than the configured one count as "
          "signature failures", "[daemon][e2e]") {
  wlsync::testing::TempDir root("metrics-sig");
  auto nodes = wlsync::testing::MakeNodes(root.path(), {"waihai", "guzhen", "other"});
  REQUIRE(nodes.size() == 3);
  Node& waihai = *nodes[0];
  Node& guzhen = *nodes[1];
  // waihai pins guzhen's certificate but holds another node's signing key for it.
  waihai.AppendConfig("[[peers]]\nname = \"guzhen\"\naddress = \"" + guzhen.address() +
                      "\"\npublic_key = \"" + nodes[2]->public_key_hex() + "\"\ncert = \"" +
                      guzhen.cert() + "\"\n");
  guzhen.AddPeer(waihai);
  REQUIRE(waihai.Start());
  REQUIRE(guzhen.Start());
  REQUIRE(guzhen.Cli({"import", wlsync::testing::SampleRows(root.path(), 5)}).exit_code == 0);

  std::string m;
  REQUIRE(WaitFor(
      [&] {
        m = waihai.Metrics();
        return MetricValue(m, R"(wlsync_signature_failures_total{peer="guzhen"})") >= 1;
      },
      std::chrono::seconds(20)));
  // Nothing of it was applied, and the forged origin is not a label value.
  CHECK(MetricValue(m, R"(wlsync_deltas_received_total{peer="guzhen",origin="unknown",outcome="bad_signature"})") >= 1);
  CHECK(m.find(R"(wlsync_deltas_applied_total{peer="guzhen")") == std::string::npos);
  CHECK(waihai.Records() == 0);
  // waihai holds nothing of guzhen's stream: its lag counts from when it saw that, not
  // from 1970.
  double lag = MetricValue(m, R"(wlsync_replication_lag_seconds{peer="guzhen"})");
  CHECK(lag >= 0);
  CHECK(lag < 120);
  CHECK(MetricValue(m, R"(wlsync_replication_lag_events{peer="guzhen"})") > 0);
}

TEST_CASE("Metrics: a listener that cannot open stops the start, an empty one is off",
          "[daemon][e2e]") {
  wlsync::testing::TempDir root("metrics-listen");
  auto nodes = wlsync::testing::MakeNodes(root.path(), {"waihai"});
  REQUIRE(nodes.size() == 1);
  Node& node = *nodes[0];
  std::string config = wlsync::testing::ReadFile(node.config());

  SECTION("the port is taken") {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = htons(static_cast<uint16_t>(node.metrics_port()));
    REQUIRE(bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0);
    REQUIRE(listen(fd, 1) == 0);
    CHECK_FALSE(node.Start());
    close(fd);
    INFO(node.log());
    CHECK(node.log().find("metrics.listen: cannot listen on 127.0.0.1:" +
                          std::to_string(node.metrics_port())) != std::string::npos);
  }
  SECTION("an IPv6 or malformed listener is refused at start, by name") {
    std::string listen = "listen = \"127.0.0.1:" + std::to_string(node.metrics_port()) + "\"";
    std::string value = GENERATE(as<std::string>{}, "[::1]:9740", " 127.0.0.1:9740",
                                 "http://127.0.0.1:9740", "*:9740");
    config.replace(config.find(listen), listen.size(), "listen = \"" + value + "\"");
    wlsync::testing::WriteFile(node.config(), config);
    CHECK_FALSE(node.Start());
    INFO(node.log());
    CHECK(node.log().find("metrics.listen: ") != std::string::npos);
    if (value.front() == '[') CHECK(node.log().find("IPv6") != std::string::npos);
  }
  SECTION("listen = \"\" turns metrics off") {
    std::string listen = "listen = \"127.0.0.1:" + std::to_string(node.metrics_port()) + "\"";
    config.replace(config.find(listen), listen.size(), "listen = \"\"");
    wlsync::testing::WriteFile(node.config(), config);
    REQUIRE(node.Start());
    CHECK(node.log().find("metrics off") != std::string::npos);
    CHECK(wlsync::testing::HttpGet(node.metrics_port(), "/metrics").code == -1);
    CHECK(node.Cli({"status", "--json"}).out.find("\"metrics_port\": 0") != std::string::npos);
  }
}

}  // namespace
}  // namespace wlsync::daemon
