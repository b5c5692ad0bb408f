// Certificates made for `wlsync init` and the checks NodeTls::Load makes on a node's files:
// every refusal names the config key and the file.
#include "net/certs.h"

#include <catch2/catch.hpp>

#include "model/pid.h"
#include "net/node_tls.h"
#include "tests/support/cluster.h"

namespace wlsync::net {
namespace {

using wlsync::testing::TempDir;

void Write(const std::string& path, const std::string& text) {
  REQUIRE(model::WriteFileAtomic(path, text, 0600).ok());
}

KeyAndCert Ca(const std::string& name) {
  absl::StatusOr<KeyAndCert> ca = MakeCa(name);
  REQUIRE(ca.ok());
  return *ca;
}

KeyAndCert Issue(const KeyAndCert& ca, const std::string& node) {
  absl::StatusOr<KeyAndCert> cert =
      IssueNodeCertificate(ca, node, {"localhost", "127.0.0.1", node});
  INFO(cert.status().message());
  REQUIRE(cert.ok());
  return *cert;
}

TEST_CASE("Certs: a made CA signs node certificates that load, with their pins", "[net]") {
  TempDir dir("certs");
  KeyAndCert ca = Ca("test CA");
  REQUIRE(CheckCa(ca).ok());
  KeyAndCert waihai = Issue(ca, "waihai");
  KeyAndCert guzhen = Issue(ca, "guzhen");
  REQUIRE(CheckNodeCertificate(waihai, ca.cert_pem).ok());
  Write(dir / "ca.crt", ca.cert_pem);
  Write(dir / "waihai.crt", waihai.cert_pem);
  Write(dir / "waihai.key", waihai.key_pem);
  // A pin file may hold several certificates (old and new during a rotation).
  KeyAndCert guzhen_next = Issue(ca, "guzhen");
  Write(dir / "guzhen.crt", guzhen.cert_pem + guzhen_next.cert_pem);

  absl::StatusOr<std::shared_ptr<const NodeTls>> tls =
      NodeTls::Load({dir / "waihai.crt", dir / "waihai.key", dir / "ca.crt"},
                    {{"guzhen", dir / "guzhen.crt", "peers[0].cert"}});
  INFO(tls.status().message());
  REQUIRE(tls.ok());
  REQUIRE((*tls)->fingerprint().size() == 64);
  REQUIRE((*tls)->fingerprint() == *FingerprintOfPem(waihai.cert_pem));
  REQUIRE((*tls)->days_left() >= kNodeCertDays - 1);
  REQUIRE((*tls)->pins().Accepts("guzhen", *FingerprintOfPem(guzhen.cert_pem)));
  REQUIRE((*tls)->pins().Accepts("guzhen", *FingerprintOfPem(guzhen_next.cert_pem)));
  REQUIRE_FALSE((*tls)->pins().Accepts("guzhen", *FingerprintOfPem(waihai.cert_pem)));
  REQUIRE_FALSE((*tls)->pins().Accepts("third", *FingerprintOfPem(guzhen.cert_pem)));
  REQUIRE((*tls)->pins().HasPeer("guzhen"));
  REQUIRE_FALSE((*tls)->pins().HasPeer("third"));
}

TEST_CASE("Certs: a node certificate is neither a CA nor accepted by another CA", "[net]") {
  KeyAndCert ca = Ca("test CA");
  KeyAndCert node = Issue(ca, "waihai");
  REQUIRE(std::string(CheckCa(node).message()).find("not a CA") != std::string::npos);
  REQUIRE_FALSE(CheckCa({ca.cert_pem, node.key_pem}).ok());
  absl::Status other = CheckNodeCertificate(node, Ca("other CA").cert_pem);
  REQUIRE(std::string(other.message()).find("not accepted by the CA") != std::string::npos);
  REQUIRE_FALSE(CheckNodeCertificate({node.cert_pem, Issue(ca, "x").key_pem}, ca.cert_pem).ok());
  REQUIRE_FALSE(IssueNodeCertificate(ca, "waihai", {"bad,host"}).ok());
}

TEST_CASE("Certs: subjectAltName hosts are DNS names or IP addresses", "[net]") {
  auto [host, ok] = GENERATE(table<std::string, bool>({
      {"localhost", true},
      {"node-1.example.org", true},
      {"127.0.0.1", true},
      {"::1", true},
      {"fe80::1", true},
      {"", false},
      {"a,b", false},
      {"IP:1.2.3.4", false},
      {"-lead", false},
      {"sp ace", false},
  }));
  INFO(host);
  REQUIRE(IsValidSanHost(host) == ok);
}

TEST_CASE("NodeTls: each bad file is refused with its config key and path", "[net]") {
  TempDir dir("tls-bad");
  KeyAndCert ca = Ca("test CA");
  KeyAndCert node = Issue(ca, "waihai");
  KeyAndCert stranger = Issue(Ca("other CA"), "waihai");
  Write(dir / "ca.crt", ca.cert_pem);
  Write(dir / "node.crt", node.cert_pem);
  Write(dir / "node.key", node.key_pem);
  Write(dir / "other.key", Issue(ca, "x").key_pem);
  Write(dir / "stranger.crt", stranger.cert_pem);
  Write(dir / "stranger.key", stranger.key_pem);
  Write(dir / "garbage", "not a certificate\n");
  TlsFiles good{dir / "node.crt", dir / "node.key", dir / "ca.crt"};

  struct Case {
    TlsFiles files;
    std::vector<PinFile> pins;
    std::string want;
  };
  std::vector<Case> cases = {
      {{dir / "missing.crt", good.key, good.ca}, {}, "tls.cert: " + (dir / "missing.crt")},
      {{dir / "garbage", good.key, good.ca}, {}, "tls.cert: " + (dir / "garbage") + ": holds no"},
      {{good.cert, dir / "garbage", good.ca}, {}, "tls.key: " + (dir / "garbage")},
      {{good.cert, dir / "other.key", good.ca}, {}, "is not the key of tls.cert"},
      {{good.cert, good.key, dir / "garbage"}, {}, "tls.ca: " + (dir / "garbage")},
      {{dir / "stranger.crt", dir / "stranger.key", good.ca}, {}, "not accepted by a CA of tls.ca"},
      {good,
       {{"guzhen", dir / "nope.crt", "peers[0].cert"}},
       "peers[0].cert: " + (dir / "nope.crt")},
      {good, {{"guzhen", dir / "garbage", "peers[1].cert"}}, "peers[1].cert: " + (dir / "garbage")},
  };
  for (const Case& c : cases) {
    absl::StatusOr<std::shared_ptr<const NodeTls>> tls = NodeTls::Load(c.files, c.pins);
    INFO("want: " << c.want);
    REQUIRE_FALSE(tls.ok());
    INFO("got: " << tls.status().message());
    REQUIRE(std::string(tls.status().message()).find(c.want) != std::string::npos);
  }
  // A pin that does not chain to the CA still loads (it is logged): the handshake refuses it.
  REQUIRE(NodeTls::Load(good, {{"guzhen", dir / "stranger.crt", "peers[0].cert"}}).ok());
}

}  // namespace
}  // namespace wlsync::net
