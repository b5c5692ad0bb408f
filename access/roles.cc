#include "access/roles.h"

namespace wlsync::access {

std::string_view RoleName(Role role) {
  switch (role) {
    case Role::kOperator: return "operator";
    case Role::kTracer: return "tracer";
    case Role::kAuditor: return "auditor";
    case Role::kAdmin: return "admin";
  }
  return "unknown";
}

std::optional<Role> ParseRole(std::string_view name) {
  for (Role r : {Role::kOperator, Role::kTracer, Role::kAuditor, Role::kAdmin}) {
    if (RoleName(r) == name) return r;
  }
  return std::nullopt;
}

std::string_view MethodName(Method method) {
  switch (method) {
    case Method::kRegister: return "Registry.Register";
    case Method::kUpdate: return "Registry.Update";
    case Method::kDeregister: return "Registry.Deregister";
    case Method::kGet: return "Registry.Get";
    case Method::kImport: return "Registry.Import";
    case Method::kExport: return "Registry.Export";
    case Method::kStatus: return "Registry.Status";
    case Method::kReconcile: return "Registry.Reconcile";
    case Method::kListReports: return "Registry.ListReports";
    case Method::kListQuarantine: return "Registry.ListQuarantine";
    case Method::kSearch: return "Query.Search";
    case Method::kCreateToken: return "Access.CreateToken";
    case Method::kListTokens: return "Access.ListTokens";
    case Method::kRevokeToken: return "Access.RevokeToken";
    case Method::kAuditExport: return "Audit.Export";
    case Method::kAuditWhoSaw: return "Audit.WhoSaw";
    case Method::kAuditByToken: return "Audit.ByToken";
    case Method::kFreeze: return "Emergency.Freeze";
    case Method::kUnfreeze: return "Emergency.Unfreeze";
    case Method::kLockdown: return "Emergency.Lockdown";
    case Method::kLift: return "Emergency.Lift";
    case Method::kEmergencyState: return "Emergency.State";
    case Method::kEmergencyReport: return "Emergency.Report";
    case Method::kKeyRotate: return "Keys.Rotate";
    case Method::kKeyRevoke: return "Keys.Revoke";
    case Method::kKeyList: return "Keys.List";
    case Method::kKeyReport: return "Keys.Report";
    case Method::kRevokeCert: return "Emergency.RevokeCert";
    case Method::kListCerts: return "Emergency.ListCerts";
    case Method::kReloadCerts: return "Emergency.ReloadCerts";
    case Method::kListForks: return "Emergency.ListForks";
    case Method::kClearFork: return "Emergency.ClearFork";
  }
  return "unknown";
}

bool Allowed(Role role, Method method) {
  if (method == Method::kStatus) return true;
  switch (method) {
    case Method::kSearch:
      return role == Role::kOperator || role == Role::kTracer;
    case Method::kCreateToken:
    case Method::kListTokens:
    case Method::kRevokeToken:
    case Method::kFreeze:
    case Method::kUnfreeze:
    case Method::kLockdown:
    case Method::kLift:
    case Method::kEmergencyState:
    case Method::kEmergencyReport:
    case Method::kKeyRotate:
    case Method::kKeyRevoke:
    case Method::kKeyList:
    case Method::kKeyReport:
    case Method::kRevokeCert:
    case Method::kListCerts:
    case Method::kReloadCerts:
    case Method::kListForks:
    case Method::kClearFork:
      return role == Role::kAdmin;
    case Method::kAuditExport:
    case Method::kAuditWhoSaw:
    case Method::kAuditByToken:
      return role == Role::kAuditor;
    default:
      return role == Role::kOperator;  // the rest of the Registry service
  }
}

bool ReturnsPersonalData(Method method) {
  return method == Method::kGet || method == Method::kExport || method == Method::kSearch;
}

}  // namespace wlsync::access
