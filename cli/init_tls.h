// The TLS part of `wlsync init`: the node's certificate and key (made, or taken from
// --cert/--key), the CA it trusts, and DIR/cli.env for the CLI. Used by init.cc only.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "cli/commands.h"

namespace wlsync::cli {

// Everything init writes for TLS, made and checked in memory first.
struct InitTls {
  std::string ca_cert_pem;
  std::string ca_key_pem;  // empty unless init made the CA
  std::string cert_pem;
  std::string key_pem;
  std::string fingerprint;  // of cert_pem
};

// Checks the TLS arguments and makes (or loads and checks) the material. Writes nothing.
absl::StatusOr<InitTls> PrepareInitTls(const InitArgs& args);

// Writes DIR/tls/{ca.crt,ca.key,NAME.crt,NAME.key}; keys mode 0600, the folder 0700.
absl::Status WriteInitTls(const InitArgs& args, const InitTls& tls);

// The address the CLI should dial for a node listening on `listen` (a wildcard host
// becomes loopback).
std::string DialAddress(const std::string& listen);

// DIR/cli.env: one `export NAME=value` line per entry, values shell-quoted when needed.
absl::Status WriteCliEnv(const std::string& path,
                         const std::vector<std::pair<std::string, std::string>>& vars);

}  // namespace wlsync::cli
