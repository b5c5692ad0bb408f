// The signing-key lifecycle: windows in the trust store, rotation and revocation through the
// writer, persistence of what peers learn, and the report of what a key signed.
#include <sodium.h>

#include <catch2/catch.hpp>

#include "model/hlc.h"
#include "sync/key_lifecycle.h"
#include "sync/signer.h"
#include "tests/support/cluster.h"
#include "tests/sync/fixture.h"

namespace wlsync::sync {
namespace {

using testing::Pair;
using testing::Person;
using testing::SignDelta;
using testing::TestNode;

constexpr int64_t kMinute = 60 * 1000;

// Sha256 runs on libcrypto; libsodium is the second implementation it must agree with.
TEST_CASE("Sha256: the FIPS 180-2 vectors, and libsodium's hash at every size around a block",
          "[sync]") {
  CHECK(model::HexEncode(Sha256("abc")) ==
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  CHECK(model::HexEncode(Sha256("")) ==
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  std::string bytes;
  for (size_t i = 0; i < 300; ++i) bytes.push_back(static_cast<char>(i * 131 + 7));
  bytes += std::string(1 << 20, '\x5a');
  for (size_t size :
       std::vector<size_t>{1, 55, 56, 63, 64, 65, 119, 120, 128, 299, 300 + (1 << 20)}) {
    std::string expected(crypto_hash_sha256_BYTES, '\0');
    crypto_hash_sha256(reinterpret_cast<uint8_t*>(expected.data()),
                       reinterpret_cast<const uint8_t*>(bytes.data()), size);
    INFO(size);
    CHECK(Sha256(std::string_view(bytes).substr(0, size)) == expected);
  }
}

v1::DeltaBody Body(const std::string& signed_delta) {
  v1::SignedDelta envelope;
  envelope.ParseFromString(signed_delta);
  v1::DeltaBody body;
  body.ParseFromString(envelope.body());
  return body;
}

std::string KeyIdOfDelta(const std::string& signed_delta) {
  v1::SignedDelta envelope;
  envelope.ParseFromString(signed_delta);
  return envelope.key_id();
}

// A rotation planned and applied directly on a trust store, as a peer would on a notice.
void Rotate(TrustStore& trust, const SigningKey& from, const SigningKey& to, uint64_t at_hlc) {
  std::string endorsement =
      to.SignRaw(KeyEndorsementMessage("waihai", from.key_id(), to.public_key()));
  auto changes =
      trust.PlanRotate("waihai", from.key_id(), to.public_key(), endorsement, at_hlc, "t");
  REQUIRE(changes.ok());
  trust.Apply(*changes);
}

TEST_CASE(
    "TrustStore: a rotated key verifies what it signed up to the "
    "rotation, the new key "
    "only what came after",
    "[sync][keys]") {
  SigningKey k1 = SigningKey::Generate();
  SigningKey k2 = SigningKey::Generate();
  TrustStore trust;
  REQUIRE(trust.Add("waihai", k1.public_key()).ok());
  const uint64_t at = model::HlcPack(1'700'000'000'000, 5);
  Rotate(trust, k1, k2, at);

  struct Row {
    bool new_key;
    uint64_t hlc;
    KeyVerdict expected;
  };
  Row row = GENERATE_COPY(values<Row>({
      {false, at - 1, KeyVerdict::kOk},
      {false, at, KeyVerdict::kOk},  // the rotation delta itself
      {false, at + 1, KeyVerdict::kOutsideWindow},
      {true, at, KeyVerdict::kOutsideWindow},
      {true, at + 1, KeyVerdict::kOk},
  }));
  const SigningKey& key = row.new_key ? k2 : k1;
  const std::string body = "body";
  KeyVerdict verdict;
  absl::Status s = trust.Verify("waihai", key.key_id(), body, key.Sign(body), row.hlc, &verdict);
  INFO(s.message());
  CHECK(verdict == row.expected);
  CHECK(s.ok() == (row.expected == KeyVerdict::kOk));
  CHECK(trust.PublicKey("waihai") == k2.public_key());
  CHECK(trust.Keys("waihai").size() == 2);
}

TEST_CASE("TrustStore: a signature checked ahead is trusted only for the bytes it covered",
          "[sync][keys]") {
  SigningKey waihai = SigningKey::Generate();
  SigningKey guzhen = SigningKey::Generate();
  TrustStore trust;
  REQUIRE(trust.Add("waihai", waihai.public_key()).ok());
  REQUIRE(trust.Add("guzhen", guzhen.public_key()).ok());
  const std::string body = "body signed by waihai";
  const std::string signature = waihai.Sign(body);
  const uint64_t hlc = model::HlcPack(1'700'000'000'000, 1);

  CheckedSignature checked = trust.Check(waihai.key_id(), body, signature);
  REQUIRE(checked.public_key == waihai.public_key());
  CHECK(trust.Verify("waihai", waihai.key_id(), body, signature, hlc, nullptr, &checked).ok());

  // Another body or signature under the same check: verified afresh, and refused.
  const std::string forged = "body signed by nobody";
  absl::Status s = trust.Verify("waihai", waihai.key_id(), forged, signature, hlc, nullptr, &checked);
  CHECK(s.code() == absl::StatusCode::kPermissionDenied);
  std::string other_signature = signature;
  other_signature[0] ^= 1;
  s = trust.Verify("waihai", waihai.key_id(), body, other_signature, hlc, nullptr, &checked);
  CHECK(s.code() == absl::StatusCode::kPermissionDenied);
  // The check names a key; the origin's key must be that key.
  CheckedSignature as_guzhen = checked;
  as_guzhen.public_key = guzhen.public_key();
  s = trust.Verify("waihai", waihai.key_id(), body, signature, hlc, nullptr, &as_guzhen);
  CHECK(s.ok());  // checked afresh with waihai's key, which did sign it
  s = trust.Verify("guzhen", waihai.key_id(), body, signature, hlc, nullptr, &checked);
  CHECK(s.code() == absl::StatusCode::kPermissionDenied);  // not a key id of guzhen's

  // A signature no known key made: no key.
  CHECK(trust.Check(waihai.key_id(), forged, signature).public_key.empty());
  CHECK(trust.Check(waihai.key_id(), body, other_signature).public_key.empty());
  CHECK(trust.Check("unknown key id", body, signature).public_key.empty());
}

TEST_CASE(
    "TrustStore: a rotation needs the new key's endorsement, and "
    "revocation only moves "
    "earlier",
    "[sync][keys]") {
  SigningKey k1 = SigningKey::Generate();
  SigningKey k2 = SigningKey::Generate();
  TrustStore trust;
  REQUIRE(trust.Add("waihai", k1.public_key()).ok());

  SECTION("an endorsement by another key is refused") {
    SigningKey other = SigningKey::Generate();
    std::string forged =
        other.SignRaw(KeyEndorsementMessage("waihai", k1.key_id(), k2.public_key()));
    auto changes = trust.PlanRotate("waihai", k1.key_id(), k2.public_key(), forged, 10, "t");
    REQUIRE(absl::IsInvalidArgument(changes.status()));
    REQUIRE(std::string(changes.status().message()).find("endorsement") != std::string::npos);
  }
  SECTION("an endorsement for another node is refused") {
    std::string elsewhere =
        k2.SignRaw(KeyEndorsementMessage("guzhen", k1.key_id(), k2.public_key()));
    REQUIRE(!trust.PlanRotate("waihai", k1.key_id(), k2.public_key(), elsewhere, 10, "t").ok());
  }
  SECTION("revocation") {
    const int64_t t = 1'700'000'000'000;
    auto first = trust.PlanRevoke("waihai", k1.key_id(), t, "local");
    REQUIRE(first.ok());
    trust.Apply({*first});
    auto later = trust.PlanRevoke("waihai", k1.key_id(), t + kMinute, "origin");
    REQUIRE(later.ok());
    CHECK(later->revoked_from_unix_ms == t);  // a later time never lifts an earlier one
    CHECK(later->revoked_by == "local");
    auto earlier = trust.PlanRevoke("waihai", k1.key_id(), t - kMinute, "origin");
    REQUIRE(earlier.ok());
    CHECK(earlier->revoked_from_unix_ms == t - kMinute);

    KeyVerdict verdict;
    const std::string body = "body";
    CHECK(
        trust.Verify("waihai", k1.key_id(), body, k1.Sign(body), model::HlcPack(t - 1, 0), &verdict)
            .ok());
    absl::Status after =
        trust.Verify("waihai", k1.key_id(), body, k1.Sign(body), model::HlcPack(t, 0), &verdict);
    CHECK(verdict == KeyVerdict::kRevoked);
    CHECK(std::string(after.message()).find("revoked") != std::string::npos);
    CHECK(!trust.PlanRevoke("waihai", "0011223344556677", t, "local").ok());
  }
}

TEST_CASE(
    "Keys: a rotation reaches the peer, which verifies deltas signed "
    "before and after it "
    "and keeps the new key across a restart",
    "[sync][keys]") {
  Pair p;
  const std::string k1 = p.waihai.key().key_id();
  REQUIRE(p.waihai.Register({Person(1, "waihai")})[0].status.ok());

  SigningKey k2 = SigningKey::Generate();
  REQUIRE(p.waihai.writer().RotateKey(k2).ok());
  REQUIRE(p.waihai.node_key().current()->key_id() == k2.key_id());
  REQUIRE(p.waihai.Register({Person(2, "waihai")})[0].status.ok());

  std::vector<std::string> deltas = p.waihai.OwnDeltas();
  REQUIRE(deltas.size() == 3);
  CHECK(KeyIdOfDelta(deltas[0]) == k1);
  CHECK(KeyIdOfDelta(deltas[1]) == k1);  // the notice is signed with the key it retires
  CHECK(Body(deltas[1]).key_notices_size() == 1);
  CHECK(KeyIdOfDelta(deltas[2]) == k2.key_id());

  for (const RemoteResult& r : p.ShipResults()) {
    INFO(r.status.message());
    REQUIRE(r.outcome == RemoteOutcome::kApplied);
  }
  REQUIRE(p.guzhen.Dump() == p.waihai.Dump());
  CHECK(p.guzhen.writer().stats().key_notices == 1);

  // What guzhen learnt is in its store: a node restarted from its config (which still names only
  // k1) and these entries verifies the next delta signed with k2.
  auto learnt = LoadTrustEntries(p.guzhen.store());
  REQUIRE(learnt.ok());
  REQUIRE(learnt->size() == 2);
  TrustStore restarted;
  REQUIRE(restarted.Add("waihai", p.waihai.key().public_key()).ok());
  restarted.Apply(*learnt);
  REQUIRE(p.waihai.Register({Person(3, "waihai")})[0].status.ok());
  std::string next = p.waihai.OwnDeltas(3).front();
  v1::SignedDelta envelope;
  envelope.ParseFromString(next);
  CHECK(restarted
            .Verify("waihai", envelope.key_id(), envelope.body(), envelope.signature(),
                    Body(next).max_hlc())
            .ok());

  // A delta signed with the retired key after the rotation is refused and quarantined.
  v1::DeltaBody forged = Body(next);
  RemoteResult r = p.guzhen.writer().ApplyRemote(SignDelta(forged, p.waihai.key()));
  CHECK(r.outcome == RemoteOutcome::kRejected);
  CHECK(r.key_refused);
  CHECK(!r.signature_failed);
  const uint64_t events = static_cast<uint64_t>(forged.events_size());
  REQUIRE(events > 0);
  CHECK(r.quarantined == events);
  CHECK(p.guzhen.store().quarantined() == events);
  // Sent again: refused again, not quarantined twice.
  CHECK(p.guzhen.writer().ApplyRemote(SignDelta(forged, p.waihai.key())).quarantined == 0);
  CHECK(p.guzhen.store().quarantined() == events);
  // The genuine delta still applies: the stream did not move past the refused one.
  CHECK(p.guzhen.writer().ApplyRemote(next).outcome == RemoteOutcome::kApplied);
}

TEST_CASE(
    "Keys: a key revoked from a time refuses its later deltas, keeps the "
    "earlier ones, "
    "and the report lists what was accepted under it",
    "[sync][keys]") {
  Pair p;
  const std::string k1 = p.waihai.key().key_id();
  const int64_t t0 = p.waihai.wall().now_ms;
  REQUIRE(p.waihai.Register({Person(1, "waihai")})[0].status.ok());
  p.waihai.wall().now_ms = t0 + 10 * kMinute;
  p.guzhen.wall().now_ms = t0 + 10 * kMinute;
  REQUIRE(p.waihai.Register({Person(2, "waihai")})[0].status.ok());
  std::vector<std::string> deltas = p.waihai.OwnDeltas();
  REQUIRE(deltas.size() == 2);

  SECTION("revoked at the peer by its own operator (the origin is lost)") {
    REQUIRE(p.guzhen.writer().ApplyRemote(deltas[0]).outcome == RemoteOutcome::kApplied);
    REQUIRE(p.guzhen.writer().RevokeKey("waihai", k1, t0 + 5 * kMinute).ok());

    RemoteResult r = p.guzhen.writer().ApplyRemote(deltas[1]);
    CHECK(r.outcome == RemoteOutcome::kRejected);
    CHECK(r.key_refused);
    CHECK(std::string(r.status.message()).find("revoked") != std::string::npos);
    CHECK(p.guzhen.store().counts().records == 1);
    CHECK(p.guzhen.writer().stats().key_refusals == 1);

    // The revocation is persisted; the report shows the one delta accepted, from before.
    auto learnt = LoadTrustEntries(p.guzhen.store());
    REQUIRE(learnt.ok());
    REQUIRE(learnt->size() == 1);
    CHECK(learnt->front().revoked_by == "local");
    auto usage = AcceptedUnderKey(p.guzhen.store(), learnt->front());
    REQUIRE(usage.ok());
    REQUIRE(usage->deltas.size() == 1);
    CHECK(usage->deltas.front().seq == 1);
    CHECK(!usage->deltas.front().after_revocation);
    CHECK(usage->deltas_after_revocation == 0);

    // Revoked from before both: the report now flags the accepted one.
    REQUIRE(p.guzhen.writer().RevokeKey("waihai", k1, t0 - kMinute).ok());
    auto now = p.guzhen.writer().stats().key_refusals.load();
    usage = AcceptedUnderKey(p.guzhen.store(), *p.guzhen.trust().Find("waihai", k1));
    REQUIRE(usage.ok());
    CHECK(usage->deltas_after_revocation == 1);
    CHECK(usage->deltas.front().pids.size() == 1);
    CHECK(now == 1);
  }

  SECTION("revoked by the origin after a rotation, announced in a signed notice") {
    SigningKey k2 = SigningKey::Generate();
    REQUIRE(p.waihai.writer().RotateKey(k2).ok());
    // The current key cannot be revoked; the retired one can.
    absl::Status current = p.waihai.writer().RevokeKey("waihai", k2.key_id(), t0);
    CHECK(absl::IsFailedPrecondition(current));
    CHECK(std::string(current.message()).find("rotate") != std::string::npos);
    REQUIRE(p.waihai.writer().RevokeKey("waihai", k1, t0 + 5 * kMinute).ok());

    // guzhen takes both writes before it hears of the revocation (stream order), then the notices;
    // the report then flags what came from after the revocation time.
    REQUIRE(p.guzhen.writer().ApplyRemote(deltas[0]).outcome == RemoteOutcome::kApplied);
    REQUIRE(p.guzhen.writer().ApplyRemote(deltas[1]).outcome == RemoteOutcome::kApplied);
    std::vector<std::string> notices = p.waihai.OwnDeltas(2);
    REQUIRE(notices.size() == 2);
    for (const std::string& d : notices) {
      REQUIRE(p.guzhen.writer().ApplyRemote(d).outcome == RemoteOutcome::kApplied);
    }
    std::optional<KeyRecord> revoked = p.guzhen.trust().Find("waihai", k1);
    REQUIRE(revoked.has_value());
    CHECK(revoked->revoked_by == "origin");
    CHECK(revoked->revoked_from_unix_ms == t0 + 5 * kMinute);
    auto usage = AcceptedUnderKey(p.guzhen.store(), *revoked);
    REQUIRE(usage.ok());
    CHECK(usage->deltas.size() == 3);            // two writes and the rotation notice
    CHECK(usage->deltas_after_revocation == 2);  // the second write and the notice
    // ... both vouched for by the origin's notice, which listed its own stream.
    for (const AcceptedDelta& d : usage->deltas) CHECK(d.vouched);
    CHECK(p.guzhen.trust().Vouched("waihai", k1, p.waihai.writer().own_stream().epoch, 3));
    CHECK(!p.guzhen.trust().Vouched("waihai", k1, p.waihai.writer().own_stream().epoch, 5));

    // After the notices, a delta signed with k1 at a later time is refused.
    v1::DeltaBody body;
    body.set_origin("waihai");
    body.set_origin_epoch(p.waihai.writer().own_stream().epoch);
    body.set_seq(5);
    auto state = p.guzhen.store().GetStream(p.waihai.writer().own_stream());
    REQUIRE(state.ok());
    body.set_prev_hash((*state)->last_hash);
    body.set_max_hlc(model::HlcPack(static_cast<uint64_t>(t0 + 20 * kMinute), 0));
    RemoteResult r = p.guzhen.writer().ApplyRemote(SignDelta(body, p.waihai.key()));
    CHECK(r.key_refused);
  }
}

TEST_CASE("Keys: a key history file round-trips and names a bad line", "[sync][keys]") {
  wlsync::testing::TempDir dir("history");
  SigningKey k1 = SigningKey::Generate();
  SigningKey k2 = SigningKey::Generate();
  TrustStore trust;
  REQUIRE(trust.Add("waihai", k1.public_key()).ok());
  Rotate(trust, k1, k2, 12345);
  const std::string path = dir / "signing.key.history";
  REQUIRE(WriteKeyHistory(path, trust.Keys("waihai")).ok());
  auto read = ReadKeyHistory(path, "waihai");
  REQUIRE(read.ok());
  REQUIRE(read->size() == 2);
  CHECK(read->at(0).key_id == k1.key_id());
  CHECK(read->at(0).valid_until_hlc == 12345);
  CHECK(read->at(1).public_key == k2.public_key());
  CHECK(read->at(1).valid_after_hlc == 12345);

  REQUIRE(ReadKeyHistory(dir / "missing", "waihai")->empty());
  REQUIRE(model::WriteFileAtomic(path, "# header\n0011223344556677 abcd 0 0\n", 0644).ok());
  auto bad = ReadKeyHistory(path, "waihai");
  REQUIRE(!bad.ok());
  CHECK(std::string(bad.status().message()).find("line 2") != std::string::npos);
}

}  // namespace
}  // namespace wlsync::sync
