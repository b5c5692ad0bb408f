// The gate every client-API call passes: bearer-token authentication, the role check, the
// per-token rate limit, and the audit entry of each refusal and each disclosure of personal
// data. Services call Admit first and Disclose before sending personal data. Refusals of
// callers without a valid token are audited one by one up to a limit per source address,
// then summarized (access/refusal_limit.h).
#pragma once

#include <grpcpp/support/status.h>

#include <functional>
#include <string>
#include <vector>

#include "access/audit_trail.h"
#include "access/lockdown.h"
#include "access/rate_limit.h"
#include "access/refusal_limit.h"
#include "access/roles.h"
#include "access/tokens.h"
#include "base/tally.h"

namespace grpc {
class ServerContext;
}

namespace wlsync::daemon {

// Who is calling, once admitted.
struct Caller {
  std::string token = "-";
  access::Role role = access::Role::kOperator;
  std::string peer;
};

// Thread safe; the references must outlive it. `now_ms` is the clock of the refusal limit.
class Gate {
 public:
  Gate(access::TokenStore& tokens, access::RateLimiter& limiter, access::AuditTrail& trail,
       const access::Lockdown& lockdown, access::RefusalLimitOptions refusal_limit = {},
       std::function<int64_t()> now_ms = nullptr);

  // Reads "authorization: Bearer TOKEN", authenticates it, checks the role may call
  // `method` and takes one request from the token's budget. UNAUTHENTICATED,
  // PERMISSION_DENIED or RESOURCE_EXHAUSTED otherwise, each recorded in the trail. During a
  // lockdown, Export is refused with FAILED_PRECONDITION.
  grpc::Status Admit(const grpc::ServerContext& context, access::Method method, Caller* caller);

  // Before personal data is sent: takes the records from the token's record budget and
  // records the disclosure (filter with personal values hashed, case id, pids) durably.
  // A refusal or a trail that cannot record means nothing may be sent.
  // During a lockdown, refuses (and records) a tracer's request to unmask values for a case.
  grpc::Status CheckUnmask(const Caller& caller, access::Method method);

  // Records an admin action (emergency freeze, lockdown, ...) with its details and the
  // admin's free-text reason; the log line names the action but not the reason.
  grpc::Status Record(const Caller& caller, access::Method method, std::string detail,
                      std::string_view reason = "");

  grpc::Status Disclose(const Caller& caller, access::Method method, std::string filter,
                        std::string case_id, std::vector<std::string> pids,
                        uint64_t result_count, bool full_export = false);

  // Writes the summaries of the unauthenticated refusals held back in intervals that have
  // ended (all of them with `all`, at shutdown). The node's monitor calls it once a second.
  absl::Status FlushRefusals(bool all = false);

  // Refusals by reason ("unauthenticated", "permission_denied", "rate_limited",
  // "lockdown") and by how they reached the trail ("entry" one by one, "summary" counted in
  // a summary entry). For the metrics.
  const base::Tally& refusals() const { return refusals_; }

 private:
  grpc::Status Refuse(const std::string& token, std::string_view role, access::Method method,
                      const std::string& peer, const absl::Status& why);
  // An unauthenticated refusal: audited while the source address is within its limit.
  grpc::Status RefuseUnknown(access::Method method, const std::string& peer,
                             const absl::Status& why);
  absl::Status AppendSummary(const access::RefusalSummary& summary);

  access::TokenStore& tokens_;
  access::RateLimiter& limiter_;
  access::AuditTrail& trail_;
  const access::Lockdown& lockdown_;
  const std::function<int64_t()> now_ms_;
  access::RefusalLimiter refusal_limit_;
  const access::RefusalLimitOptions refusal_options_;
  base::Tally refusals_;
};

// absl::Status to grpc::Status, keeping code and message.
grpc::Status ToGrpc(const absl::Status& status);

// An admin's free-text reason for the trail: at most 512 bytes, no control characters.
grpc::Status CheckReason(const std::string& reason);

}  // namespace wlsync::daemon
