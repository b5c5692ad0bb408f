#include <catch2/catch.hpp>

#include <fcntl.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "base/logging.h"
#include "base/strings.h"
#include "wlsync/v1/records.pb.h"

namespace wlsync::base {
namespace {

// What the process writes to stderr while `fn` runs.
template <typename Fn>
std::string CaptureStderr(Fn fn) {
  char path[] = "/tmp/wlsync-logging-test-XXXXXX";
  int fd = mkstemp(path);
  REQUIRE(fd >= 0);
  std::fflush(stderr);
  int saved = dup(STDERR_FILENO);
  dup2(fd, STDERR_FILENO);
  fn();
  std::fflush(stderr);
  dup2(saved, STDERR_FILENO);
  close(saved);
  close(fd);
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  unlink(path);
  return text.str();
}

// Found by fuzz_delta (tests/fuzz): every delta from a peer with a string that is not UTF-8
// made libprotobuf write its own plain-text line to stderr, in the middle of a JSON log.
TEST_CASE("Logging: libprotobuf's messages follow the configured format", "[base]") {
  v1::PersonFields fields;
  fields.set_workplace("\xC0\xAF");  // not UTF-8
  std::string bytes;
  CaptureStderr([&] { bytes = fields.SerializeAsString(); });

  ConfigureLogging(LogFormat::kJson, "info");
  bool parsed = true;
  std::string out = CaptureStderr([&] { parsed = v1::PersonFields().ParseFromString(bytes); });
  REQUIRE_FALSE(parsed);
  INFO(out);
  REQUIRE(out.rfind("{\"time\":", 0) == 0);
  REQUIRE(out.find("\"component\":\"protobuf\"") != std::string::npos);
  REQUIRE(out.find("invalid UTF-8") != std::string::npos);
  REQUIRE(out.find("[libprotobuf") == std::string::npos);

  ConfigureLogging(LogFormat::kText, "off");
  REQUIRE(CaptureStderr([&] { (void)v1::PersonFields().ParseFromString(bytes); }).empty());
  ConfigureLogging(LogFormat::kText, "info");
}

TEST_CASE("Logging: the key=value context of a message", "[base]") {
  using Pairs = std::vector<std::pair<std::string, std::string>>;
  auto [message, expected] = GENERATE(table<std::string, Pairs>({
      {"peer=guzhen origin=waihai seq=1042 applied",
       {{"peer", "guzhen"}, {"origin", "waihai"}, {"seq", "1042"}}},
      {"node=waihai health=NOT_SERVING reason=\"no peer reachable for 301 s\"",
       {{"node", "waihai"}, {"health", "NOT_SERVING"}, {"reason", "no peer reachable for 301 s"}}},
      {"import done imported=3 rejected=0", {{"imported", "3"}, {"rejected", "0"}}},
      {"no pairs at all", {}},
      {"=x a= b=c", {{"a", ""}, {"b", "c"}}},
      {"msg=spoof level=x peer=a peer=b", {{"peer", "a"}}},
      {"Peer=upper p2p=ok reason=\"unterminated", {{"p2p", "ok"}}},
      {R"(reason="say \"hi\" to c:\\x" node=a)", {{"reason", R"(say "hi" to c:\x)"}, {"node", "a"}}},
  }));
  Pairs got;
  for (const auto& [k, v] : ParseLogContext(message)) got.emplace_back(k, v);
  INFO(message);
  CHECK(got == expected);
}

TEST_CASE("Logging: a quoted value reads back whole, whatever it holds", "[base]") {
  std::string value = GENERATE(as<std::string>{}, "", "two words", "a \"quoted\" word",
                               "back\\slash\\", "peer=zz reason=x", "trailing \\");
  auto pairs = ParseLogContext("reason=" + Quote(value) + " next=1");
  REQUIRE(pairs.size() == 2);
  CHECK(pairs[0].second == value);
  CHECK(pairs[1].second == "1");
}

TEST_CASE("Logging: JSON lines carry the context as members, escaped", "[base]") {
  ConfigureLogging(LogFormat::kJson, "info");
  std::string out = CaptureStderr([] {
    Logger("peer")->warn("peer=guzhen origin=waihai reason=\"two words\" done");
  });
  ConfigureLogging(LogFormat::kText, "info");
  INFO(out);
  CHECK(out.find("\"level\":\"warning\",\"component\":\"peer\"") != std::string::npos);
  CHECK(out.find("\"msg\":\"peer=guzhen origin=waihai reason=\\\"two words\\\" done\"") !=
        std::string::npos);
  CHECK(out.find(",\"peer\":\"guzhen\",\"origin\":\"waihai\",\"reason\":\"two words\"}") !=
        std::string::npos);
  CHECK(out.back() == '\n');
  CHECK(out.find("}\n") == out.size() - 2);  // one object, one line
}

}  // namespace
}  // namespace wlsync::base
