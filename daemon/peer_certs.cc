#include "daemon/peer_certs.h"

#include <set>

#include "base/logging.h"
#include "base/strings.h"

namespace wlsync::daemon {
namespace {

// local/cert_revoked/<peer>/<fingerprint> -> RevokedCert
constexpr std::string_view kPrefix = "local/cert_revoked/";

std::string Key(const std::string& peer, const std::string& fingerprint) {
  return base::StrCat(kPrefix, peer, "/", fingerprint);
}

}  // namespace

bool IsFingerprint(std::string_view text) {
  if (text.size() != 64) return false;
  for (char c : text) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

PeerCerts::PeerCerts(storage::Store& store, const net::NodeTls& tls, access::AuditTrail& trail,
                     std::function<int64_t()> now_ms)
    : store_(store), tls_(tls), trail_(trail), now_ms_(std::move(now_ms)) {}

absl::Status PeerCerts::Load() {
  std::lock_guard<std::mutex> lock(mu_);
  absl::Status bad;
  absl::Status s = store_.Scan(
      storage::Table::kLocal, kPrefix, "", [&](std::string_view key, std::string_view value) {
        v1::RevokedCert r;
        if (!r.ParseFromArray(value.data(), static_cast<int>(value.size()))) {
          bad = absl::DataLossError(base::StrCat("revoked certificate ", key, " does not parse"));
          return false;
        }
        tls_.pins().Revoke(r.peer(), r.fingerprint());
        revoked_[{r.peer(), r.fingerprint()}] = std::move(r);
        return true;
      });
  if (!s.ok()) return s;
  if (!bad.ok()) return bad;
  if (!revoked_.empty()) {
    base::Logger("tls")->info("revoked peer certificates loaded: {}", revoked_.size());
  }
  return absl::OkStatus();
}

absl::StatusOr<bool> PeerCerts::Revoke(const std::string& peer, const std::string& fingerprint,
                                       const std::string& reason) {
  if (!IsFingerprint(fingerprint)) {
    return absl::InvalidArgumentError(
        "fingerprint: must be the 64 lowercase hex characters of a SHA-256");
  }
  v1::RevokedCert r;
  r.set_peer(peer);
  r.set_fingerprint(fingerprint);
  r.set_reason(reason);
  r.set_since_unix_ms(now_ms_());
  net::PinMap pinned = tls_.pins().Pinned();
  bool pinned_here = false;
  std::string pinned_for;
  for (const auto& [name, certs] : pinned) {
    for (const net::PinnedCert& c : certs) {
      if (c.fingerprint != fingerprint) continue;
      if (name == peer) {
        pinned_here = true;
        r.set_not_after_unix_ms(c.not_after_unix_ms);
      } else {
        pinned_for = name;
      }
    }
  }
  // A wrong --peer in an incident would leave the certificate working while the tool seemed
  // to revoke it: refuse instead.
  if (!pinned_here && !pinned_for.empty()) {
    return absl::FailedPreconditionError(base::StrCat(
        "certificate ", net::ShortFingerprint(fingerprint), " is not pinned for ", peer,
        " but for ", pinned_for, ": revoke it with --peer ", pinned_for));
  }

  std::lock_guard<std::mutex> lock(mu_);
  if (revoked_.contains({peer, fingerprint})) return false;
  storage::TableBatch b;
  b.puts.push_back({storage::Table::kLocal, Key(peer, fingerprint), r.SerializeAsString()});
  if (absl::Status s = store_.Write(b, /*sync=*/true); !s.ok()) return s;
  tls_.pins().Revoke(peer, fingerprint);
  revoked_[{peer, fingerprint}] = r;
  base::Logger("tls")->warn(
      "peer={} certificate {} revoked by the admin: refused from now on, live streams with "
      "it are cut",
      peer, net::ShortFingerprint(fingerprint));
  return true;
}

absl::StatusOr<std::vector<std::string>> PeerCerts::Reload() {
  absl::StatusOr<std::vector<net::PinChange>> changes = tls_.ReloadPins();
  if (!changes.ok()) return changes.status();
  std::vector<std::string> lines;
  for (const net::PinChange& c : *changes) {
    lines.push_back(base::StrCat("peer=", c.peer, " pinned=", c.pinned, " added=", c.added.size(),
                                 " removed=", c.removed.size()));
  }
  return lines;
}

void PeerCerts::ReloadOnSignal() {
  absl::StatusOr<std::vector<std::string>> lines = Reload();
  v1::AuditEntry entry;
  entry.set_token("-");
  entry.set_method("Emergency.ReloadCerts");
  if (lines.ok()) {
    std::string detail = "signal=SIGHUP";
    for (const std::string& line : *lines) base::StrAppend(&detail, " ", line);
    entry.set_filter(std::move(detail));
    entry.set_outcome("OK");
  } else {
    base::Logger("tls")->error("SIGHUP: pin files not reloaded, the previous pins stay: {}",
                               lines.status().message());
    entry.set_filter("signal=SIGHUP");
    entry.set_outcome(base::StrCat("FAILED: ", lines.status().message()));
  }
  if (absl::Status s = trail_.Append(std::move(entry)); !s.ok()) {
    base::Logger("tls")->error("SIGHUP: the reload could not be recorded: {}", s.message());
  }
}

void PeerCerts::Describe(v1::CertState* state) const {
  net::PinMap pinned = tls_.pins().Pinned();
  std::lock_guard<std::mutex> lock(mu_);
  std::set<std::string> peers;
  for (const auto& [peer, certs] : pinned) peers.insert(peer);
  for (const auto& [key, r] : revoked_) peers.insert(key.first);
  for (const std::string& peer : peers) {
    v1::PeerCerts* p = state->add_peers();
    p->set_peer(peer);
    for (const net::PinnedCert& c : pinned[peer]) {
      v1::PinnedCertInfo* info = p->add_pinned();
      info->set_fingerprint(c.fingerprint);
      info->set_not_after_unix_ms(c.not_after_unix_ms);
      info->set_revoked(revoked_.contains({peer, c.fingerprint}));
    }
    for (auto it = revoked_.lower_bound({peer, ""});
         it != revoked_.end() && it->first.first == peer; ++it) {
      *p->add_revoked() = it->second;
    }
  }
}

absl::Status PeerCerts::AuditRefusals() {
  for (const net::RevokedRefusal& r : tls_.pins().TakeRevokedRefusals()) {
    v1::AuditEntry entry;
    entry.set_token("-");
    entry.set_method("Peer.TLS");
    entry.set_filter(base::StrCat("node=", r.peer, " side=", net::PeerSideName(r.side),
                                  " cert=", r.fingerprint));
    entry.set_outcome(
        "UNAUTHENTICATED: revoked certificate refused (the first time since start; later "
        "refusals are counted in wlsync_tls_refused_total)");
    if (absl::Status s = trail_.Append(std::move(entry)); !s.ok()) return s;
  }
  return absl::OkStatus();
}

}  // namespace wlsync::daemon
