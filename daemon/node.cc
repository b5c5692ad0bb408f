#include "daemon/node.h"

#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/grpcpp.h>
#include <grpcpp/health_check_service_interface.h>
#include <grpcpp/support/server_interceptor.h>
#include <grpcpp/impl/codegen/service_type.h>

#include <sys/stat.h>

#include <condition_variable>
#include <mutex>
#include <thread>

#include "base/logging.h"
#include "base/strings.h"
#include "daemon/node_internal.h"
#include "daemon/registry_service.h"
#include "daemon/rpc_metrics.h"
#include "daemon/services.h"
#include "net/credentials.h"
#include "storage/sealing.h"

namespace wlsync::daemon {

// Secret key files must be readable by their owner only; a looser mode is logged.
void WarnIfExposed(const std::string& path, std::string_view what) {
  struct stat st;
  if (::stat(path.c_str(), &st) == 0 && (st.st_mode & 077) != 0) {
    base::Logger("node")->warn("{}={} is readable by group or others (mode {:o}); chmod 600 it",
                               what, path, st.st_mode & 0777);
  }
}

absl::Status Node::Impl::LoadKeys() {
  WarnIfExposed(config.signing_key, "node.signing_key");
  WarnIfExposed(config.federation_key, "node.federation_key");
  absl::StatusOr<model::FederationKey> fed = model::FederationKey::LoadFile(config.federation_key);
  if (!fed.ok()) return absl::Status(fed.status().code(), base::StrCat("node.federation_key: ", fed.status().message()));
  federation_key.emplace(*fed);

  absl::StatusOr<sync::SigningKey> sk = sync::SigningKey::LoadFile(config.signing_key);
  if (!sk.ok()) return absl::Status(sk.status().code(), base::StrCat("node.signing_key: ", sk.status().message()));
  signing_key = std::make_unique<sync::NodeKey>(*sk);

  absl::StatusOr<model::Grids> g = model::Grids::LoadFile(config.grids);
  if (!g.ok()) return absl::Status(g.status().code(), base::StrCat("node.grids: ", g.status().message()));
  grids = std::move(*g);

  if (absl::Status s = trust.Add(config.name, sk->public_key()); !s.ok()) return s;
  for (const PeerConfig& p : config.peers) {
    if (absl::Status s = trust.Add(p.name, p.public_key); !s.ok()) return s;
  }
  for (const TrustedConfig& t : config.trusted) {
    if (absl::Status s = trust.Add(t.name, t.public_key); !s.ok()) return s;
  }
  return absl::OkStatus();
}

absl::Status Node::Impl::OpenAccess() {
  auto now = [this] { return wall.NowMs(); };
  tokens = std::make_unique<access::TokenStore>(*store, now);
  if (absl::Status s = tokens->Load(config.admin_token_sha256); !s.ok()) return s;
  if (config.admin_token_sha256.empty()) {
    base::Logger("node")->warn(
        "node={} auth.admin_token_sha256 is not set: no admin token, so no token can be made "
        "(set it with `wlsync token hash`)",
        config.name);
  }
  limiter = std::make_unique<access::RateLimiter>(config.limits, now);
  const sync::NodeKey& node_key = *signing_key;
  trail = std::make_unique<access::AuditTrail>(
      *store, config.name,
      [&node_key](std::string_view message) {
        std::shared_ptr<const sync::SigningKey> key = node_key.current();
        return std::make_pair(key->key_id(), key->SignRaw(message));
      },
      now);
  if (absl::Status s = trail->Load(); !s.ok()) return s;
  lockdown = std::make_unique<access::Lockdown>(*store, now);
  if (absl::Status s = lockdown->Load(); !s.ok()) return s;
  freezes = std::make_unique<sync::PeerFreezes>(*store, now);
  if (absl::Status s = freezes->Load(); !s.ok()) return s;
  if (tls != nullptr) {
    certs = std::make_unique<PeerCerts>(*store, *tls, *trail, now);
    if (absl::Status s = certs->Load(); !s.ok()) return s;
  }
  gate = std::make_unique<Gate>(*tokens, *limiter, *trail, *lockdown, access::RefusalLimitOptions{},
                                now);
  query = std::make_unique<query::QueryEngine>(
      *store, [this](std::string_view id_doc) { return planner->PidOf(id_doc); });
  return absl::OkStatus();
}

// LIMITATION: this node's own certificate, key and CA bundle are read here, at start only:
// rotating them needs a restart of this node (gRPC could watch the files, but the start-up
// checks would not follow). The peers' pin files are read again by `wlsync cert reload` or
// SIGHUP, and `wlsync cert revoke` refuses a peer certificate at once (daemon/peer_certs.h).
absl::Status Node::Impl::LoadTls() {
  if (config.insecure) return absl::OkStatus();
  WarnIfExposed(config.tls_key, "tls.key");
  std::vector<net::PinFile> pins;
  for (size_t i = 0; i < config.peers.size(); ++i) {
    pins.push_back({config.peers[i].name, config.peers[i].cert,
                    base::StrCat("peers[", i, "].cert")});
  }
  absl::StatusOr<std::shared_ptr<const net::NodeTls>> loaded =
      net::NodeTls::Load({config.tls_cert, config.tls_key, config.tls_ca}, pins);
  if (!loaded.ok()) return loaded.status();
  tls = *std::move(loaded);
  return absl::OkStatus();
}

absl::StatusOr<v1::ReconcileReport> Node::Impl::Reconcile(const std::string& peer) {
  for (const PeerConfig& p : config.peers) {
    if (p.name != peer) continue;
    sync::ReconcileOptions o;
    o.self = config.name;
    o.peer = p.name;
    o.address = p.address;
    o.max_message_bytes = config.max_message_bytes;
    o.tls = tls;
    if (std::optional<v1::FrozenPeer> f = freezes->Get(p.name)) {
      return absl::FailedPreconditionError(base::StrCat(
          "peer: ", p.name, " is frozen (emergency freeze: ", f->reason(), "); unfreeze first"));
    }
    std::lock_guard<std::mutex> lock(reconcile_mu);
    return reconciler->Run(o);
  }
  return absl::NotFoundError(base::StrCat("peer: ", peer, " is not a configured peer"));
}

std::vector<v1::PeerStatus> Node::Impl::PeerStatuses() const {
  std::map<std::string, ReconcileSummary> reports = SummarizeReports(*store);
  std::vector<v1::PeerStatus> out;
  for (const auto& puller : pullers) {
    v1::PeerStatus p = puller->Status();
    p.set_last_contact_unix_ms(puller->last_contact_ms());
    if (std::optional<v1::FrozenPeer> f = freezes->Get(p.name())) {
      p.set_frozen_reason(f->reason().empty() ? "(no reason given)" : f->reason());
    }
    if (tls != nullptr) {
      for (std::string& fp : tls->pins().RevokedOf(p.name())) p.add_revoked_certs(std::move(fp));
    }
    if (auto it = reports.find(p.name()); it != reports.end()) {
      const v1::ReconcileReport& r = it->second.last;
      p.set_last_reconcile_unix_ms(r.end_unix_ms());
      p.set_last_reconcile_equal(r.equal());
      p.set_last_reconcile_differing(r.differing());
      p.set_last_reconcile_unrepairable(r.unrepairable_size());
      p.set_last_reconcile_error(r.error());
      p.set_last_reconcile_success_unix_ms(it->second.last_success_ms);
    }
    out.push_back(std::move(p));
  }
  return out;
}

void Node::Impl::DescribeNode(v1::StatusResponse* r) {
  {
    std::lock_guard<std::mutex> lock(health_mu);
    r->set_health(not_serving_reason.empty() ? "SERVING"
                                             : base::StrCat("NOT_SERVING: ", not_serving_reason));
  }
  r->set_lockdown(lockdown->active());
  r->set_audit_entries(trail->head().seq());
  r->set_store_bytes(store->stats().sst_bytes);
  r->set_started_unix_ms(started_ms);
  r->set_metrics_port(metrics_server ? metrics_server->port() : 0);
  for (const auto& p : pullers) {
    for (const auto& [key, n] : p->own_deltas_recovered().Snapshot()) {
      r->add_own_deltas_lost(base::StrCat("peer ", p->peer(), " sent back ", n,
                                          " deltas of this node's epoch ", key[0].substr(0, 8),
                                          " that this data dir had lost"));
    }
  }
  if (std::optional<v1::ReconcileProgress> p = reconciler->progress()) {
    *r->mutable_reconcile_running() = std::move(*p);
  }
}

std::string Node::Impl::HealthProblem(int64_t now_ms) const {
  if (absl::Status s = store->write_error(); !s.ok()) return "the store refuses writes";
  // Peers frozen by an emergency freeze are cut off on purpose: they do not count, and a
  // node whose every peer is frozen is not unhealthy for that.
  int64_t last_contact = started_ms;
  bool any = false;
  for (const auto& p : pullers) {
    if (freezes->Get(p->peer())) continue;
    any = true;
    last_contact = std::max(last_contact, p->last_contact_ms());
  }
  if (!any) return "";
  if (now_ms - last_contact > config.health_peer_timeout_s * 1000) {
    return base::StrCat("no peer reachable for ", (now_ms - last_contact) / 1000, " s");
  }
  return "";
}

void Node::Impl::MonitorHealth() {
  constexpr int64_t kRecoveryEveryMs = 5000;
  auto log = base::Logger("node");
  bool last = true;
  int64_t last_recovery_ms = 0;
  for (;;) {
    {
      std::unique_lock<std::mutex> lock(health_mu);
      if (health_cv.wait_for(lock, std::chrono::seconds(1), [&] { return health_stop; })) return;
    }
    int64_t now = wall.NowMs();
    // While the store refuses writes, check every few seconds whether the cause is gone.
    if (!store->write_error().ok() && now - last_recovery_ms >= kRecoveryEveryMs) {
      last_recovery_ms = now;
      if (absl::Status s = store->TryRecover(); !s.ok()) {
        log->info("node={} writes still refused: {}", config.name, s.message());
      }
    }
    std::string why = HealthProblem(now);
    bool ok = why.empty();
    if (certs != nullptr) {
      if (absl::Status s = certs->AuditRefusals(); !s.ok()) {
        log->error("node={} refusals of revoked certificates not audited: {}", config.name,
                   s.message());
      }
    }
    if (absl::Status s = gate->FlushRefusals(); !s.ok()) {
      log->error("node={} summary of refused calls not audited: {}", config.name, s.message());
    }
    server->GetHealthCheckService()->SetServingStatus(ok);
    serving.store(ok);
    monitor_beat_ms.store(now);
    {
      std::lock_guard<std::mutex> lock(health_mu);
      not_serving_reason = why;
    }
    if (ok != last) {
      if (ok) {
        log->info("node={} health=SERVING", config.name);
      } else {
        log->warn("node={} health=NOT_SERVING reason={}", config.name, base::Quote(why));
      }
      last = ok;
    }
  }
}

absl::Status Node::Impl::BuildServer() {
  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();

  RegistryDeps deps{*gate,
                    *store,
                    *writer,
                    *planner,
                    *clock,
                    [this] { return PeerStatuses(); },
                    [this](v1::StatusResponse* r) { DescribeNode(r); },
                    [this](const std::string& peer) { return Reconcile(peer); }};
  deps.import_rows = &import_rows;
  registry_service = NewRegistryService(std::move(deps));
  auto pid_of = [this](std::string_view id_doc) { return planner->PidOf(id_doc); };
  query_service = NewQueryService(*gate, *query, federation_key->DeriveKey("audit"));
  access_service = NewAccessService(*gate, *tokens);
  audit_service = NewAuditService(*gate, *trail, pid_of);
  emergency_service = NewEmergencyService(EmergencyDeps{
      *gate, *tokens, *lockdown, *freezes, writer->forks(), *trail, certs.get(),
      [this](const std::string& name) {
        return std::any_of(config.peers.begin(), config.peers.end(),
                           [&](const PeerConfig& p) { return p.name == name; });
      },
      [this] { return wall.NowMs(); },
      [this] {
        for (auto& p : pullers) p->Resync();
      }});
  keys_service = NewKeysService(KeysDeps{*gate, *writer, trust, *signing_key, *store, config.name,
                                         config.signing_key});
  peer_service = sync::NewPeerService(*store, *clock, trust, *signing_key, config.name,
                                      federation_key->Fingerprint(), tls, freezes.get(),
                                      &sent);

  grpc::ServerBuilder builder;
  // One port for both services. With TLS, client certificates are optional at the
  // handshake (CLI clients have none; they send bearer tokens, checked by the Gate); the
  // Peer service requires a pinned one per call.
  builder.AddListeningPort(config.listen, net::ServerCredentials(tls.get()), &port);
  // Without this gRPC sets SO_REUSEPORT, and a second node on the same port would start
  // and take half of the connections.
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
  // gRPC's synchronous server starts a thread whenever fewer than MIN_POLLERS threads wait
  // for calls, and ends threads beyond MAX_POLLERS idle ones. With the defaults (1 and 2),
  // calls that wait on a synced write (audit, local writes) make it start and end about one
  // thread per two calls under load; keeping more idle threads avoids that churn.
  builder.SetSyncServerOption(grpc::ServerBuilder::SyncServerOption::MIN_POLLERS, 2);
  builder.SetSyncServerOption(grpc::ServerBuilder::SyncServerOption::MAX_POLLERS, 64);
  builder.SetMaxReceiveMessageSize(static_cast<int>(config.max_message_bytes));
  builder.SetMaxSendMessageSize(static_cast<int>(config.max_message_bytes));
  std::vector<std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>> interceptors;
  interceptors.push_back(NewRequestChecker());
  interceptors.push_back(NewRpcMetrics(metrics));
  builder.experimental().SetInterceptorCreators(std::move(interceptors));
  builder.RegisterService(registry_service.get());
  builder.RegisterService(peer_service.get());
  builder.RegisterService(query_service.get());
  builder.RegisterService(access_service.get());
  builder.RegisterService(audit_service.get());
  builder.RegisterService(emergency_service.get());
  builder.RegisterService(keys_service.get());
  server = builder.BuildAndStart();
  if (server == nullptr || port == 0) {
    return absl::UnavailableError(
        base::StrCat("api.listen: cannot listen on ", config.listen, " (in use or invalid)"));
  }
  return absl::OkStatus();
}

Node::Node(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Node::~Node() { Shutdown(); }

absl::StatusOr<std::unique_ptr<Node>> Node::Open(Config config) {
  auto impl = std::make_unique<Impl>();
  impl->config = std::move(config);
  if (absl::Status s = impl->LoadKeys(); !s.ok()) return s;
  if (absl::Status s = impl->LoadTls(); !s.ok()) return s;

  storage::StoreOptions so;
  so.index_tag_key = impl->federation_key->DeriveKey("index");
  so.federation_check = impl->federation_key->Fingerprint();
  if (!impl->config.data_key.empty()) {
    WarnIfExposed(impl->config.data_key, "node.data_key");
    absl::StatusOr<std::string> key = storage::LoadDataKeyFile(impl->config.data_key);
    if (!key.ok()) {
      return absl::Status(key.status().code(),
                          base::StrCat("node.data_key: ", key.status().message()));
    }
    so.data_key = *key;
  } else {
    base::Logger("node")->warn(
        "node={} node.data_key is not set: records and the delta log are stored unencrypted",
        impl->config.name);
  }
  absl::StatusOr<std::unique_ptr<storage::Store>> store =
      storage::Store::Open(impl->config.data_dir, so);
  if (!store.ok()) return store.status();
  impl->store = std::move(*store);
  if (absl::Status s = impl->LoadTrust(); !s.ok()) return s;

  impl->clock = std::make_unique<model::HybridClock>(impl->wall, impl->store->hlc_high_water());
  impl->planner = std::make_unique<model::WritePlanner>(
      impl->config.name, *impl->federation_key, impl->grids, impl->config.ownership);
  sync::WriterOptions wo;
  wo.group_window = std::chrono::microseconds(impl->config.group_commit_window_us);
  wo.max_clock_skew_ms = impl->config.max_clock_skew_ms;
  wo.max_delta_bytes = std::min<size_t>(wo.max_delta_bytes,
                                        static_cast<size_t>(impl->config.max_message_bytes / 4));
  impl->writer = std::make_unique<sync::Writer>(*impl->store, *impl->clock, *impl->planner,
                                                *impl->signing_key, impl->trust, wo);
  if (absl::Status s = impl->OpenAccess(); !s.ok()) return s;
  impl->reconciler = std::make_unique<sync::Reconciler>(*impl->store, *impl->writer, impl->trust,
                                                        *impl->signing_key, *impl->clock);
  return std::unique_ptr<Node>(new Node(std::move(impl)));
}

absl::Status Node::Start() {
  Impl& n = *impl_;
  auto log = base::Logger("node");
  if (absl::Status s = n.writer->Start(); !s.ok()) return s;
  n.started_ms = n.wall.NowMs();
  n.AddMetricSources();
  // The pullers exist before the server, whose Status calls read them.
  for (const PeerConfig& p : n.config.peers) {
    sync::PullerOptions po{n.config.name,
                           p.name,
                           p.address,
                           n.config.reconnect_min_ms,
                           n.config.reconnect_max_ms,
                           n.config.max_message_bytes,
                           n.federation_key->Fingerprint(),
                           n.tls,
                           n.freezes.get()};
    n.pullers.push_back(std::make_unique<sync::Puller>(po, *n.store, *n.writer));
    n.pullers.back()->Start();
  }
  if (absl::Status s = n.BuildServer(); !s.ok()) return s;

  if (n.config.reconcile_enabled && !n.config.peers.empty()) {
    ScheduleOptions so;
    (void)ParseAt(n.config.reconcile_at, &so);  // validated with the config
    so.time_zone = n.config.reconcile_time_zone;
    so.jitter_s = n.config.reconcile_jitter_s;
    so.alert_after_h = n.config.reconcile_alert_after_h;
    so.startup_delay_s = n.config.reconcile_startup_delay_s;
    std::vector<std::string> names;
    for (const PeerConfig& p : n.config.peers) names.push_back(p.name);
    n.scheduler = std::make_unique<ReconcileScheduler>(
        so, names, *n.store, [&n](const std::string& peer) { return n.Reconcile(peer); });
    if (absl::Status s = n.scheduler->Start(); !s.ok()) return s;
  }
  RetentionOptions ro;
  ro.node = n.config.name;
  ro.erase_after_s = n.config.retention_erase_after_s;
  ro.test_max_age_days = n.config.retention_test_max_age_days;
  ro.sweep_every_s = n.config.retention_sweep_every_s;
  ro.audit_keep_days = n.config.retention_audit_keep_days;
  ro.tombstone_keep_s = n.config.retention_tombstone_keep_s;
  ro.confirmed_before_ms = [&n] {
    std::vector<std::string> peers;
    for (const PeerConfig& p : n.config.peers) peers.push_back(p.name);
    return ConfirmedBefore(*n.store, peers);
  };
  n.retention = std::make_unique<RetentionSweeper>(ro, *n.store, *n.writer, *n.trail,
                                                   [&n] { return n.wall.NowMs(); });
  n.retention->Start();
  // Last: scrapes read the pullers, scheduler and retention made above.
  if (absl::Status s = n.StartMetrics(); !s.ok()) return s;
  n.monitor_beat_ms.store(n.wall.NowMs());
  n.health_thread = std::thread([&n] { n.MonitorHealth(); });
  storage::Counts c = n.store->counts();
  log->info("node={} epoch={} new_data_dir={} listen={} port={} peers={} records={} "
            "ownership=\"{}\"",
            n.config.name, model::HexEncode(n.store->epoch()), n.store->created_new(),
            n.config.listen, n.port, n.config.peers.size(), c.records,
            n.config.ownership.Describe());
  if (n.config.insecure) {
    log->warn("node={} api is plain TCP (api.insecure = true): no TLS, and the peer API "
              "takes any caller; use only on loopback",
              n.config.name);
  } else {
    log->info("node={} tls cert {} expires_in_days={} pinned_peers={}", n.config.name,
              net::ShortFingerprint(n.tls->fingerprint()), n.tls->days_left(),
              n.config.peers.size());
    if (n.tls->days_left() < 30) {
      log->warn("node={} tls.cert {} expires in {} days: renew it (docs/operations.md)",
                n.config.name, n.config.tls_cert, n.tls->days_left());
    }
  }
  return absl::OkStatus();
}

void Node::Shutdown() {
  std::call_once(impl_->shutdown_once, [this] {
    Impl& n = *impl_;
    auto log = base::Logger("node");
    log->info("node={} shutting down", n.config.name);
    n.metrics_server.reset();  // no scrape may read the parts stopped below
    if (n.reconciler) n.reconciler->Stop();  // a running one ends at its next step
    if (n.health_thread.joinable()) {
      {
        std::lock_guard<std::mutex> lock(n.health_mu);
        n.health_stop = true;
      }
      n.health_cv.notify_all();
      n.health_thread.join();
    }
    if (n.scheduler) n.scheduler->Stop();
    if (n.retention) n.retention->Stop();
    for (auto& p : n.pullers) p->Stop();
    if (n.store) n.store->WakeAll();  // ends live-tail waits in Pull handlers
    if (n.server) {
      n.server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(5));
    }
    if (n.writer) n.writer->Stop();  // finishes every queued write
    if (n.server) n.server->Wait();
    // Refusals still held back by the per-address limit reach the trail before it closes.
    if (n.gate) {
      if (absl::Status s = n.gate->FlushRefusals(/*all=*/true); !s.ok()) {
        log->error("node={} summary of refused calls not audited: {}", n.config.name, s.message());
      }
    }
    n.server.reset();
    if (n.query) n.query->ReleaseViews();  // their snapshots, before RocksDB closes
    n.store.reset();  // closes RocksDB
    log->info("node={} stopped", n.config.name);
  });
}

void Node::ReloadPeerCerts() {
  if (impl_->certs == nullptr) {
    base::Logger("node")->info("node={} SIGHUP: plain TCP (api.insecure), no pins to reload",
                               impl_->config.name);
    return;
  }
  impl_->certs->ReloadOnSignal();
}

int Node::port() const { return impl_->port; }

int Node::metrics_port() const {
  return impl_->metrics_server ? impl_->metrics_server->port() : 0;
}

bool Node::Responsive(int64_t within_ms) const {
  return impl_->wall.NowMs() - impl_->monitor_beat_ms.load() <= within_ms;
}

}  // namespace wlsync::daemon
