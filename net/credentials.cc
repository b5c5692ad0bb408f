#include "net/credentials.h"

#include <grpcpp/grpcpp.h>
#include <grpcpp/security/tls_certificate_provider.h>
#include <grpcpp/security/tls_certificate_verifier.h>
#include <grpcpp/security/tls_credentials_options.h>

#include "base/logging.h"
#include "base/strings.h"

namespace wlsync::net {
namespace {

base::Tally refusals;

std::string_view Text(grpc::string_ref ref) { return std::string_view(ref.data(), ref.size()); }

// The fingerprint of the first PEM certificate in the auth context; empty when none.
std::string FingerprintIn(const std::shared_ptr<const grpc::AuthContext>& auth) {
  if (auth == nullptr) return "";
  std::vector<grpc::string_ref> pems = auth->FindPropertyValues(GRPC_X509_PEM_CERT_PROPERTY_NAME);
  if (pems.empty()) return "";
  absl::StatusOr<std::string> fp = FingerprintOfPem(Text(pems.front()));
  return fp.ok() ? *fp : "";
}

// Logs, counts and words the refusal of `fingerprint` (empty: none presented) offered for
// `peer` by its `side` of the link; `where` is the network address, for the log only.
absl::Status Refuse(const NodeTls& tls, PeerSide side, std::string_view peer,
                    std::string_view fingerprint, std::string_view where) {
  PinSet& pins = tls.pins();
  bool revoked = !fingerprint.empty() && pins.IsRevoked(peer, fingerprint);
  // `peer` may be a caller's claim: logged and counted only when it names a configured peer,
  // so that a stranger cannot write arbitrary text into the log or grow the label set.
  bool known = pins.HasPeer(peer);
  std::string shown = fingerprint.empty() ? "none" : ShortFingerprint(fingerprint);
  refusals.Add({known ? std::string(peer) : "unknown", std::string(PeerSideName(side)),
                revoked ? "revoked" : "not_pinned"});
  if (revoked) pins.NoteRevokedRefusal(peer, fingerprint, side);

  auto log = base::Logger("tls");
  if (side == PeerSide::kServer) {
    log->warn("peer={} target={} refused: its server certificate {} is {}; no request sent", peer,
              where, shown, revoked ? "revoked" : "not one pinned in the peer's [[peers]] cert");
    return absl::UnauthenticatedError(
        base::StrCat("tls: the server's certificate (", shown, ") ",
                     revoked ? "is revoked for peer " : "is not the one pinned for peer ", peer));
  }
  log->warn("caller endpoint={} claims node={} refused: its client certificate {} is {}", where,
            known ? std::string(peer) : "-", shown,
            revoked ? "revoked" : "not pinned for that peer");
  if (revoked) {
    return absl::UnauthenticatedError(base::StrCat(
        "peer: the client certificate (", shown,
        ") is revoked by this node; it accepts only a new certificate pinned for the calling "
        "node"));
  }
  return absl::UnauthenticatedError(base::StrCat(
      "peer: the client certificate (", shown,
      ") is not the one this node pins for the calling node; give it in [[peers]] cert"));
}

// Runs after the handshake has verified the server's chain against tls.ca, and before the
// connection carries any call.
class PinVerifier final : public grpc::experimental::ExternalCertificateVerifier {
 public:
  PinVerifier(std::shared_ptr<const NodeTls> tls, std::string peer)
      : tls_(std::move(tls)), peer_(std::move(peer)) {}

  bool Verify(grpc::experimental::TlsCustomVerificationCheckRequest* request,
              std::function<void(grpc::Status)> callback, grpc::Status* sync_status) override {
    absl::StatusOr<std::string> fp = FingerprintOfPem(Text(request->peer_cert()));
    if (fp.ok() && tls_->pins().Accepts(peer_, *fp)) {
      *sync_status = grpc::Status::OK;
      return true;
    }
    absl::Status refused =
        Refuse(*tls_, PeerSide::kServer, peer_, fp.ok() ? *fp : "", Text(request->target_name()));
    *sync_status = grpc::Status(grpc::StatusCode::UNAUTHENTICATED, std::string(refused.message()));
    return true;
  }

  void Cancel(grpc::experimental::TlsCustomVerificationCheckRequest*) override {}

 private:
  const std::shared_ptr<const NodeTls> tls_;
  const std::string peer_;
};

}  // namespace

std::shared_ptr<grpc::ServerCredentials> ServerCredentials(const NodeTls* tls) {
  if (tls == nullptr) return grpc::InsecureServerCredentials();
  grpc::SslServerCredentialsOptions options(GRPC_SSL_REQUEST_CLIENT_CERTIFICATE_AND_VERIFY);
  options.pem_root_certs = tls->ca_pem();
  options.pem_key_cert_pairs.push_back({tls->key_pem(), tls->cert_pem()});
  return grpc::SslServerCredentials(options);
}

std::shared_ptr<grpc::ChannelCredentials> PeerChannelCredentials(std::shared_ptr<const NodeTls> tls,
                                                                 const std::string& peer) {
  if (tls == nullptr) return grpc::InsecureChannelCredentials();
  namespace ex = grpc::experimental;
  auto provider = std::make_shared<ex::StaticDataCertificateProvider>(
      tls->ca_pem(), std::vector<ex::IdentityKeyCertPair>{{tls->key_pem(), tls->cert_pem()}});
  ex::TlsChannelCredentialsOptions options;
  options.set_certificate_provider(provider);
  options.watch_root_certs();
  options.watch_identity_key_cert_pairs();
  options.set_verify_server_certs(true);
  // The pin replaces the host name check, so the per-call host check is off too.
  options.set_check_call_host(false);
  options.set_certificate_verifier(ex::ExternalCertificateVerifier::Create<PinVerifier>(tls, peer));
  return ex::TlsCredentials(options);
}

absl::Status AuthenticatePeer(const NodeTls* tls, const grpc::ServerContext& context,
                              std::string_view node, std::string* fingerprint) {
  if (tls == nullptr) return absl::OkStatus();
  std::string fp = FingerprintIn(context.auth_context());
  if (fingerprint != nullptr) *fingerprint = fp;
  if (!fp.empty() && tls->pins().Accepts(node, fp)) return absl::OkStatus();
  return Refuse(*tls, PeerSide::kCaller, node, fp, context.peer());
}

std::string ServerFingerprint(const grpc::ClientContext& context) {
  return FingerprintIn(context.auth_context());
}

absl::Status RecheckPeer(const NodeTls* tls, PeerSide side, std::string_view peer,
                         std::string_view fingerprint, std::string_view endpoint) {
  if (tls == nullptr || tls->pins().Accepts(peer, fingerprint)) return absl::OkStatus();
  return Refuse(*tls, side, peer, fingerprint, endpoint);
}

// LIMITATION: the CLI checks no revocation (CRL or OCSP): a node certificate signed by the CA
// stays trusted by the CLI until it expires. Peer links are not affected: they accept only
// pinned certificates, and `wlsync cert revoke` refuses one at once (net/pin_set.h).
std::shared_ptr<grpc::ChannelCredentials> ClientChannelCredentials(const std::string& ca_pem) {
  grpc::SslCredentialsOptions options;
  options.pem_root_certs = ca_pem;
  return grpc::SslCredentials(options);
}

std::shared_ptr<grpc::ChannelCredentials> PlainChannelCredentials() {
  return grpc::InsecureChannelCredentials();
}

bool LooksLikeHandshakeFailure(std::string_view error_message) {
  // gRPC's words for a connection that never carried a call; an error the server returned
  // (which may mention certificates of its own) does not count.
  if (error_message.find("failed to connect to all addresses") == std::string_view::npos) {
    return false;
  }
  for (std::string_view mark : {"andshake", "SSL", "ssl", "tls:", "ertificate"}) {
    if (error_message.find(mark) != std::string_view::npos) return true;
  }
  return false;
}

const base::Tally& TlsRefusals() { return refusals; }

}  // namespace wlsync::net
