#include <grpcpp/grpcpp.h>

#include "access/leak_report.h"
#include "base/strings.h"
#include "daemon/gate.h"
#include "daemon/services.h"
#include "model/pid.h"
#include "net/node_tls.h"
#include "wlsync/v1/emergency.grpc.pb.h"

namespace wlsync::daemon {
namespace {

// Audit entries read per step while building a report.
constexpr size_t kReadChunk = 10000;

v1::ForkInfo ForkInfoOf(const v1::ForkedStream& f) {
  v1::ForkInfo info;
  info.set_stream(sync::StreamName({f.origin(), f.epoch()}));
  info.set_seq(f.seq());
  info.set_held_sha256(model::HexEncode(f.held_hash()));
  info.set_other_sha256(model::HexEncode(f.other_hash()));
  info.set_refused_seq(f.refused_seq());
  info.set_since_unix_ms(f.since_unix_ms());
  return info;
}

class EmergencyServiceImpl final : public v1::Emergency::Service {
 public:
  explicit EmergencyServiceImpl(EmergencyDeps deps) : d_(std::move(deps)) {}

  grpc::Status Freeze(grpc::ServerContext* context, const v1::FreezeRequest* request,
                      v1::EmergencyState* response) override {
    return SetFreeze(*context, *request, /*frozen=*/true, response);
  }

  grpc::Status Unfreeze(grpc::ServerContext* context, const v1::FreezeRequest* request,
                        v1::EmergencyState* response) override {
    return SetFreeze(*context, *request, /*frozen=*/false, response);
  }

  grpc::Status Lockdown(grpc::ServerContext* context, const v1::LockdownRequest* request,
                        v1::EmergencyState* response) override {
    Caller caller;
    if (grpc::Status a = d_.gate.Admit(*context, access::Method::kLockdown, &caller); !a.ok()) {
      return a;
    }
    if (grpc::Status s = CheckReason(request->reason()); !s.ok()) return s;
    if (absl::Status s = d_.lockdown.Start(request->reason()); !s.ok()) return ToGrpc(s);
    absl::StatusOr<int> revoked = d_.tokens.RevokeRole(access::Role::kTracer, caller.token);
    if (!revoked.ok()) return ToGrpc(revoked.status());
    if (grpc::Status a = d_.gate.Record(caller, access::Method::kLockdown,
                                        base::StrCat("revoked_tracer_tokens=", *revoked),
                                        request->reason());
        !a.ok()) {
      return a;
    }
    Describe(response);
    response->set_revoked_tracer_tokens(static_cast<uint32_t>(*revoked));
    return grpc::Status::OK;
  }

  grpc::Status Lift(grpc::ServerContext* context, const v1::LockdownRequest* request,
                    v1::EmergencyState* response) override {
    Caller caller;
    if (grpc::Status a = d_.gate.Admit(*context, access::Method::kLift, &caller); !a.ok()) {
      return a;
    }
    if (grpc::Status s = CheckReason(request->reason()); !s.ok()) return s;
    if (absl::Status s = d_.lockdown.Lift(); !s.ok()) return ToGrpc(s);
    if (grpc::Status a = d_.gate.Record(caller, access::Method::kLift, "", request->reason());
        !a.ok()) {
      return a;
    }
    Describe(response);
    return grpc::Status::OK;
  }

  grpc::Status State(grpc::ServerContext* context, const v1::EmergencyStateRequest*,
                     v1::EmergencyState* response) override {
    Caller caller;
    if (grpc::Status a = d_.gate.Admit(*context, access::Method::kEmergencyState, &caller);
        !a.ok()) {
      return a;
    }
    Describe(response);
    return grpc::Status::OK;
  }

  grpc::Status Report(grpc::ServerContext* context, const v1::LeakReportRequest* request,
                      v1::LeakReport* response) override {
    Caller caller;
    if (grpc::Status a = d_.gate.Admit(*context, access::Method::kEmergencyReport, &caller);
        !a.ok()) {
      return a;
    }
    int64_t until = d_.now_ms();
    std::vector<v1::AuditEntry> entries;
    for (uint64_t next = 1;;) {
      if (context->IsCancelled()) return grpc::Status::CANCELLED;
      std::vector<v1::AuditEntry> chunk;
      if (absl::Status s = d_.trail.Read(next, kReadChunk, &chunk); !s.ok()) return ToGrpc(s);
      for (v1::AuditEntry& e : chunk) {
        next = e.seq() + 1;
        if (e.unix_ms() >= request->since_unix_ms()) entries.push_back(std::move(e));
      }
      if (chunk.size() < kReadChunk) break;
    }
    *response = access::BuildLeakReport(entries, request->since_unix_ms(), until);
    return d_.gate.Record(caller, access::Method::kEmergencyReport,
                          base::StrCat("since_ms=", request->since_unix_ms(),
                                       " entries=", response->entries()));
  }

  grpc::Status RevokeCert(grpc::ServerContext* context, const v1::RevokeCertRequest* request,
                          v1::CertState* response) override {
    Caller caller;
    if (grpc::Status a = AdmitCerts(*context, access::Method::kRevokeCert, &caller); !a.ok())
      return a;
    if (grpc::Status s = CheckPeer(request->peer()); !s.ok()) return s;
    if (grpc::Status s = CheckReason(request->reason()); !s.ok()) return s;
    absl::StatusOr<bool> added =
        d_.certs->Revoke(request->peer(), request->fingerprint(), request->reason());
    if (!added.ok()) return ToGrpc(added.status());
    if (grpc::Status a =
            d_.gate.Record(caller, access::Method::kRevokeCert,
                           base::StrCat("peer=", request->peer(), " cert=", request->fingerprint(),
                                        *added ? "" : " already_revoked=true"),
                           request->reason());
        !a.ok()) {
      return a;
    }
    d_.certs->Describe(response);
    return grpc::Status::OK;
  }

  grpc::Status ListCerts(grpc::ServerContext* context, const v1::CertStateRequest*,
                         v1::CertState* response) override {
    Caller caller;
    if (grpc::Status a = AdmitCerts(*context, access::Method::kListCerts, &caller); !a.ok())
      return a;
    d_.certs->Describe(response);
    return grpc::Status::OK;
  }

  grpc::Status ReloadCerts(grpc::ServerContext* context, const v1::CertStateRequest*,
                           v1::CertState* response) override {
    Caller caller;
    if (grpc::Status a = AdmitCerts(*context, access::Method::kReloadCerts, &caller); !a.ok())
      return a;
    absl::StatusOr<std::vector<std::string>> lines = d_.certs->Reload();
    if (!lines.ok()) {
      return ToGrpc(absl::FailedPreconditionError(base::StrCat(
          lines.status().message(), "; nothing was reloaded, the previous pins stay")));
    }
    std::string detail;
    for (const std::string& line : *lines) {
      base::StrAppend(&detail, detail.empty() ? "" : " ", line);
    }
    if (grpc::Status a = d_.gate.Record(caller, access::Method::kReloadCerts, detail); !a.ok()) {
      return a;
    }
    d_.certs->Describe(response);
    for (std::string& line : *lines) response->add_reloaded(std::move(line));
    return grpc::Status::OK;
  }

  grpc::Status ListForks(grpc::ServerContext* context, const v1::ForkStateRequest*,
                         v1::ForkState* response) override {
    Caller caller;
    if (grpc::Status a = d_.gate.Admit(*context, access::Method::kListForks, &caller); !a.ok()) {
      return a;
    }
    DescribeForks(response);
    return grpc::Status::OK;
  }

  grpc::Status ClearFork(grpc::ServerContext* context, const v1::ClearForkRequest* request,
                         v1::ForkState* response) override {
    Caller caller;
    if (grpc::Status a = d_.gate.Admit(*context, access::Method::kClearFork, &caller); !a.ok()) {
      return a;
    }
    if (grpc::Status s = CheckReason(request->reason()); !s.ok()) return s;
    absl::StatusOr<storage::StreamId> stream = sync::ParseStreamName(request->stream());
    if (!stream.ok()) return ToGrpc(stream.status());
    absl::StatusOr<std::optional<v1::ForkedStream>> cleared = d_.forks.Clear(*stream);
    if (!cleared.ok()) return ToGrpc(cleared.status());
    if (!cleared->has_value()) {
      return ToGrpc(absl::NotFoundError(
          base::StrCat("stream ", request->stream(), " is not refused for a fork")));
    }

    v1::ForkInfo info = ForkInfoOf(**cleared);
    if (grpc::Status a = d_.gate.Record(caller, access::Method::kClearFork,
                                        base::StrCat("stream=", info.stream(), " seq=", info.seq(),
                                                     " held_sha256=", info.held_sha256(),
                                                     " other_sha256=", info.other_sha256()),
                                        request->reason());
        !a.ok()) {
      return a;
    }
    d_.resync();  // the deltas refused while the stream was forked come again
    DescribeForks(response);
    *response->mutable_cleared() = std::move(info);
    return grpc::Status::OK;
  }

 private:
  void DescribeForks(v1::ForkState* state) const {
    for (const v1::ForkedStream& f : d_.forks.List()) *state->add_forks() = ForkInfoOf(f);
  }

  // The Gate, then TLS: certificates exist only with it.
  grpc::Status AdmitCerts(const grpc::ServerContext& context, access::Method method,
                          Caller* caller) {
    if (grpc::Status a = d_.gate.Admit(context, method, caller); !a.ok()) return a;
    if (d_.certs != nullptr) return grpc::Status::OK;
    return ToGrpc(absl::FailedPreconditionError(
        "tls: this node runs plain TCP (api.insecure = true): it pins no certificates"));
  }

  grpc::Status CheckPeer(const std::string& peer) const {
    if (d_.is_peer(peer)) return grpc::Status::OK;
    return ToGrpc(absl::NotFoundError(base::StrCat("peer: ", peer, " is not a configured peer")));
  }

  grpc::Status SetFreeze(const grpc::ServerContext& context, const v1::FreezeRequest& request,
                         bool frozen, v1::EmergencyState* response) {
    access::Method method = frozen ? access::Method::kFreeze : access::Method::kUnfreeze;
    Caller caller;
    if (grpc::Status a = d_.gate.Admit(context, method, &caller); !a.ok()) return a;
    if (grpc::Status s = CheckPeer(request.peer()); !s.ok()) return s;
    if (grpc::Status s = CheckReason(request.reason()); !s.ok()) return s;
    absl::Status s = frozen ? d_.freezes.Freeze(request.peer(), request.reason())
                            : d_.freezes.Unfreeze(request.peer());
    if (!s.ok()) return ToGrpc(s);
    if (grpc::Status a = d_.gate.Record(caller, method, base::StrCat("peer=", request.peer()),
                                        request.reason());
        !a.ok()) {
      return a;
    }
    Describe(response);
    return grpc::Status::OK;
  }

  void Describe(v1::EmergencyState* state) const {
    d_.lockdown.Describe(state);
    for (v1::FrozenPeer& f : d_.freezes.List()) *state->add_frozen() = std::move(f);
  }

  EmergencyDeps d_;
};

}  // namespace

std::unique_ptr<grpc::Service> NewEmergencyService(EmergencyDeps deps) {
  return std::make_unique<EmergencyServiceImpl>(std::move(deps));
}

}  // namespace wlsync::daemon
