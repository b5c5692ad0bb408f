// The live pin set: what a peer may present, revocations that outlive reloads of the pin
// files, all-or-nothing reloads, expiry dates, and the once-only note of a revoked
// certificate's refusal for the audit trail.
#include "net/pin_set.h"

#include <catch2/catch.hpp>

#include <atomic>
#include <thread>

#include "absl/time/clock.h"
#include "model/pid.h"
#include "net/certs.h"
#include "net/node_tls.h"
#include "tests/support/cluster.h"

namespace wlsync::net {
namespace {

using wlsync::testing::TempDir;

const std::string kA(64, 'a');
const std::string kB(64, 'b');
const std::string kC(64, 'c');

PinMap Pins(std::vector<std::pair<std::string, std::string>> peer_fp) {
  PinMap out;
  for (auto& [peer, fp] : peer_fp) out[peer].push_back({fp, 0});
  return out;
}

TEST_CASE("PinSet: accepts a pinned certificate of its own peer until it is revoked", "[net]") {
  PinSet pins;
  pins.ReplacePinned(Pins({{"guzhen", kA}, {"guzhen", kB}, {"third", kC}}));
  CHECK(pins.Accepts("guzhen", kA));
  CHECK(pins.Accepts("guzhen", kB));
  CHECK_FALSE(pins.Accepts("guzhen", kC));  // another peer's certificate
  CHECK_FALSE(pins.Accepts("nobody", kA));
  CHECK_FALSE(pins.Accepts("guzhen", ""));
  CHECK(pins.HasPeer("third"));
  CHECK_FALSE(pins.HasPeer("nobody"));

  CHECK(pins.Revoke("guzhen", kA));
  CHECK_FALSE(pins.Revoke("guzhen", kA));  // already
  CHECK_FALSE(pins.Accepts("guzhen", kA));
  CHECK(pins.Accepts("guzhen", kB));  // the other certificate of the same peer
  CHECK(pins.IsRevoked("guzhen", kA));
  CHECK_FALSE(pins.IsRevoked("third", kA));  // revoked per peer
  CHECK(pins.RevokedOf("guzhen") == std::vector<std::string>{kA});
  CHECK(pins.RevokedOf("third").empty());

  SECTION("a reload that still lists the revoked certificate does not bring it back") {
    pins.ReplacePinned(Pins({{"guzhen", kA}, {"guzhen", kC}}));
    CHECK_FALSE(pins.Accepts("guzhen", kA));
    CHECK(pins.Accepts("guzhen", kC));
    CHECK_FALSE(pins.Accepts("guzhen", kB));  // no longer pinned
    CHECK_FALSE(pins.HasPeer("third"));
  }
  SECTION("a certificate revoked before it is pinned is refused once pinned") {
    CHECK(pins.Revoke("guzhen", kC));
    pins.ReplacePinned(Pins({{"guzhen", kC}}));
    CHECK_FALSE(pins.Accepts("guzhen", kC));
  }
}

TEST_CASE("PinSet: a revoked certificate's refusal is noted once per peer and side", "[net]") {
  PinSet pins;
  pins.NoteRevokedRefusal("guzhen", kA, PeerSide::kCaller);
  pins.NoteRevokedRefusal("guzhen", kA, PeerSide::kCaller);
  pins.NoteRevokedRefusal("guzhen", kA, PeerSide::kServer);
  std::vector<RevokedRefusal> first = pins.TakeRevokedRefusals();
  REQUIRE(first.size() == 2);
  CHECK(first[0].peer == "guzhen");
  CHECK(first[0].fingerprint == kA);
  CHECK(first[0].side == PeerSide::kCaller);
  CHECK(first[1].side == PeerSide::kServer);
  CHECK(pins.TakeRevokedRefusals().empty());
  pins.NoteRevokedRefusal("guzhen", kA, PeerSide::kCaller);  // seen before: counted elsewhere
  CHECK(pins.TakeRevokedRefusals().empty());
  pins.NoteRevokedRefusal("guzhen", kB, PeerSide::kCaller);
  CHECK(pins.TakeRevokedRefusals().size() == 1);
}

// Without the lock, readers would walk a map being replaced (a crash, or garbage accepted).
TEST_CASE("PinSet: readers on other threads stay correct while the pins change", "[net]") {
  PinSet pins;
  pins.ReplacePinned(Pins({{"guzhen", kA}}));
  std::atomic<bool> stop{false};
  std::atomic<int64_t> wrong{0};
  std::vector<std::thread> readers;
  for (int i = 0; i < 3; ++i) {
    readers.emplace_back([&] {
      while (!stop.load()) {
        if (pins.Accepts("guzhen", kC) || pins.Accepts("third", kA)) ++wrong;
      }
    });
  }
  for (int i = 0; i < 2000; ++i) pins.ReplacePinned(Pins({{"guzhen", i % 2 ? kA : kB}}));
  stop.store(true);
  for (std::thread& t : readers) t.join();
  CHECK(wrong.load() == 0);
}

KeyAndCert Issue(const KeyAndCert& ca, const std::string& node) {
  absl::StatusOr<KeyAndCert> cert = IssueNodeCertificate(ca, node, {"127.0.0.1"});
  REQUIRE(cert.ok());
  return *cert;
}

void Write(const std::string& path, const std::string& text) {
  REQUIRE(model::WriteFileAtomic(path, text, 0600).ok());
}

TEST_CASE("NodeTls: ReloadPins reads the pin files again, all or nothing", "[net]") {
  TempDir dir("reload-pins");
  absl::StatusOr<KeyAndCert> ca = MakeCa("test CA");
  REQUIRE(ca.ok());
  KeyAndCert waihai = Issue(*ca, "waihai");
  KeyAndCert old_cert = Issue(*ca, "guzhen");
  KeyAndCert new_cert = Issue(*ca, "guzhen");
  std::string old_fp = *FingerprintOfPem(old_cert.cert_pem);
  std::string new_fp = *FingerprintOfPem(new_cert.cert_pem);
  Write(dir / "ca.crt", ca->cert_pem);
  Write(dir / "waihai.crt", waihai.cert_pem);
  Write(dir / "waihai.key", waihai.key_pem);
  Write(dir / "guzhen.crt", old_cert.cert_pem);
  absl::StatusOr<std::shared_ptr<const NodeTls>> tls =
      NodeTls::Load({dir / "waihai.crt", dir / "waihai.key", dir / "ca.crt"},
                    {{"guzhen", dir / "guzhen.crt", "peers[0].cert"}});
  REQUIRE(tls.ok());
  PinSet& pins = (*tls)->pins();
  REQUIRE(pins.Accepts("guzhen", old_fp));
  REQUIRE_FALSE(pins.Accepts("guzhen", new_fp));
  // Expiry dates come from the certificates: about kNodeCertDays from now.
  int64_t now_ms = absl::ToUnixMillis(absl::Now());
  int64_t not_after = pins.Pinned()["guzhen"].at(0).not_after_unix_ms;
  CHECK(not_after > now_ms + int64_t{kNodeCertDays - 2} * 86400000);
  CHECK(not_after < now_ms + int64_t{kNodeCertDays + 2} * 86400000);

  SECTION("a certificate added to the file is accepted, one dropped is refused") {
    Write(dir / "guzhen.crt", new_cert.cert_pem);
    absl::StatusOr<std::vector<PinChange>> changes = (*tls)->ReloadPins();
    INFO(changes.status().message());
    REQUIRE(changes.ok());
    REQUIRE(changes->size() == 1);
    CHECK(changes->at(0).peer == "guzhen");
    CHECK(changes->at(0).added == std::vector<std::string>{new_fp});
    CHECK(changes->at(0).removed == std::vector<std::string>{old_fp});
    CHECK(changes->at(0).pinned == 1);
    CHECK(pins.Accepts("guzhen", new_fp));
    CHECK_FALSE(pins.Accepts("guzhen", old_fp));
  }
  SECTION("a revoked certificate stays refused although the file still lists it") {
    REQUIRE(pins.Revoke("guzhen", old_fp));
    Write(dir / "guzhen.crt", old_cert.cert_pem + new_cert.cert_pem);
    REQUIRE((*tls)->ReloadPins().ok());
    CHECK_FALSE(pins.Accepts("guzhen", old_fp));
    CHECK(pins.Accepts("guzhen", new_fp));
  }
  SECTION("a file without a certificate changes nothing and is named") {
    Write(dir / "guzhen.crt", "not a certificate\n");
    absl::StatusOr<std::vector<PinChange>> changes = (*tls)->ReloadPins();
    REQUIRE_FALSE(changes.ok());
    CHECK(std::string(changes.status().message()).find("peers[0].cert") != std::string::npos);
    CHECK(pins.Accepts("guzhen", old_fp));
  }
  SECTION("a missing file changes nothing") {
    REQUIRE(std::remove((dir / "guzhen.crt").c_str()) == 0);
    REQUIRE_FALSE((*tls)->ReloadPins().ok());
    CHECK(pins.Accepts("guzhen", old_fp));
  }
}

}  // namespace
}  // namespace wlsync::net
