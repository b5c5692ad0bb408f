// `wlsync cert ...` (admin): revoke a peer's TLS certificate at once, list the pinned and
// revoked certificates of each peer, and read the pin files again without a restart.
#include <cctype>
#include <cstdio>

#include "absl/time/time.h"
#include "cli/client.h"
#include "cli/commands.h"
#include "cli/output.h"
#include "model/pid.h"
#include "net/node_tls.h"
#include "wlsync/v1/emergency.grpc.pb.h"

namespace wlsync::cli {
namespace {

std::string Date(int64_t unix_ms) {
  if (unix_ms == 0) return "unknown";
  return absl::FormatTime("%Y-%m-%d %H:%M", absl::FromUnixMillis(unix_ms),
                          absl::FixedTimeZone(8 * 3600));
}

void PrintState(const v1::CertState& state) {
  for (const std::string& line : state.reloaded()) std::printf("reloaded %s\n", line.c_str());
  std::printf("%-12s %-8s %-17s %s\n", "PEER", "STATE", "EXPIRES (UTC+8)", "SHA-256");
  for (const v1::PeerCerts& p : state.peers()) {
    for (const v1::PinnedCertInfo& c : p.pinned()) {
      std::printf("%-12s %-8s %-17s %s\n", p.peer().c_str(), c.revoked() ? "REVOKED" : "pinned",
                  Date(c.not_after_unix_ms()).c_str(), c.fingerprint().c_str());
    }
    for (const v1::RevokedCert& r : p.revoked()) {
      std::printf("%-12s %-8s %-17s %s\n  revoked %s%s%s\n", p.peer().c_str(), "REVOKED",
                  Date(r.not_after_unix_ms()).c_str(), r.fingerprint().c_str(),
                  Date(r.since_unix_ms()).c_str(), r.reason().empty() ? "" : ": ",
                  r.reason().c_str());
    }
  }
}

}  // namespace

absl::StatusOr<std::string> NormalizeFingerprint(std::string_view text) {
  std::string out;
  for (char c : text) {
    if (c == ':') continue;  // as `openssl x509 -fingerprint -sha256` prints it
    out.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
  }
  bool hex = out.size() == 64 && out.find_first_not_of("0123456789abcdef") == std::string::npos;
  if (!hex) {
    return absl::InvalidArgumentError(
        "--fingerprint: give the SHA-256 of the certificate as 64 hex characters (colons "
        "allowed)");
  }
  return out;
}

int RunCert(const std::string& node, const CertArgs& args) {
  auto stub = v1::Emergency::NewStub(ChannelTo(node));
  grpc::ClientContext context;
  v1::CertState state;
  grpc::Status status;
  std::string what = "cert " + args.action;
  if (args.action == "revoke") {
    absl::StatusOr<std::string> fp = absl::InvalidArgumentError("give --fingerprint or --cert");
    if (!args.cert_file.empty()) {
      absl::StatusOr<std::string> pem = model::ReadSmallFile(args.cert_file);
      fp = pem.ok() ? net::FingerprintOfPem(*pem) : pem.status();
    } else if (!args.fingerprint.empty()) {
      fp = NormalizeFingerprint(args.fingerprint);
    }
    if (!fp.ok()) {
      std::fprintf(stderr, "wlsync: %s: %s\n", what.c_str(),
                   std::string(fp.status().message()).c_str());
      return kExitUsage;
    }
    v1::RevokeCertRequest request;
    request.set_peer(args.peer);
    request.set_fingerprint(*fp);
    request.set_reason(args.reason);
    status = stub->RevokeCert(&context, request, &state);
  } else if (args.action == "reload") {
    status = stub->ReloadCerts(&context, v1::CertStateRequest(), &state);
  } else {
    status = stub->ListCerts(&context, v1::CertStateRequest(), &state);
  }
  if (!status.ok()) return ReportRpcError(what, status);
  if (args.json) return PrintMessageJson(state, what);
  PrintState(state);
  return kExitOk;
}

}  // namespace wlsync::cli
