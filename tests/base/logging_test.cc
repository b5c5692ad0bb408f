#include <catch2/catch.hpp>

#include <fcntl.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>

#include "base/logging.h"
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

}  // namespace
}  // namespace wlsync::base
