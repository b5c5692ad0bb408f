// `wlsync cert ...` (admin): revoke a peer's TLS certificate at once, list the pinned and
// revoked certificates of each peer, and read the pin files again without a restart.
#include <cctype>
#include <cstdio>
#include <map>

#include "cli/client.h"
#include "cli/commands.h"
#include "cli/output.h"
#include "model/pid.h"
#include "net/node_tls.h"
#include "wlsync/v1/emergency.grpc.pb.h"

namespace wlsync::cli {
namespace {

std::string Date(int64_t unix_ms) { return ChinaTime(unix_ms, "%Y-%m-%d %H:%M", "unknown"); }

void PrintRow(const std::string& peer, std::string_view state, int64_t not_after_ms,
              const std::string& fingerprint) {
  std::printf("%-12s %-8s %-17s %s\n", peer.c_str(), std::string(state).c_str(),
              Date(not_after_ms).c_str(), fingerprint.c_str());
}

// Pinned certificates as the pin files list them; a revoked one is followed by when and
// why, and revoked ones no longer in a pin file come last.
void PrintState(const v1::CertState& state) {
  for (const std::string& line : state.reloaded()) std::printf("reloaded %s\n", line.c_str());
  std::printf("%-12s %-8s %-17s %s\n", "PEER", "STATE", "EXPIRES (UTC+8)", "SHA-256");
  for (const v1::PeerCerts& p : state.peers()) {
    std::map<std::string, const v1::RevokedCert*> revoked;
    for (const v1::RevokedCert& r : p.revoked()) revoked[r.fingerprint()] = &r;
    auto print_revocation = [&](const std::string& fingerprint) {
      const v1::RevokedCert& r = *revoked[fingerprint];
      std::printf("  revoked %s%s%s\n", Date(r.since_unix_ms()).c_str(),
                  r.reason().empty() ? "" : ": ", r.reason().c_str());
      revoked.erase(fingerprint);
    };
    for (const v1::PinnedCertInfo& c : p.pinned()) {
      PrintRow(p.peer(), c.revoked() ? "REVOKED" : "pinned", c.not_after_unix_ms(),
               c.fingerprint());
      if (revoked.contains(c.fingerprint())) print_revocation(c.fingerprint());
    }
    while (!revoked.empty()) {
      const v1::RevokedCert& r = *revoked.begin()->second;
      PrintRow(p.peer(), "REVOKED", r.not_after_unix_ms(), r.fingerprint());
      print_revocation(r.fingerprint());
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
