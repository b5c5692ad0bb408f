// `wlsync key ...` (admin): rotate this node's signing key, revoke a key from a time on, list the
// trusted keys, and report what was accepted under a key.
#include <cstdio>

#include "base/strings.h"
#include "cli/client.h"
#include "cli/commands.h"
#include "cli/output.h"
#include "wlsync/v1/keys.grpc.pb.h"

namespace wlsync::cli {
namespace {

std::string Time(int64_t unix_ms) { return ChinaTime(unix_ms, "%Y-%m-%dT%H:%M:%S%Ez", ""); }

// "1 delta", "3 deltas".
std::string Count(uint64_t n, const std::string& one, const std::string& many = "") {
  return base::StrCat(n, " ", n == 1 ? one : (many.empty() ? one + "s" : many));
}

std::string State(const v1::KeyInfo& k) {
  if (k.revoked_from_unix_ms() != 0) return base::StrCat("revoked (", k.revoked_by(), ")");
  if (k.current()) return "current";
  return k.valid_until_hlc() != 0 ? "retired" : "valid";
}

std::string KeyJson(const v1::KeyInfo& k) {
  return base::StrCat(
      "{\"node\":", JsonString(k.node()), ",\"key_id\":", JsonString(k.key_id()),
      ",\"public_key\":", JsonString(k.public_key_hex()), ",\"state\":", JsonString(State(k)),
      ",\"valid_after_hlc\":", k.valid_after_hlc(), ",\"valid_until_hlc\":", k.valid_until_hlc(),
      ",\"valid_after\":", JsonString(Time(k.valid_after_unix_ms())),
      ",\"valid_until\":", JsonString(Time(k.valid_until_unix_ms())),
      ",\"revoked_from\":", JsonString(Time(k.revoked_from_unix_ms())),
      ",\"revoked_by\":", JsonString(k.revoked_by()), ",\"source\":", JsonString(k.source()), "}");
}

int PrintKeys(const v1::KeyList& list, bool json) {
  if (json) {
    std::string out = "[";
    for (int i = 0; i < list.keys_size(); ++i) {
      if (i > 0) out += ",";
      out += KeyJson(list.keys(i));
    }
    std::printf("%s]\n", out.c_str());
    return kExitOk;
  }
  std::printf("%-12s %-16s %-16s %-25s %-25s %s\n", "NODE", "KEY", "STATE", "VALID FROM",
              "VALID UNTIL", "REVOKED FROM");
  for (const v1::KeyInfo& k : list.keys()) {
    std::printf("%-12s %-16s %-16s %-25s %-25s %s\n", k.node().c_str(), k.key_id().c_str(),
                State(k).c_str(),
                k.valid_after_hlc() == 0 ? "-" : Time(k.valid_after_unix_ms()).c_str(),
                k.valid_until_hlc() == 0 ? "-" : Time(k.valid_until_unix_ms()).c_str(),
                k.revoked_from_unix_ms() == 0 ? "-" : Time(k.revoked_from_unix_ms()).c_str());
  }
  return kExitOk;
}

int PrintReport(const v1::KeyReport& r, bool json) {
  if (json) {
    std::string deltas = "[";
    for (int i = 0; i < r.accepted_size(); ++i) {
      const v1::AcceptedDelta& d = r.accepted(i);
      if (i > 0) deltas += ",";
      base::StrAppend(&deltas, "{\"epoch\":", JsonString(d.epoch_hex()), ",\"seq\":", d.seq(),
                      ",\"created\":", JsonString(Time(d.created_unix_ms())),
                      ",\"hlc_time\":", JsonString(Time(d.hlc_unix_ms())),
                      ",\"events\":", d.events(), ",\"people\":", d.people(),
                      ",\"after_revocation\":", d.after_revocation() ? "true" : "false",
                      ",\"vouched\":", d.vouched() ? "true" : "false",
                      ",\"pids\":", JsonStrings(d.pids()), "}");
    }
    std::printf("%s\n",
                base::StrCat("{\"key\":", KeyJson(r.key()), ",\"deltas\":", r.deltas(),
                             ",\"events\":", r.events(),
                             ",\"deltas_after_revocation\":", r.deltas_after_revocation(),
                             ",\"vouched_after_revocation\":", r.vouched_after_revocation(),
                             ",\"people_after_revocation\":", r.people_after_revocation(),
                             ",\"pids_after_revocation\":", JsonStrings(r.pids_after_revocation()),
                             ",\"accepted\":", deltas, "]}")
                    .c_str());
    return kExitOk;
  }
  const v1::KeyInfo& k = r.key();
  std::printf("Key %s of %s: %s\n", k.key_id().c_str(), k.node().c_str(), State(k).c_str());
  std::printf("Accepted here under it: %s, %s\n", Count(r.deltas(), "delta").c_str(),
              Count(r.events(), "event").c_str());
  if (k.revoked_from_unix_ms() != 0) {
    std::printf("Of these, from after its revocation time %s: %s touching %s",
                Time(k.revoked_from_unix_ms()).c_str(),
                Count(r.deltas_after_revocation(), "delta").c_str(),
                Count(r.people_after_revocation(), "person", "people").c_str());
    if (r.vouched_after_revocation() > 0) {
      std::printf(" (%llu vouched for by the origin's revocation notice: its own)",
                  static_cast<unsigned long long>(r.vouched_after_revocation()));
    }
    std::printf("\n");
  }
  std::printf("The deltas and pids are in the JSON report (--json).\n");
  return kExitOk;
}

}  // namespace

int RunKey(const std::string& node, const KeyArgs& args) {
  auto stub = v1::Keys::NewStub(ChannelTo(node));
  grpc::ClientContext context;
  std::string what = "key " + args.action;
  v1::KeyList list;
  grpc::Status status;
  if (args.action == "rotate") {
    v1::RotateKeyRequest request;
    request.set_reason(args.reason);
    status = stub->Rotate(&context, request, &list);
  } else if (args.action == "revoke") {
    absl::StatusOr<int64_t> from = ParseTime(args.from);
    if (!from.ok()) {
      std::fprintf(stderr, "wlsync: key revoke: --from: %s\n",
                   std::string(from.status().message()).c_str());
      return kExitUsage;
    }
    v1::RevokeKeyRequest request;
    request.set_node(args.node);
    request.set_key_id(args.key_id);
    request.set_from_unix_ms(*from);
    request.set_reason(args.reason);
    status = stub->Revoke(&context, request, &list);
  } else if (args.action == "list") {
    v1::ListKeysRequest request;
    request.set_node(args.node);
    status = stub->List(&context, request, &list);
  } else {
    v1::KeyReportRequest request;
    request.set_node(args.node);
    request.set_key_id(args.key_id);
    v1::KeyReport report;
    status = stub->Report(&context, request, &report);
    if (!status.ok()) return ReportRpcError(what, status);
    return PrintReport(report, args.json);
  }
  if (!status.ok()) return ReportRpcError(what, status);
  return PrintKeys(list, args.json);
}

}  // namespace wlsync::cli
