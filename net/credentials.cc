#include "net/credentials.h"

#include <grpcpp/grpcpp.h>
#include <grpcpp/security/tls_certificate_provider.h>
#include <grpcpp/security/tls_certificate_verifier.h>
#include <grpcpp/security/tls_credentials_options.h>

#include <atomic>

#include "base/logging.h"
#include "base/strings.h"

namespace wlsync::net {
namespace {

std::atomic<int64_t> refused_callers{0};
std::atomic<int64_t> refused_servers{0};

// Runs after the handshake has verified the server's chain against tls.ca, and before the
// connection carries any call.
class PinVerifier final : public grpc::experimental::ExternalCertificateVerifier {
 public:
  PinVerifier(std::shared_ptr<const NodeTls> tls, std::string peer)
      : tls_(std::move(tls)), peer_(std::move(peer)) {}

  bool Verify(grpc::experimental::TlsCustomVerificationCheckRequest* request,
              std::function<void(grpc::Status)> callback, grpc::Status* sync_status) override {
    grpc::string_ref pem = request->peer_cert();
    absl::StatusOr<std::string> fp = FingerprintOfPem(std::string_view(pem.data(), pem.size()));
    if (fp.ok() && tls_->IsPinned(peer_, *fp)) {
      *sync_status = grpc::Status::OK;
      return true;
    }
    int64_t total = ++refused_servers;
    std::string shown = fp.ok() ? ShortFingerprint(*fp) : "none";
    base::Logger("tls")->warn(
        "peer={} target={} refused: its server certificate {} is not one pinned in the "
        "peer's [[peers]] cert; no request sent refused_servers={}",
        peer_, std::string(request->target_name().data(), request->target_name().size()), shown,
        total);
    *sync_status = grpc::Status(grpc::StatusCode::UNAUTHENTICATED,
                                base::StrCat("tls: the server's certificate (", shown,
                                             ") is not the one pinned for peer ", peer_));
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
                              std::string_view node) {
  if (tls == nullptr) return absl::OkStatus();
  std::string fingerprint;
  if (std::shared_ptr<const grpc::AuthContext> auth = context.auth_context()) {
    std::vector<grpc::string_ref> pems = auth->FindPropertyValues(GRPC_X509_PEM_CERT_PROPERTY_NAME);
    if (!pems.empty()) {
      absl::StatusOr<std::string> fp =
          FingerprintOfPem(std::string_view(pems.front().data(), pems.front().size()));
      if (fp.ok()) fingerprint = *fp;
    }
  }
  if (!fingerprint.empty() && tls->IsPinned(node, fingerprint)) return absl::OkStatus();

  int64_t total = ++refused_callers;
  std::string shown = fingerprint.empty() ? "none" : ShortFingerprint(fingerprint);
  // `node` is the caller's claim: logged only when it names a configured peer ("-" when
  // not), so that a stranger cannot write arbitrary text into the log.
  std::string claimed = tls->HasPeer(node) ? std::string(node) : "-";
  base::Logger("tls")->warn(
      "caller endpoint={} claims node={} refused: its client certificate {} is not pinned for "
      "that peer refused_callers={}",
      context.peer(), claimed, shown, total);
  return absl::UnauthenticatedError(base::StrCat(
      "peer: the client certificate (", shown,
      ") is not the one this node pins for the calling node; give it in [[peers]] cert"));
}

// LIMITATION: no revocation check (CRL or OCSP): a node certificate signed by the CA stays
// trusted by the CLI until it expires. Peers are not affected: unpinning revokes.
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

int64_t RefusedCallers() { return refused_callers.load(); }
int64_t RefusedServers() { return refused_servers.load(); }

}  // namespace wlsync::net
