// Roles and the methods they may call: the one table that says who may do what.
// Start with Allowed(); docs/operations.md has the same table for operators.
#pragma once

#include <optional>
#include <string_view>

namespace wlsync::access {

enum class Role { kOperator, kTracer, kAuditor, kAdmin };

// Every method of the client API that is authorized, named "Service.Method" in the trail.
enum class Method {
  kRegister,
  kUpdate,
  kDeregister,
  kGet,
  kImport,
  kExport,
  kStatus,
  kReconcile,
  kListReports,
  kListQuarantine,
  kSearch,
  kCreateToken,
  kListTokens,
  kRevokeToken,
  kAuditExport,
  kAuditWhoSaw,
  kAuditByToken,
  kFreeze,
  kUnfreeze,
  kLockdown,
  kLift,
  kEmergencyState,
  kEmergencyReport,
  kKeyRotate,
  kKeyRevoke,
  kKeyList,
  kKeyReport,
  kRevokeCert,
  kListCerts,
  kReloadCerts,
  kListForks,
  kClearFork,
};

std::string_view RoleName(Role role);
std::optional<Role> ParseRole(std::string_view name);
std::string_view MethodName(Method method);

// operator: every Registry method (writes, reads, export, reconcile) and Search;
// tracer: Search; auditor: the Audit service; admin: the Access service (tokens) and the
// Emergency service (peer certificates and forked streams included).
// Every role may call Status, which holds no personal data.
bool Allowed(Role role, Method method);

// True for methods that return personal data (their results are audited).
bool ReturnsPersonalData(Method method);

}  // namespace wlsync::access
