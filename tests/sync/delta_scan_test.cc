#include <catch2/catch.hpp>

#include "google/protobuf/util/message_differencer.h"
#include "sync/delta_scan.h"

namespace wlsync::sync {
namespace {

using google::protobuf::util::MessageDifferencer;

// A body with two events for each of three pids, a key notice and every header field.
v1::DeltaBody Sample() {
  v1::DeltaBody body;
  body.set_origin("waihai");
  body.set_origin_epoch(std::string(16, '\x07'));
  body.set_seq(42);
  body.set_prev_hash(std::string(32, '\x01'));
  body.set_max_hlc(123456789);
  body.set_created_unix_ms(1700000000000);
  for (const char* pid : {"aaaaaaaaaaaaaaaaaaaaaaaaaa", "bbbbbbbbbbbbbbbbbbbbbbbbbb",
                          "cccccccccccccccccccccccccc"}) {
    for (v1::Group g : {v1::CONTACT, v1::LIST}) {
      v1::Event* e = body.add_events();
      e->set_pid(pid);
      e->set_group(g);
      e->mutable_stamp()->set_hlc(1000 + body.events_size());
      e->mutable_stamp()->set_node("waihai");
      e->mutable_value()->set_phone("13912345678");
    }
  }
  body.add_key_notices()->set_kind(v1::KeyNotice::ROTATE);
  return body;
}

std::vector<std::string> Pids(const v1::DeltaBody& body) {
  std::vector<std::string> out;
  for (const v1::Event& e : body.events()) out.push_back(e.pid());
  return out;
}

TEST_CASE("ParseBodySparse: reads the header and only the wanted pids' events", "[sync]") {
  v1::DeltaBody full = Sample();
  std::string bytes = full.SerializeAsString();
  absl::flat_hash_set<std::string> wanted = {"bbbbbbbbbbbbbbbbbbbbbbbbbb", "zzzzzzzzzzzzzzzzzzzzzzzzzz"};

  v1::DeltaBody sparse;
  REQUIRE(ParseBodySparse(bytes, &wanted, &sparse).ok());
  CHECK(Pids(sparse) == std::vector<std::string>{"bbbbbbbbbbbbbbbbbbbbbbbbbb",
                                                 "bbbbbbbbbbbbbbbbbbbbbbbbbb"});
  CHECK(MessageDifferencer::Equals(sparse.events(0), full.events(2)));
  CHECK(MessageDifferencer::Equals(sparse.events(1), full.events(3)));
  CHECK(sparse.key_notices_size() == 0);

  // Every header field as a full parse gives it.
  v1::DeltaBody header = full;
  header.clear_events();
  header.clear_key_notices();
  v1::DeltaBody sparse_header = sparse;
  sparse_header.clear_events();
  CHECK(MessageDifferencer::Equals(sparse_header, header));

  absl::flat_hash_set<std::string> none;
  REQUIRE(ParseBodySparse(bytes, &none, &sparse).ok());
  CHECK(sparse.events_size() == 0);
  CHECK(sparse.seq() == 42);

  REQUIRE(ParseBodySparse(bytes, nullptr, &sparse).ok());
  CHECK(MessageDifferencer::Equals(sparse, full));
}

TEST_CASE("ParseBodySparse: skips unknown fields and finds a pid written after the value",
          "[sync]") {
  v1::DeltaBody body = Sample();
  // A newer writer's unknown field in the body, and an event whose fields come in another
  // order (pid last), as another protobuf implementation may write them.
  std::string bytes = body.SerializeAsString();
  bytes += std::string("\xa2\x06\x03xyz", 6);  // field 100, length-delimited
  v1::Event reordered;
  reordered.set_group(v1::HOME);
  std::string event = reordered.SerializeAsString() + std::string("\x0a\x1a", 2) +
                      std::string(26, 'd');
  bytes += std::string("\x3a", 1) + static_cast<char>(event.size()) + event;

  absl::flat_hash_set<std::string> wanted = {std::string(26, 'd')};
  v1::DeltaBody sparse;
  REQUIRE(ParseBodySparse(bytes, &wanted, &sparse).ok());
  REQUIRE(sparse.events_size() == 1);
  CHECK(sparse.events(0).pid() == std::string(26, 'd'));
  CHECK(sparse.events(0).group() == v1::HOME);
  CHECK(sparse.origin() == "waihai");
}

TEST_CASE("ParseBodySparse: refuses malformed bodies", "[sync]") {
  std::string bytes = Sample().SerializeAsString();
  absl::flat_hash_set<std::string> wanted = {"aaaaaaaaaaaaaaaaaaaaaaaaaa"};
  v1::DeltaBody out;
  // Cut inside an event, an event length past the end, a bad tag, a wanted event whose
  // inside does not parse.
  for (const std::string& bad :
       {bytes.substr(0, bytes.size() - 40), std::string("\x3a\xff\x01", 3), std::string("\xff", 1),
        std::string("\x3a\x1e\x0a\x1a", 4) + std::string(26, 'a') + std::string("\x12\x05", 2)}) {
    absl::Status s = ParseBodySparse(bad, &wanted, &out);
    CHECK(s.code() == absl::StatusCode::kInvalidArgument);
    CHECK(s.message() == "delta: body does not parse");
  }
}

TEST_CASE("ParseEnvelope: views of body, key id and signature, as protobuf reads them",
          "[sync]") {
  v1::SignedDelta envelope;
  envelope.set_body(Sample().SerializeAsString());
  envelope.set_key_id("5c633856027b438d");
  envelope.set_signature(std::string(64, '\x05'));
  std::string bytes = envelope.SerializeAsString() + std::string("\x20\x01", 2);  // field 4
  EnvelopeView view;
  REQUIRE(ParseEnvelope(bytes, &view).ok());
  CHECK(view.body == envelope.body());
  CHECK(view.key_id == envelope.key_id());
  CHECK(view.signature == envelope.signature());
  CHECK(view.body.data() >= bytes.data());  // a view, not a copy
  CHECK(view.body.data() < bytes.data() + bytes.size());

  for (const std::string& bad : {bytes.substr(0, bytes.size() - 70), std::string("\x0a\x05", 2),
                                 std::string("\x1a", 1)}) {
    absl::Status s = ParseEnvelope(bad, &view);
    CHECK(s.code() == absl::StatusCode::kInvalidArgument);
    CHECK(s.message() == "delta: envelope does not parse");
  }
}

TEST_CASE("DeltaMaxHlc: the body's max_hlc without parsing its events, 0 when malformed",
          "[sync]") {
  v1::SignedDelta envelope;
  envelope.set_body(Sample().SerializeAsString());
  envelope.set_signature(std::string(64, '\x05'));
  CHECK(DeltaMaxHlc(envelope.SerializeAsString()) == 123456789);

  // The last max_hlc counts, as protobuf keeps it; unknown fields are skipped.
  v1::DeltaBody later;
  later.set_max_hlc(987654321987);
  envelope.set_body(Sample().SerializeAsString() + later.SerializeAsString() +
                    std::string("\x98\x06\x01", 3));  // field 99, varint
  CHECK(DeltaMaxHlc(envelope.SerializeAsString()) == 987654321987);

  v1::DeltaBody none = Sample();
  none.clear_max_hlc();
  envelope.set_body(none.SerializeAsString());
  CHECK(DeltaMaxHlc(envelope.SerializeAsString()) == 0);

  envelope.set_body(Sample().SerializeAsString().substr(0, 40));  // cut inside a field
  CHECK(DeltaMaxHlc(envelope.SerializeAsString()) == 0);
  CHECK(DeltaMaxHlc(std::string("\x0a\x05", 2)) == 0);
}

}  // namespace
}  // namespace wlsync::sync
