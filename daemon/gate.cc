#include "daemon/gate.h"

#include <grpcpp/grpcpp.h>

#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "base/logging.h"
#include "base/strings.h"

namespace wlsync::daemon {
namespace {

constexpr std::string_view kBearer = "Bearer ";

std::string_view CodeName(absl::StatusCode code) {
  switch (code) {
    case absl::StatusCode::kUnauthenticated: return "UNAUTHENTICATED";
    case absl::StatusCode::kPermissionDenied: return "PERMISSION_DENIED";
    case absl::StatusCode::kResourceExhausted: return "RESOURCE_EXHAUSTED";
    case absl::StatusCode::kFailedPrecondition: return "FAILED_PRECONDITION";
    case absl::StatusCode::kOk: return "OK";
    default: return "ERROR";
  }
}

// The metric label of a refusal: a fixed word per code.
std::string RefusalReason(absl::StatusCode code) {
  switch (code) {
    case absl::StatusCode::kUnauthenticated: return "unauthenticated";
    case absl::StatusCode::kPermissionDenied: return "permission_denied";
    case absl::StatusCode::kResourceExhausted: return "rate_limited";
    case absl::StatusCode::kFailedPrecondition: return "lockdown";
    default: return "other";
  }
}

std::string UtcTime(int64_t unix_ms) {
  return absl::FormatTime("%Y-%m-%dT%H:%M:%E3SZ", absl::FromUnixMillis(unix_ms),
                          absl::UTCTimeZone());
}

}  // namespace

Gate::Gate(access::TokenStore& tokens, access::RateLimiter& limiter, access::AuditTrail& trail,
           const access::Lockdown& lockdown, access::RefusalLimitOptions refusal_limit,
           std::function<int64_t()> now_ms)
    : tokens_(tokens),
      limiter_(limiter),
      trail_(trail),
      lockdown_(lockdown),
      now_ms_(now_ms ? std::move(now_ms) : [] { return absl::ToUnixMillis(absl::Now()); }),
      refusal_limit_(refusal_limit),
      refusal_options_(refusal_limit) {}

grpc::Status CheckReason(const std::string& reason) {
  constexpr size_t kMaxReason = 512;
  if (reason.size() > kMaxReason) {
    return ToGrpc(absl::InvalidArgumentError("reason: at most 512 bytes"));
  }
  for (unsigned char c : reason) {
    if (c < 0x20 || c == 0x7f) {
      return ToGrpc(absl::InvalidArgumentError("reason: holds a control character"));
    }
  }
  return grpc::Status::OK;
}

grpc::Status ToGrpc(const absl::Status& s) {
  if (s.ok()) return grpc::Status::OK;
  return grpc::Status(static_cast<grpc::StatusCode>(s.code()), std::string(s.message()));
}

// LIMITATION: a refusal of a caller with a valid token (role, rate limit, lockdown) is still
// one synced audit append each, so the holder of a valid token can make the node write once
// per refused call. Such a caller is known by its token's name and an admin can revoke the
// token; callers without a valid token are bounded per address in RefuseUnknown.
grpc::Status Gate::Refuse(const std::string& token, std::string_view role, access::Method method,
                          const std::string& peer, const absl::Status& why) {
  refusals_.Add({RefusalReason(why.code()), "entry"});
  base::Logger("rpc")->warn("refused method={} token={} peer={} code={} reason={}",
                            access::MethodName(method), token, peer, CodeName(why.code()),
                            base::Quote(why.message()));
  v1::AuditEntry entry;
  entry.set_token(token);
  entry.set_role(std::string(role));
  entry.set_method(std::string(access::MethodName(method)));
  entry.set_outcome(base::StrCat(CodeName(why.code()), ": ", why.message()));
  entry.set_peer(peer);
  if (absl::Status s = trail_.Append(std::move(entry)); !s.ok()) return ToGrpc(s);
  return ToGrpc(why);
}

grpc::Status Gate::RefuseUnknown(access::Method method, const std::string& peer,
                                 const absl::Status& why) {
  access::RefusalLimiter::Verdict v = refusal_limit_.Admit(access::SourceAddress(peer), now_ms_());
  if (v.due.has_value()) {
    if (absl::Status s = AppendSummary(*v.due); !s.ok()) return ToGrpc(s);
  }
  if (v.audit) return Refuse("-", "", method, peer, why);

  refusals_.Add({RefusalReason(why.code()), "summary"});
  if (v.first_held_back) {
    base::Logger("rpc")->warn(
        "address={} refused more than {} calls without a valid token in {} s: further "
        "refusals from it are counted and audited as one summary entry per interval",
        v.bucket, refusal_options_.per_address, refusal_options_.interval_ms / 1000);
  }
  return ToGrpc(why);
}

absl::Status Gate::AppendSummary(const access::RefusalSummary& summary) {
  v1::AuditEntry entry;
  entry.set_token("-");
  entry.set_method("Gate.Refusals");
  entry.set_filter(base::StrCat("refused=", summary.count, " first_ms=", summary.first_ms,
                                " last_ms=", summary.last_ms));
  entry.set_outcome(base::StrCat("UNAUTHENTICATED: ", summary.count, " more refusals from ",
                                 summary.address, " between ", UtcTime(summary.first_ms), " and ",
                                 UtcTime(summary.last_ms)));
  entry.set_peer(summary.address);
  return trail_.Append(std::move(entry));
}

absl::Status Gate::FlushRefusals(bool all) {
  absl::Status first;
  for (const access::RefusalSummary& s : refusal_limit_.TakeDue(now_ms_(), all)) {
    if (absl::Status a = AppendSummary(s); !a.ok() && first.ok()) first = a;
  }
  return first;
}

grpc::Status Gate::Admit(const grpc::ServerContext& context, access::Method method,
                         Caller* caller) {
  caller->peer = context.peer();
  const auto& metadata = context.client_metadata();
  auto it = metadata.find("authorization");
  if (it == metadata.end()) {
    return RefuseUnknown(
        method, caller->peer,
        absl::UnauthenticatedError("no token: send \"authorization: Bearer TOKEN\""));
  }
  std::string_view value(it->second.data(), it->second.size());
  if (value.substr(0, kBearer.size()) != kBearer) {
    return RefuseUnknown(method, caller->peer,
                         absl::UnauthenticatedError("authorization: must be \"Bearer TOKEN\""));
  }
  absl::StatusOr<access::Identity> id = tokens_.Authenticate(value.substr(kBearer.size()));
  if (!id.ok()) return RefuseUnknown(method, caller->peer, id.status());

  caller->token = id->name;
  caller->role = id->role;
  std::string_view role = access::RoleName(id->role);
  if (!access::Allowed(id->role, method)) {
    return Refuse(id->name, role, method, caller->peer,
                  absl::PermissionDeniedError(base::StrCat("role ", role, " may not call ",
                                                           access::MethodName(method))));
  }
  if (absl::Status s = limiter_.AdmitRequest(id->name, id->role); !s.ok()) {
    return Refuse(id->name, role, method, caller->peer, s);
  }
  if (method == access::Method::kExport && lockdown_.active()) {
    return Refuse(id->name, role, method, caller->peer,
                  absl::FailedPreconditionError("lockdown: Export is suspended until `wlsync "
                                                "emergency lift`"));
  }
  return grpc::Status::OK;
}

grpc::Status Gate::CheckUnmask(const Caller& caller, access::Method method) {
  // Operators see full values anyway; what a lockdown stops is a tracer's unmasking.
  if (!lockdown_.active() || caller.role != access::Role::kTracer) return grpc::Status::OK;
  return Refuse(caller.token, access::RoleName(caller.role), method, caller.peer,
                absl::FailedPreconditionError(
                    "lockdown: unmasking for a case is suspended until `wlsync emergency lift`"));
}

grpc::Status Gate::Record(const Caller& caller, access::Method method, std::string detail,
                          std::string_view reason) {
  // The reason is free text typed by an admin: kept in the audit trail, never logged (it
  // could name a person).
  base::Logger("rpc")->warn("emergency method={} token={} {} reason_chars={} (the reason is in "
                            "the audit trail)",
                            access::MethodName(method), caller.token, detail, reason.size());
  if (!reason.empty()) detail = base::StrCat(detail, detail.empty() ? "" : " ", "reason=",
                                             base::Quote(reason));
  v1::AuditEntry entry;
  entry.set_token(caller.token);
  entry.set_role(std::string(access::RoleName(caller.role)));
  entry.set_method(std::string(access::MethodName(method)));
  entry.set_filter(std::move(detail));
  entry.set_outcome("OK");
  entry.set_peer(caller.peer);
  return ToGrpc(trail_.Append(std::move(entry)));
}

grpc::Status Gate::Disclose(const Caller& caller, access::Method method, std::string filter,
                            std::string case_id, std::vector<std::string> pids,
                            uint64_t result_count, bool full_export) {
  std::string_view role = access::RoleName(caller.role);
  if (absl::Status s = limiter_.TakeRecords(caller.token, caller.role,
                                            static_cast<int64_t>(result_count));
      !s.ok()) {
    return Refuse(caller.token, role, method, caller.peer, s);
  }
  v1::AuditEntry entry;
  entry.set_token(caller.token);
  entry.set_role(std::string(role));
  entry.set_method(std::string(access::MethodName(method)));
  entry.set_filter(std::move(filter));
  entry.set_case_id(std::move(case_id));
  entry.set_result_count(result_count);
  for (std::string& pid : pids) entry.add_pids(std::move(pid));
  entry.set_outcome("OK");
  entry.set_peer(caller.peer);
  return ToGrpc(trail_.Append(std::move(entry), full_export));
}

}  // namespace wlsync::daemon
