// What a node exports on its metrics listener. Every family is read at scrape time from the
// components' own counters and state, so that nothing on the write path waits for metrics;
// only RPC latency is observed as calls end (rpc_metrics.cc). Labels carry node and peer
// names, origins, methods and fixed outcome words: never personal data.
#include <functional>
#include <map>

#include "base/logging.h"
#include "base/strings.h"
#include "daemon/node_internal.h"
#include "net/credentials.h"

namespace wlsync::daemon {
namespace {

using metrics::Family;
using metrics::Labels;
using metrics::Type;

constexpr double kMsPerSecond = 1000.0;

// A tally whose keys are {origin, outcome} (pullers) or {peer, origin} (sent), as samples
// of `family` with `peer` prepended when given.
void AddTally(const base::Tally& tally, const std::vector<std::string>& names,
              const std::string& peer, Family* family,
              const std::function<bool(const base::Tally::Key&)>& keep = nullptr) {
  for (const auto& [key, count] : tally.Snapshot()) {
    if (keep && !keep(key)) continue;
    Labels labels;
    if (!peer.empty()) labels.emplace_back("peer", peer);
    for (size_t i = 0; i < names.size() && i < key.size(); ++i) {
      if (!names[i].empty()) labels.emplace_back(names[i], key[i]);
    }
    family->Add(std::move(labels), static_cast<double>(count));
  }
}

void Move(Family&& f, std::vector<Family>* out) { out->push_back(std::move(f)); }

}  // namespace

void Node::Impl::AddMetricSources() {
  // Replication: what was applied here, by the node it came from and the node that made it.
  metrics.AddSource([this](std::vector<Family>* out) {
    Family deltas("wlsync_deltas_applied_total",
                  "Signed deltas applied here, by the peer they came from (this node for its own "
                  "writes) and their origin", Type::kCounter);
    Family events("wlsync_events_applied_total",
                  "Events applied here from signed deltas, by peer and origin", Type::kCounter);
    const sync::WriterStats& w = writer->stats();
    deltas.Add({{"peer", config.name}, {"origin", config.name}}, w.local_deltas.load());
    events.Add({{"peer", config.name}, {"origin", config.name}}, w.local_events.load());
    Family received("wlsync_deltas_received_total",
                    "Signed deltas received from each peer, by origin and outcome (applied, "
                    "duplicate, gap, fork, held_back, rejected, bad_signature)", Type::kCounter);
    Family received_events("wlsync_events_received_total",
                           "Events in the deltas received from each peer, by origin and outcome "
                           "(quarantined: refused by the ownership policy and kept aside)",
                           Type::kCounter);
    Family quarantined("wlsync_events_quarantined_total",
                       "Remote events refused by the ownership policy and quarantined, by peer "
                       "and origin", Type::kCounter);
    Family held("wlsync_deltas_held_back_total",
                "Deltas held back by the clock guard (too far ahead of this node's clock), by "
                "peer and origin", Type::kCounter);
    Family bad_sig("wlsync_signature_failures_total",
                   "Deltas from each peer whose signature did not verify", Type::kCounter);
    for (const auto& p : pullers) {
      std::string peer = p->peer();
      auto outcome_is = [](const char* word) {
        return [word](const base::Tally::Key& k) { return k.size() == 2 && k[1] == word; };
      };
      AddTally(p->received_deltas(), {"origin", ""}, peer, &deltas, outcome_is("applied"));
      AddTally(p->received_events(), {"origin", ""}, peer, &events, outcome_is("applied"));
      AddTally(p->received_deltas(), {"origin", "outcome"}, peer, &received);
      AddTally(p->received_events(), {"origin", "outcome"}, peer, &received_events);
      AddTally(p->received_events(), {"origin", ""}, peer, &quarantined,
               outcome_is("quarantined"));
      AddTally(p->received_deltas(), {"origin", ""}, peer, &held, outcome_is("held_back"));
      uint64_t failures = 0;
      for (const auto& [key, n] : p->received_deltas().Snapshot()) {
        if (key.size() == 2 && key[1] == "bad_signature") failures += n;
      }
      bad_sig.Add({{"peer", peer}}, static_cast<double>(failures));
    }
    Move(std::move(deltas), out);
    Move(std::move(events), out);
    Move(std::move(received), out);
    Move(std::move(received_events), out);
    Move(std::move(quarantined), out);
    Move(std::move(held), out);
    Move(std::move(bad_sig), out);

    Family forks("wlsync_forks_total",
                 "Deltas refused because their stream forked (same seq, different body)",
                 Type::kCounter);
    forks.Add({}, w.forks.load());
    Move(std::move(forks), out);
    Family forked("wlsync_forked_streams",
                  "Streams refused until an operator acts, after a fork", Type::kGauge);
    forked.Add({}, static_cast<double>(writer->forked_streams().size()));
    Move(std::move(forked), out);
    Family stored_q("wlsync_quarantine_events",
                    "Events kept in the quarantine column family (`wlsync quarantine`)",
                    Type::kGauge);
    stored_q.Add({}, static_cast<double>(store->quarantined()));
    Move(std::move(stored_q), out);
    Family seq("wlsync_own_seq", "Highest seq of this node's own stream in its current epoch",
               Type::kGauge);
    seq.Add({}, static_cast<double>(writer->own_seq()));
    Move(std::move(seq), out);
  });

  // What the Peer service streamed to each peer.
  metrics.AddSource([this](std::vector<Family>* out) {
    Family deltas("wlsync_deltas_sent_total", "Signed deltas streamed to each pulling peer, by origin",
                  Type::kCounter);
    Family events("wlsync_events_sent_total", "Events in the deltas streamed to each peer, by origin",
                  Type::kCounter);
    Family bytes("wlsync_sent_bytes_total", "Bytes of signed deltas streamed to each peer, by origin",
                 Type::kCounter);
    AddTally(sent.deltas, {"peer", "origin"}, "", &deltas);
    AddTally(sent.events, {"peer", "origin"}, "", &events);
    AddTally(sent.bytes, {"peer", "origin"}, "", &bytes);
    Family lost("wlsync_own_deltas_recovered_total",
                "Deltas of this node's own earlier epochs that a peer sent back because this "
                "data dir had lost them (wiped, or restored from an old copy), by peer and epoch",
                Type::kCounter);
    for (const auto& p : pullers) {
      AddTally(p->own_deltas_recovered(), {"epoch"}, p->peer(), &lost);
    }
    Move(std::move(deltas), out);
    Move(std::move(events), out);
    Move(std::move(bytes), out);
    Move(std::move(lost), out);
  });

  // Each peer link: connection, lag, freeze, last reconciliation.
  metrics.AddSource([this](std::vector<Family>* out) {
    Family connected("wlsync_peer_connected", "1 while the pull stream from the peer is open",
                     Type::kGauge);
    Family contact("wlsync_peer_last_contact_timestamp_seconds",
                   "When the peer last answered (Unix time; 0: never since start)", Type::kGauge);
    Family lag_events("wlsync_replication_lag_events",
                      "Events the peer holds that this node has not applied yet (absent while "
                      "the link is down)", Type::kGauge);
    Family lag_seconds("wlsync_replication_lag_seconds",
                       "How far behind the peer's newest delta this node is, in seconds",
                       Type::kGauge);
    Family held_origins("wlsync_held_back_origins",
                        "Origins whose deltas from the peer wait for the clock guard",
                        Type::kGauge);
    Family frozen("wlsync_peer_frozen", "1 while an emergency freeze stops the link", Type::kGauge);
    Family last_ok("wlsync_reconcile_last_success_timestamp_seconds",
                   "When the last successful reconciliation with the peer ended (0: never)",
                   Type::kGauge);
    Family last_run("wlsync_reconcile_last_run_timestamp_seconds",
                    "When the last reconciliation with the peer ended, successful or not",
                    Type::kGauge);
    Family unrepairable("wlsync_reconcile_last_unrepairable",
                        "Records the last reconciliation with the peer could not repair",
                        Type::kGauge);
    for (const v1::PeerStatus& st : PeerStatuses()) {
      Labels l = {{"peer", st.name()}};
      connected.Add(l, st.connected() ? 1 : 0);
      contact.Add(l, static_cast<double>(st.last_contact_unix_ms()) / kMsPerSecond);
      if (st.lag_known()) {  // absent, not 0, while the link is down
        lag_events.Add(l, static_cast<double>(st.lag_events()));
        lag_seconds.Add(l, st.lag_seconds());
      }
      held_origins.Add(l, st.held_back_origins_size());
      frozen.Add(l, st.frozen_reason().empty() ? 0 : 1);
      last_ok.Add(l, static_cast<double>(st.last_reconcile_success_unix_ms()) / kMsPerSecond);
      last_run.Add(l, static_cast<double>(st.last_reconcile_unix_ms()) / kMsPerSecond);
      unrepairable.Add(l, static_cast<double>(st.last_reconcile_unrepairable()));
    }
    for (Family* f : {&connected, &contact, &lag_events, &lag_seconds, &held_origins, &frozen,
                      &last_ok, &last_run, &unrepairable}) {
      Move(std::move(*f), out);
    }
  });

  // The registry and its store.
  metrics.AddSource([this](std::vector<Family>* out) {
    storage::Counts c = store->counts();
    Family records("wlsync_records", "People held, by status and list", Type::kGauge);
    records.Add({{"status", "REGISTERED"}, {"list", "WHITE"}}, c.registered_white);
    records.Add({{"status", "REGISTERED"}, {"list", "GREY"}}, c.registered_grey);
    records.Add({{"status", "DEREGISTERED"}}, c.deregistered);
    Move(std::move(records), out);
    Family rows("wlsync_import_rows_total", "Import rows answered, by outcome", Type::kCounter);
    AddTally(import_rows, {"outcome"}, "", &rows);
    Move(std::move(rows), out);
    Family refused("wlsync_refusals_total",
                   "Client-API calls refused by the gate, by reason, and by how the audit "
                   "trail has them (entry: one each; summary: counted in a summary entry)",
                   Type::kCounter);
    AddTally(gate->refusals(), {"reason", "audit"}, "", &refused);
    Move(std::move(refused), out);

    storage::StoreStats st = store->stats();
    auto gauge = [out](const char* name, const char* help, double value) {
      Family f(name, help, Type::kGauge);
      f.Add({}, value);
      out->push_back(std::move(f));
    };
    gauge("wlsync_store_sst_bytes", "Live SST files of the data dir, in bytes",
          static_cast<double>(st.sst_bytes));
    gauge("wlsync_store_memtable_bytes", "RocksDB memtables, in bytes",
          static_cast<double>(st.memtable_bytes));
    gauge("wlsync_store_pending_compaction_bytes",
          "Bytes RocksDB estimates compaction must still rewrite",
          static_cast<double>(st.pending_compaction_bytes));
    gauge("wlsync_store_writes_stopped", "1 while RocksDB stops writes (a write stall)",
          st.writes_stopped ? 1 : 0);
    gauge("wlsync_store_delayed_write_rate_bytes",
          "Write rate RocksDB allows while it slows writes down (0: not slowed)",
          static_cast<double>(st.delayed_write_rate));
    Family stalls("wlsync_store_write_stalls_total",
                  "Times RocksDB began to slow down (delayed) or stop writes", Type::kCounter);
    stalls.Add({{"kind", "delayed"}}, static_cast<double>(st.stalls_delayed));
    stalls.Add({{"kind", "stopped"}}, static_cast<double>(st.stalls_stopped));
    Move(std::move(stalls), out);
    Family bg("wlsync_store_background_errors_total", "Failed RocksDB flushes and compactions",
              Type::kCounter);
    bg.Add({}, static_cast<double>(st.background_errors));
    Move(std::move(bg), out);
    gauge("wlsync_store_write_error",
          "1 while the store refuses writes after a durability error (see wlsync status)",
          store->write_error().ok() ? 0 : 1);
  });

  // Access, the audit trail and the node itself.
  metrics.AddSource([this](std::vector<Family>* out) {
    v1::AuditHead head = trail->head();
    Family audit("wlsync_audit_entries_total", "Entries appended to the audit trail",
                 Type::kCounter);
    audit.Add({}, static_cast<double>(head.seq()));
    Move(std::move(audit), out);
    // From the signed head, so the count survives restarts: every entry before the base.
    Family removed("wlsync_audit_entries_removed_total",
                   "Audit entries removed by retention (older than retention.audit_keep_days)",
                   Type::kCounter);
    removed.Add({}, static_cast<double>(head.base_seq() > 0 ? head.base_seq() - 1 : 0));
    Move(std::move(removed), out);
    Family locked("wlsync_lockdown_active", "1 during an emergency lockdown", Type::kGauge);
    locked.Add({}, lockdown->active() ? 1 : 0);
    Move(std::move(locked), out);
    Family health("wlsync_health_serving",
                  "1 while gRPC health reports SERVING (store writable, a peer reachable)",
                  Type::kGauge);
    health.Add({}, serving.load() ? 1 : 0);
    Move(std::move(health), out);
    Family info("wlsync_node_info", "The node's name and current epoch", Type::kGauge);
    info.Add({{"node", config.name}, {"epoch", model::HexEncode(store->epoch())}}, 1);
    Move(std::move(info), out);
    Family refused("wlsync_tls_refused_total",
                   "Peer certificates refused, by peer (unknown: a name that is not a "
                   "configured peer), side (caller: its call here; server: this node's call to "
                   "it) and reason (revoked, not_pinned)",
                   Type::kCounter);
    AddTally(net::TlsRefusals(), {"peer", "side", "reason"}, "", &refused);
    Move(std::move(refused), out);
    Family revoked("wlsync_tls_revoked_certificates",
                   "Certificates of each peer revoked at this node (`wlsync cert list`)",
                   Type::kGauge);
    if (tls != nullptr) {
      for (const PeerConfig& p : config.peers) {
        revoked.Add({{"peer", p.name}}, static_cast<double>(tls->pins().RevokedOf(p.name).size()));
      }
    }
    Move(std::move(revoked), out);
    Family start("wlsync_start_time_seconds", "When this process started serving (Unix time)",
                 Type::kGauge);
    start.Add({}, static_cast<double>(started_ms) / kMsPerSecond);
    Move(std::move(start), out);
  });
}

absl::Status Node::Impl::StartMetrics() {
  if (config.metrics_listen.empty()) {
    base::Logger("node")->info("node={} metrics off (metrics.listen is empty)", config.name);
    return absl::OkStatus();
  }
  absl::StatusOr<std::unique_ptr<metrics::HttpServer>> server =
      metrics::HttpServer::Start(config.metrics_listen, metrics);
  if (!server.ok()) return server.status();
  metrics_server = *std::move(server);
  base::Logger("node")->info("node={} metrics listen={} port={}", config.name,
                             config.metrics_listen, metrics_server->port());
  return absl::OkStatus();
}

}  // namespace wlsync::daemon
