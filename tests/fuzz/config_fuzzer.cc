// Fuzz target: the node's configuration loader, daemon::ParseConfig, on arbitrary text. A
// file it accepts must hold what the rest of the node relies on without checking again.
// toml++ is Debian's shared library, so coverage guides the fuzzer through wlsync's code
// only; config.dict gives it the section and key names.
#include <cstddef>
#include <cstdint>
#include <set>
#include <string>
#include <string_view>

#include "base/strings.h"
#include "daemon/config.h"
#include "daemon/scheduler.h"
#include "sync/signer.h"
#include "tests/fuzz/fuzz_support.h"

namespace wlsync::fuzz {
namespace {

void CheckAccepted(const daemon::Config& c) {
  WLSYNC_FUZZ_CHECK(daemon::IsValidNodeName(c.name), "accepted an invalid node name");
  WLSYNC_FUZZ_CHECK(daemon::IsValidHostPort(c.listen), "accepted an invalid api.listen");
  for (const std::string* path : {&c.data_dir, &c.signing_key, &c.federation_key, &c.grids}) {
    WLSYNC_FUZZ_CHECK(!path->empty() && (*path)[0] == '/', "a required path is not absolute");
  }
  WLSYNC_FUZZ_CHECK(c.insecure || (!c.tls_cert.empty() && !c.tls_key.empty() && !c.tls_ca.empty()),
                    "accepted TLS without its files");
  WLSYNC_FUZZ_CHECK(c.reconnect_min_ms <= c.reconnect_max_ms, "reconnect bounds reversed");

  std::set<std::string> names = {c.name};
  for (const daemon::PeerConfig& p : c.peers) {
    WLSYNC_FUZZ_CHECK(daemon::IsValidNodeName(p.name), "accepted an invalid peer name");
    WLSYNC_FUZZ_CHECK(names.insert(p.name).second, "accepted a node name twice");
    WLSYNC_FUZZ_CHECK(daemon::IsValidHostPort(p.address), "accepted an invalid peer address");
    WLSYNC_FUZZ_CHECK(p.public_key.size() == sync::kPublicKeySize, "accepted a short peer key");
    WLSYNC_FUZZ_CHECK(c.insecure || !p.cert.empty(), "accepted a TLS peer without a pin");
  }
  for (const daemon::TrustedConfig& t : c.trusted) {
    WLSYNC_FUZZ_CHECK(daemon::IsValidNodeName(t.name), "accepted an invalid trusted name");
    WLSYNC_FUZZ_CHECK(names.insert(t.name).second, "accepted a node name twice");
    WLSYNC_FUZZ_CHECK(t.public_key.size() == sync::kPublicKeySize, "accepted a short key");
  }

  // The scheduler starts from these without checking them again.
  daemon::ScheduleOptions schedule;
  WLSYNC_FUZZ_CHECK(daemon::ParseAt(c.reconcile_at, &schedule).ok(), "accepted a bad time");
  schedule.time_zone = c.reconcile_time_zone;
  WLSYNC_FUZZ_CHECK(daemon::ScheduledAt(schedule, 0, 1).ok(), "accepted an unknown time zone");
}

}  // namespace
}  // namespace wlsync::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  absl::StatusOr<wlsync::daemon::Config> c =
      wlsync::daemon::ParseConfig(text, "fuzz.toml", "/srv/wlsync");
  if (c.ok()) wlsync::fuzz::CheckAccepted(*c);
  return 0;
}
