// A running jurisdiction node: owns the store, clock, keys, writer, pullers and the gRPC
// server. Start here to see how the pieces of wlsyncd fit together.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "daemon/config.h"

namespace wlsync::daemon {

// Lifecycle: Open (loads keys, grids and the data dir), Start (serves and pulls),
// Shutdown (stops accepting, finishes in-flight writes, closes RocksDB). Shutdown may be
// called from any thread once; the destructor calls it if needed.
class Node {
 public:
  static absl::StatusOr<std::unique_ptr<Node>> Open(Config config);
  ~Node();

  absl::Status Start();
  void Shutdown();

  // The port actually bound (useful with port 0).
  int port() const;
  // The metrics listener's port; 0 when metrics are off.
  int metrics_port() const;

  // Reads the peers' pin files again (wlsyncd calls it on SIGHUP), as `wlsync cert reload`
  // does; the outcome is logged and audited. Thread safe; after Start.
  void ReloadPeerCerts();

  // True while the node's monitor thread (which sets the gRPC health status once a second)
  // has run within the last `within_ms`: what the systemd watchdog is fed on. Thread safe.
  bool Responsive(int64_t within_ms) const;

 private:
  struct Impl;
  explicit Node(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace wlsync::daemon
