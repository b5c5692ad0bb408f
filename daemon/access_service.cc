#include <grpcpp/grpcpp.h>

#include <algorithm>

#include "base/logging.h"
#include "model/pid.h"
#include "daemon/gate.h"
#include "daemon/services.h"
#include "wlsync/v1/access.grpc.pb.h"
#include "wlsync/v1/audit.grpc.pb.h"

namespace wlsync::daemon {
namespace {

class AccessServiceImpl final : public v1::Access::Service {
 public:
  AccessServiceImpl(Gate& gate, access::TokenStore& tokens) : gate_(gate), tokens_(tokens) {}

  grpc::Status CreateToken(grpc::ServerContext* context, const v1::CreateTokenRequest* request,
                           v1::CreateTokenResponse* response) override {
    Caller caller;
    if (grpc::Status a = gate_.Admit(*context, access::Method::kCreateToken, &caller); !a.ok()) {
      return a;
    }
    std::optional<access::Role> role = access::ParseRole(request->role());
    if (!role) {
      return ToGrpc(absl::InvalidArgumentError(
          "role: must be operator, tracer, auditor or admin"));
    }
    auto made = tokens_.Create(request->name(), *role, request->expires_unix_ms(), caller.token);
    if (!made.ok()) return ToGrpc(made.status());
    base::Logger("rpc")->info("token created name={} role={} by={}", request->name(),
                              request->role(), caller.token);
    *response->mutable_info() = std::move(made->first);
    response->set_token(std::move(made->second));
    return grpc::Status::OK;
  }

  grpc::Status ListTokens(grpc::ServerContext* context, const v1::ListTokensRequest*,
                          v1::ListTokensResponse* response) override {
    Caller caller;
    if (grpc::Status a = gate_.Admit(*context, access::Method::kListTokens, &caller); !a.ok()) {
      return a;
    }
    for (v1::TokenInfo& t : tokens_.List()) *response->add_tokens() = std::move(t);
    return grpc::Status::OK;
  }

  grpc::Status RevokeToken(grpc::ServerContext* context, const v1::RevokeTokenRequest* request,
                           v1::TokenInfo* response) override {
    Caller caller;
    if (grpc::Status a = gate_.Admit(*context, access::Method::kRevokeToken, &caller); !a.ok()) {
      return a;
    }
    auto revoked = tokens_.Revoke(request->name(), caller.token);
    if (!revoked.ok()) return ToGrpc(revoked.status());
    base::Logger("rpc")->info("token revoked name={} by={}", request->name(), caller.token);
    *response = std::move(*revoked);
    return grpc::Status::OK;
  }

 private:
  Gate& gate_;
  access::TokenStore& tokens_;
};

// Entries per Export message.
constexpr size_t kExportChunk = 1000;
// Entries per WhoSaw / ByToken answer at most.
constexpr size_t kMaxAnswer = 10000;

class AuditServiceImpl final : public v1::Audit::Service {
 public:
  AuditServiceImpl(Gate& gate, const access::AuditTrail& trail,
                   std::function<absl::StatusOr<std::string>(std::string_view)> pid_of)
      : gate_(gate), trail_(trail), pid_of_(std::move(pid_of)) {}

  grpc::Status Export(grpc::ServerContext* context, const v1::AuditExportRequest* request,
                      grpc::ServerWriter<v1::AuditExportChunk>* writer) override {
    Caller caller;
    if (grpc::Status a = gate_.Admit(*context, access::Method::kAuditExport, &caller); !a.ok()) {
      return a;
    }
    // The head is taken first: entries appended during the export come after it, and the
    // chain up to it is what the reader can verify.
    v1::AuditHead head = trail_.head();
    uint64_t next = std::max({uint64_t{1}, request->from_seq(), head.base_seq()});
    for (;;) {
      if (context->IsCancelled()) return grpc::Status::CANCELLED;
      std::vector<v1::AuditEntry> entries;
      if (absl::Status s = trail_.Read(next, kExportChunk, &entries); !s.ok()) return ToGrpc(s);
      v1::AuditExportChunk chunk;
      bool last = entries.size() < kExportChunk;
      for (v1::AuditEntry& e : entries) {
        if (e.seq() > head.seq()) {
          last = true;
          break;
        }
        if (e.seq() != next && trail_.base_seq() > next) {
          // A retention sweep removed entries after the head was taken: the chain sent so
          // far would not match the head's base. Rare (sweeps are hourly); the caller retries.
          return grpc::Status(grpc::StatusCode::ABORTED,
                              "audit: retention removed entries during the export; run again");
        }
        next = e.seq() + 1;
        *chunk.add_entries() = std::move(e);
      }
      if (last) *chunk.mutable_head() = head;
      if (!writer->Write(chunk)) return grpc::Status::CANCELLED;
      if (last) return grpc::Status::OK;
    }
  }

  grpc::Status WhoSaw(grpc::ServerContext* context, const v1::WhoSawRequest* request,
                      v1::AuditEntries* response) override {
    Caller caller;
    if (grpc::Status a = gate_.Admit(*context, access::Method::kAuditWhoSaw, &caller); !a.ok()) {
      return a;
    }
    std::string pid = request->person();
    if (!model::IsValidPid(pid)) {
      absl::StatusOr<std::string> p = pid_of_(request->person());
      if (!p.ok()) return ToGrpc(p.status());
      pid = *p;
    }
    std::vector<v1::AuditEntry> entries;
    absl::Status s = trail_.WhoSaw(pid, request->since_unix_ms(), kMaxAnswer, &entries);
    if (!s.ok()) return ToGrpc(s);
    for (v1::AuditEntry& e : entries) *response->add_entries() = std::move(e);
    return grpc::Status::OK;
  }

  grpc::Status ByToken(grpc::ServerContext* context, const v1::ByTokenRequest* request,
                       v1::AuditEntries* response) override {
    Caller caller;
    if (grpc::Status a = gate_.Admit(*context, access::Method::kAuditByToken, &caller); !a.ok()) {
      return a;
    }
    std::vector<v1::AuditEntry> entries;
    absl::Status s = trail_.ByToken(request->token(), request->since_unix_ms(), kMaxAnswer,
                                    &entries);
    if (!s.ok()) return ToGrpc(s);
    for (v1::AuditEntry& e : entries) *response->add_entries() = std::move(e);
    return grpc::Status::OK;
  }

 private:
  Gate& gate_;
  const access::AuditTrail& trail_;
  const std::function<absl::StatusOr<std::string>(std::string_view)> pid_of_;
};

}  // namespace

std::unique_ptr<grpc::Service> NewAccessService(Gate& gate, access::TokenStore& tokens) {
  return std::make_unique<AccessServiceImpl>(gate, tokens);
}

std::unique_ptr<grpc::Service> NewAuditService(
    Gate& gate, const access::AuditTrail& trail,
    std::function<absl::StatusOr<std::string>(std::string_view)> pid_of) {
  return std::make_unique<AuditServiceImpl>(gate, trail, std::move(pid_of));
}

}  // namespace wlsync::daemon
