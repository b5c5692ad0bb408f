// Revoking a peer's TLS certificate end to end, with real nodes over mutual TLS: the live
// sync stops in both directions within seconds and stays stopped across a restart although
// the pin file still lists the certificate; the refusal is audited and counted; a new
// certificate of the peer, added to the pin file and reloaded without a restart, brings sync
// back with nothing lost. SIGHUP reloads the pin files too.
#include <signal.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <string>
#include <thread>

#include "net/certs.h"
#include "net/node_tls.h"
#include "tests/support/cluster.h"

namespace wlsync::testing {
namespace {

using std::chrono::seconds;

std::string Fingerprint(const std::string& pem_file) {
  absl::StatusOr<std::string> fp = net::FingerprintOfPem(ReadFile(pem_file));
  REQUIRE(fp.ok());
  return *fp;
}

// A [[peers]] block for `peer` whose pin file is `pin_file` (a copy this node's operator
// keeps), rather than the peer's own certificate file.
void AddPeerPinnedAt(Node& node, const Node& peer, const std::string& pin_file) {
  WriteFile(pin_file, ReadFile(peer.cert()));
  node.AppendConfig("[[peers]]\nname = \"" + peer.name() + "\"\naddress = \"" + peer.address() +
                    "\"\npublic_key = \"" + peer.public_key_hex() + "\"\ncert = \"" + pin_file +
                    "\"\n");
}

double Refused(const Node& node, const std::string& side) {
  return MetricValue(node.Metrics(), "wlsync_tls_refused_total{peer=\"guzhen\",side=\"" + side +
                                         "\",reason=\"revoked\"}");
}

TEST_CASE(
    "Certs: a revoked peer certificate is refused at once, also after a restart, until "
    "a new one is pinned and reloaded",
    "[e2e][tls]") {
  TempDir root("cert-revoke");
  auto nodes = MakeNodes(root.path(), {"waihai", "guzhen", "zhuhai"});
  REQUIRE(nodes.size() == 3);
  Node& waihai = *nodes[0];
  Node& guzhen = *nodes[1];
  std::string pin_file = root / "waihai-pins-guzhen.crt";
  AddPeerPinnedAt(waihai, guzhen, pin_file);
  guzhen.AddPeer(waihai);
  waihai.AddPeer(*nodes[2]);  // configured, never started: only its pin matters here
  REQUIRE(waihai.Start());
  REQUIRE(guzhen.Start());

  // Both directions are live.
  REQUIRE(waihai.Cli({"import", SampleRows(root.path(), 40)}).exit_code == 0);
  REQUIRE(WaitFor([&] { return guzhen.Records() == 40; }, seconds(20)));
  std::string who = SampleIdDoc(0);
  REQUIRE(guzhen.Cli({"set", who, "phone", "13900000011"}).exit_code == 0);
  REQUIRE(WaitFor([&] { return PhoneAt(waihai, who) == "13900000011"; }, seconds(20)));

  // Refused: not a peer, not a fingerprint, not an admin.
  std::string old_fp = Fingerprint(guzhen.cert());
  CHECK(
      AdminCli(waihai, {"cert", "revoke", "--peer", "nobody", "--fingerprint", old_fp}).exit_code ==
      1);
  CHECK(
      AdminCli(waihai, {"cert", "revoke", "--peer", "guzhen", "--fingerprint", "abc"}).exit_code ==
      2);
  CHECK(Contains(waihai.Cli({"cert", "list"}).err, "PERMISSION_DENIED"));
  // A certificate pinned for another peer: a wrong --peer would leave it working.
  CommandResult wrong_peer =
      AdminCli(waihai, {"cert", "revoke", "--peer", "zhuhai", "--fingerprint", old_fp});
  CHECK(wrong_peer.exit_code == 1);
  CHECK(Contains(wrong_peer.err, "is not pinned for zhuhai but for guzhen"));

  auto revoked_at = std::chrono::steady_clock::now();
  CommandResult revoked = AdminCli(waihai, {"cert", "revoke", "--peer", "guzhen", "--cert",
                                            guzhen.cert(), "--reason", "key copied by mistake"});
  INFO(revoked.out << revoked.err);
  REQUIRE(revoked.exit_code == 0);
  CHECK(Contains(revoked.out, "REVOKED"));
  CHECK(Contains(revoked.out, old_fp));

  // Within a couple of seconds both live streams are cut: waihai's pull from guzhen (its
  // server certificate) and guzhen's pull from waihai (its client certificate).
  REQUIRE(WaitFor(
      [&] {
        return Contains(waihai.Cli({"status", "--json"}).out, "is revoked for peer guzhen") &&
               Contains(guzhen.Cli({"status", "--json"}).out,
                        "is revoked by this node; it accepts only a new certificate");
      },
      seconds(5)));
  CHECK(std::chrono::steady_clock::now() - revoked_at < seconds(4));
  std::string phone_before = PhoneAt(waihai, who);
  REQUIRE(guzhen.Cli({"set", who, "phone", "13900000012"}).exit_code == 0);
  std::string other = SampleIdDoc(1);
  REQUIRE(waihai.Cli({"set", other, "phone", "13900000013"}).exit_code == 0);
  std::this_thread::sleep_for(seconds(3));
  CHECK(PhoneAt(waihai, who) == phone_before);
  CHECK(PhoneAt(guzhen, other) != "13900000013");

  // Audited, counted, shown; logged with a short fingerprint only.
  REQUIRE(waihai.MakeToken("auditor-1", "auditor", waihai.token_file("auditor")));
  std::string auditor = waihai.token_file("auditor");
  REQUIRE(WaitFor(
      [&] {
        std::string trail = waihai.Cli({"--token-file", auditor, "audit", "export"}).out;
        return Contains(trail, "\"method\":\"Emergency.RevokeCert\"") &&
               Contains(trail, "node=guzhen side=caller cert=" + old_fp) &&
               Contains(trail, "node=guzhen side=server cert=" + old_fp);
      },
      seconds(5)));
  CHECK(Contains(waihai.Cli({"--token-file", auditor, "audit", "export"}).out,
                 R"(reason=\"key copied by mistake\")"));
  CHECK(Refused(waihai, "caller") >= 1);
  CHECK(Refused(waihai, "server") >= 1);
  CHECK(MetricValue(waihai.Metrics(), "wlsync_tls_revoked_certificates{peer=\"guzhen\"}") == 1);
  CHECK(Contains(waihai.Cli({"status"}).out, "REVOKED certificate sha256=" + old_fp.substr(0, 16)));
  CHECK(Contains(waihai.log(),
                 "its client certificate sha256=" + old_fp.substr(0, 16) + ".. is revoked"));
  CHECK_FALSE(Contains(waihai.log(), "BEGIN CERTIFICATE"));

  // A restart keeps the revocation although the pin file still lists the certificate.
  REQUIRE(waihai.Stop() == 0);
  REQUIRE(waihai.Start());
  REQUIRE(WaitFor([&] { return Refused(waihai, "server") >= 1; }, seconds(20)));
  CHECK(Contains(AdminCli(waihai, {"cert", "list"}).out, "REVOKED"));
  std::this_thread::sleep_for(seconds(2));
  CHECK(PhoneAt(waihai, who) == phone_before);

  // guzhen gets a new certificate of the same CA (its own rotation needs its restart);
  // waihai's operator adds it to the pin file and reloads without a restart.
  absl::StatusOr<net::KeyAndCert> next =
      net::IssueNodeCertificate({ReadFile(SharedTestCa().cert), ReadFile(SharedTestCa().key)},
                                "guzhen", {"localhost", "127.0.0.1"});
  REQUIRE(next.ok());
  REQUIRE(guzhen.Stop() == 0);
  WriteFile(guzhen.cert(), next->cert_pem);
  WriteFile(guzhen.dir() + "/tls/guzhen.key", next->key_pem);
  REQUIRE(guzhen.Start());
  WriteFile(pin_file, ReadFile(pin_file) + next->cert_pem);
  CommandResult reload = AdminCli(waihai, {"cert", "reload"});
  INFO(reload.out << reload.err);
  REQUIRE(reload.exit_code == 0);
  CHECK(Contains(reload.out, "reloaded peer=guzhen pinned=2 added=1 removed=0"));
  CHECK(Contains(reload.out, Fingerprint(guzhen.cert())));

  // Sync resumes both ways with nothing lost.
  CHECK(WaitFor([&] { return PhoneAt(waihai, who) == "13900000012"; }, seconds(30)));
  CHECK(WaitFor([&] { return PhoneAt(guzhen, other) == "13900000013"; }, seconds(30)));
  CHECK(WaitFor([&] { return waihai.Export() == guzhen.Export(); }, seconds(30)));
  CHECK(Contains(waihai.Cli({"--token-file", auditor, "audit", "export"}).out,
                 "\"method\":\"Emergency.ReloadCerts\""));
}

TEST_CASE("Certs: SIGHUP reads the pin files again and is audited", "[e2e][tls]") {
  TempDir root("cert-sighup");
  auto nodes = MakeNodes(root.path(), {"waihai", "guzhen"});
  REQUIRE(nodes.size() == 2);
  Node& waihai = *nodes[0];
  std::string pin_file = root / "pins.crt";
  AddPeerPinnedAt(waihai, *nodes[1], pin_file);  // guzhen itself is not started
  REQUIRE(waihai.Start());
  std::string old_fp = Fingerprint(nodes[1]->cert());
  REQUIRE(Contains(AdminCli(waihai, {"cert", "list"}).out, old_fp));

  absl::StatusOr<net::KeyAndCert> next = net::IssueNodeCertificate(
      {ReadFile(SharedTestCa().cert), ReadFile(SharedTestCa().key)}, "guzhen", {"127.0.0.1"});
  REQUIRE(next.ok());
  std::string new_fp = *net::FingerprintOfPem(next->cert_pem);
  WriteFile(pin_file, next->cert_pem);
  REQUIRE(::kill(waihai.pid(), SIGHUP) == 0);
  CHECK(WaitFor(
      [&] {
        return Contains(AdminCli(waihai, {"cert", "list"}).out, new_fp);
      },
      seconds(10)));
  CHECK_FALSE(Contains(AdminCli(waihai, {"cert", "list"}).out, old_fp));
  CHECK(waihai.Cli({"health"}).exit_code == 0);  // still running

  // A broken pin file keeps the previous pins; the failure is logged and audited.
  WriteFile(pin_file, "no certificate here\n");
  REQUIRE(::kill(waihai.pid(), SIGHUP) == 0);
  CHECK(WaitFor([&] { return Contains(waihai.log(), "SIGHUP: pin files not reloaded"); },
                seconds(10)));
  CHECK(Contains(AdminCli(waihai, {"cert", "list"}).out, new_fp));
  REQUIRE(waihai.MakeToken("auditor-1", "auditor", waihai.token_file("auditor")));
  std::string trail =
      waihai.Cli({"--token-file", waihai.token_file("auditor"), "audit", "export"}).out;
  CHECK(Contains(trail, "signal=SIGHUP peer=guzhen pinned=1 added=1 removed=1"));
  CHECK(Contains(trail, "FAILED: peers[0].cert"));
  CHECK(waihai.Stop() == 0);
}

}  // namespace
}  // namespace wlsync::testing
