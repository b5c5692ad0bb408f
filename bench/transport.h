// How the bench tools reach nodes: TLS against --ca FILE (default $WLSYNC_CA), or plain
// TCP with --insecure for nodes run with api.insecure = true. Header-only; bench tools only.
#pragma once

#include <cstdlib>
#include <memory>
#include <string>

#include "CLI/CLI.hpp"
#include "model/pid.h"
#include "net/credentials.h"

namespace wlsync::bench {

struct Transport {
  std::string ca_file;
  bool insecure = false;
};

inline void AddTransportOptions(CLI::App& app, Transport* t) {
  if (const char* env = std::getenv("WLSYNC_CA")) t->ca_file = env;
  app.add_option("--ca", t->ca_file, "CA certificate of the nodes (default: $WLSYNC_CA)");
  app.add_flag("--insecure", t->insecure, "plain TCP, for nodes run with api.insecure = true");
}

// The credentials, or null with `*error` set.
inline std::shared_ptr<grpc::ChannelCredentials> Credentials(const Transport& t,
                                                             std::string* error) {
  if (t.insecure) return net::PlainChannelCredentials();
  if (t.ca_file.empty()) {
    *error = "no CA: give --ca FILE or set WLSYNC_CA (or --insecure for plain-TCP nodes)";
    return nullptr;
  }
  absl::StatusOr<std::string> pem = model::ReadSmallFile(t.ca_file);
  if (!pem.ok()) {
    *error = std::string(pem.status().message());
    return nullptr;
  }
  return net::ClientChannelCredentials(*pem);
}

}  // namespace wlsync::bench
