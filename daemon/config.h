// The node's configuration, loaded from TOML (see deploy/config/example.toml and
// docs/operations.md). Loading validates everything: a bad file stops start-up with a
// message naming the key.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "access/rate_limit.h"
#include "model/policy.h"

namespace wlsync::daemon {

struct PeerConfig {
  std::string name;
  std::string address;     // host:port
  std::string public_key;  // 32 raw bytes
  std::string cert;        // PEM file of the peer's certificate(s), pinned; empty if insecure
};

// A jurisdiction whose deltas this node verifies without pulling from it directly.
struct TrustedConfig {
  std::string name;
  std::string public_key;  // 32 raw bytes
};

struct Config {
  std::string path;  // the file it was read from; relative paths resolve beside it

  std::string name;
  std::string data_dir;
  std::string signing_key;
  std::string federation_key;
  std::string grids;
  // Encrypts records and the delta log at rest; empty stores them in clear (warned).
  std::string data_key;

  std::string listen = "127.0.0.1:7400";
  // Plain TCP instead of TLS; only when the file says `api.insecure = true`.
  bool insecure = false;

  // [tls]: this node's certificate and key, and the CA bundle trusted for peers and
  // clients (PEM files). Required unless insecure.
  std::string tls_cert;
  std::string tls_key;
  std::string tls_ca;

  int64_t max_clock_skew_ms = 10000;
  int64_t group_commit_window_us = 2000;
  int64_t max_message_bytes = 4 << 20;
  int64_t reconnect_min_ms = 100;
  int64_t reconnect_max_ms = 10000;

  // Health reports NOT_SERVING when no peer has answered for this long (and the node has
  // peers), or while the store refuses writes.
  int64_t health_peer_timeout_s = 300;

  // [metrics]: the Prometheus text format at http://LISTEN/metrics, on its own listener;
  // loopback by default. Empty turns it off.
  std::string metrics_listen = "127.0.0.1:9740";

  std::string log_format = "text";
  std::string log_level = "info";

  // Nightly reconciliation with every peer.
  bool reconcile_enabled = true;
  std::string reconcile_at = "02:30";
  std::string reconcile_time_zone = "Asia/Shanghai";
  int64_t reconcile_jitter_s = 600;
  int64_t reconcile_alert_after_h = 48;
  int64_t reconcile_startup_delay_s = 30;

  // Access control: the admin token named by its SHA-256 (written by `wlsync init`), and
  // the rate limits of each role (0 = no limit).
  std::string admin_token_sha256;
  std::map<access::Role, access::RoleLimits> limits = {
      {access::Role::kOperator, {6000, 0}},
      {access::Role::kTracer, {300, 5000}},
      {access::Role::kAuditor, {600, 0}},
      {access::Role::kAdmin, {60, 0}},
  };

  // Retention (see daemon/retention.h); 0 turns each rule off.
  int64_t retention_erase_after_s = 14 * 86400;
  int64_t retention_test_max_age_days = 0;
  int64_t retention_sweep_every_s = 3600;
  int64_t retention_tombstone_keep_s = 365 * 86400;
  // Audit entries older than this are removed by the sweep; 0 keeps them for ever.
  int64_t retention_audit_keep_days = 365;

  model::OwnershipPolicy ownership;
  std::vector<PeerConfig> peers;
  std::vector<TrustedConfig> trusted;
  // `key_history` of a peer or trusted node: the node's KEY.history file (public keys and
  // windows of the keys it signed with before), copied from it, so that a node joining after
  // a rotation verifies the older deltas. By node name.
  std::vector<std::pair<std::string, std::string>> key_histories;
};

// Reads and validates a config file.
absl::StatusOr<Config> LoadConfig(const std::string& path);
// The same from text, with relative paths resolved against `base_dir`.
absl::StatusOr<Config> ParseConfig(std::string_view text, const std::string& origin,
                                   const std::string& base_dir);

// HOST:PORT with a port from 1 to 65535 (host not resolved; an IPv6 address in brackets).
// INVALID_ARGUMENT says what is wrong, without repeating the address.
absl::Status CheckHostPort(std::string_view address);
bool IsValidHostPort(std::string_view address);
// A valid HOST:PORT with an IPv6 address in its shortest form ([0:0:0:0:0:0:0:1]:P becomes
// [::1]:P) and an IPv4-mapped one as the IPv4 address ([::ffff:127.0.0.1]:P becomes
// 127.0.0.1:P), which is how certificates name them; other addresses unchanged.
std::string CanonicalHostPort(std::string_view address);

// HOST:PORT for the metrics listener: an IPv4 address or a host name ([A-Za-z0-9.-]+),
// no brackets, scheme or wildcard.
bool IsValidMetricsListen(std::string_view address);

// A node name: 1-32 of [a-z0-9_-], starting with a letter.
bool IsValidNodeName(std::string_view name);

}  // namespace wlsync::daemon
