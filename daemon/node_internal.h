// Internal to daemon/: the parts of a running Node, shared by node.cc (assembly and
// lifecycle) and node_metrics.cc (what the metrics listener exports). Not for other folders.
#pragma once

#include <atomic>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "access/audit_trail.h"
#include "access/lockdown.h"
#include "access/rate_limit.h"
#include "access/tokens.h"
#include "base/tally.h"
#include "daemon/config.h"
#include "daemon/gate.h"
#include "daemon/node.h"
#include "daemon/peer_certs.h"
#include "daemon/retention.h"
#include "daemon/scheduler.h"
#include "metrics/metrics.h"
#include "model/grids.h"
#include "model/hlc.h"
#include "model/pid.h"
#include "model/writes.h"
#include "net/node_tls.h"
#include "query/engine.h"
#include "storage/store.h"
#include "sync/freezes.h"
#include "sync/peer_service.h"
#include "sync/puller.h"
#include "sync/reconciler.h"
#include "sync/signer.h"
#include "sync/writer.h"

namespace grpc {
class Server;
class Service;
}  // namespace grpc

namespace wlsync::daemon {

struct Node::Impl {
  Config config;
  model::SystemWallClock wall;
  std::optional<model::FederationKey> federation_key;
  std::unique_ptr<sync::NodeKey> signing_key;  // replaced in place by a rotation
  model::Grids grids;
  sync::TrustStore trust;
  std::shared_ptr<const net::NodeTls> tls;  // null: plain TCP (api.insecure)
  std::unique_ptr<storage::Store> store;
  std::unique_ptr<model::HybridClock> clock;
  std::unique_ptr<model::WritePlanner> planner;
  std::unique_ptr<sync::Writer> writer;
  std::vector<std::unique_ptr<sync::Puller>> pullers;
  std::unique_ptr<sync::Reconciler> reconciler;
  std::unique_ptr<ReconcileScheduler> scheduler;
  std::unique_ptr<RetentionSweeper> retention;
  std::mutex reconcile_mu;  // one reconciliation at a time
  std::unique_ptr<access::TokenStore> tokens;
  std::unique_ptr<access::RateLimiter> limiter;
  std::unique_ptr<access::AuditTrail> trail;
  std::unique_ptr<access::Lockdown> lockdown;
  std::unique_ptr<sync::PeerFreezes> freezes;
  std::unique_ptr<PeerCerts> certs;  // null: plain TCP (api.insecure)
  std::unique_ptr<Gate> gate;
  std::unique_ptr<query::QueryEngine> query;
  std::unique_ptr<grpc::Service> registry_service;
  std::unique_ptr<grpc::Service> query_service;
  std::unique_ptr<grpc::Service> access_service;
  std::unique_ptr<grpc::Service> audit_service;
  std::unique_ptr<grpc::Service> emergency_service;
  std::unique_ptr<grpc::Service> keys_service;
  std::unique_ptr<grpc::Service> peer_service;
  std::unique_ptr<grpc::Server> server;
  int port = 0;
  std::once_flag shutdown_once;

  // Health monitor: updates the gRPC health status once a second.
  std::thread health_thread;
  std::mutex health_mu;
  std::condition_variable health_cv;
  bool health_stop = false;  // guarded by health_mu
  std::string not_serving_reason;  // guarded by health_mu; empty while SERVING
  std::atomic<bool> serving{true};
  std::atomic<int64_t> monitor_beat_ms{0};  // the monitor's last round, for the watchdog
  int64_t started_ms = 0;

  // Metrics: what the components count beyond their own stats, the registry every scrape
  // reads, and its HTTP listener (null when metrics.listen is empty).
  sync::SendCounters sent;
  base::Tally import_rows;
  metrics::Registry metrics;
  std::unique_ptr<metrics::HttpServer> metrics_server;

  void MonitorHealth();
  // Each peer link for Status: the puller's view, the freeze, the last reconciliation.
  std::vector<v1::PeerStatus> PeerStatuses() const;
  // The node-wide parts of Status: health, lockdown, audit, store size, start, metrics.
  void DescribeNode(v1::StatusResponse* response);
  // Why the node is NOT_SERVING now; empty when it serves.
  std::string HealthProblem(int64_t now_ms) const;

  // Adds the node's metric families to `metrics` (node_metrics.cc). Before BuildServer.
  void AddMetricSources();
  // Starts the metrics listener when configured (node_metrics.cc).
  absl::Status StartMetrics();

  absl::Status LoadKeys();
  // After the store opens: the trust entries learnt before, the own key history, and a
  // rotation interrupted by a crash (daemon/keys_service.cc).
  absl::Status LoadTrust();
  // Rewrites the own key history file when it differs from what the trust store knows (a
  // write that failed after a rotation committed); a failure is logged.
  void HealHistory(const std::vector<sync::KeyRecord>& on_disk);
  absl::Status LoadTls();
  absl::Status BuildServer();
  absl::Status OpenAccess();
  absl::StatusOr<v1::ReconcileReport> Reconcile(const std::string& peer);
};

}  // namespace wlsync::daemon
