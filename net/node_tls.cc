#include "net/node_tls.h"

#include <openssl/asn1.h>

#include "base/logging.h"
#include "base/strings.h"
#include "model/pid.h"
#include "net/internal/openssl.h"

namespace wlsync::net {
namespace {

using internal::ParseCertificates;
using internal::X509Ptr;

absl::Status Bad(std::string_view key, const std::string& path, std::string_view why) {
  return absl::InvalidArgumentError(base::StrCat(key, ": ", path, ": ", why));
}

absl::StatusOr<std::string> ReadPem(std::string_view key, const std::string& path) {
  if (path.empty()) return absl::InvalidArgumentError(base::StrCat(key, ": missing"));
  absl::StatusOr<std::string> text = model::ReadSmallFile(path);
  if (!text.ok()) {
    return absl::Status(text.status().code(), base::StrCat(key, ": ", text.status().message()));
  }
  return text;
}

// Whole days from now until the certificate's notAfter.
int DaysLeft(X509* cert) {
  int days = 0, seconds = 0;
  if (ASN1_TIME_diff(&days, &seconds, nullptr, X509_get0_notAfter(cert)) != 1) return 0;
  return days;
}

}  // namespace

absl::StatusOr<std::string> FingerprintOfPem(std::string_view pem) {
  std::vector<X509Ptr> certs = ParseCertificates(pem);
  if (certs.empty()) return absl::InvalidArgumentError("no PEM certificate");
  return internal::Fingerprint(certs.front().get());
}

std::string ShortFingerprint(std::string_view fingerprint) {
  if (fingerprint.size() <= 16) return base::StrCat("sha256=", fingerprint);
  return base::StrCat("sha256=", fingerprint.substr(0, 16), "..");
}

absl::StatusOr<std::shared_ptr<const NodeTls>> NodeTls::Load(const TlsFiles& files,
                                                             const std::vector<PinFile>& pins) {
  std::shared_ptr<NodeTls> tls(new NodeTls());
  absl::StatusOr<std::string> cert = ReadPem("tls.cert", files.cert);
  if (!cert.ok()) return cert.status();
  absl::StatusOr<std::string> key = ReadPem("tls.key", files.key);
  if (!key.ok()) return key.status();
  absl::StatusOr<std::string> ca = ReadPem("tls.ca", files.ca);
  if (!ca.ok()) return ca.status();

  std::vector<X509Ptr> chain = ParseCertificates(*cert);
  if (chain.empty()) return Bad("tls.cert", files.cert, "holds no PEM certificate");
  internal::PkeyPtr pkey = internal::ParsePrivateKey(*key);
  if (pkey == nullptr) return Bad("tls.key", files.key, "holds no PEM private key");
  if (X509_check_private_key(chain.front().get(), pkey.get()) != 1) {
    ERR_clear_error();
    return Bad("tls.key", files.key, base::StrCat("is not the key of tls.cert ", files.cert));
  }
  std::vector<X509Ptr> cas = ParseCertificates(*ca);
  if (cas.empty()) return Bad("tls.ca", files.ca, "holds no PEM certificate");
  X509* leaf = chain.front().get();
  std::vector<X509Ptr> intermediates;
  for (size_t i = 1; i < chain.size(); ++i) intermediates.push_back(std::move(chain[i]));
  if (absl::Status s = internal::VerifyChain(leaf, intermediates, cas); !s.ok()) {
    return Bad("tls.cert", files.cert,
               base::StrCat("not accepted by a CA of tls.ca (", files.ca, "): ", s.message()));
  }
  tls->cert_pem_ = *std::move(cert);
  tls->key_pem_ = *std::move(key);
  tls->ca_pem_ = *std::move(ca);
  tls->fingerprint_ = internal::Fingerprint(leaf);
  tls->days_left_ = DaysLeft(leaf);

  auto log = base::Logger("tls");
  for (const PinFile& pin : pins) {
    absl::StatusOr<std::string> text = ReadPem(pin.config_key, pin.path);
    if (!text.ok()) return text.status();
    std::vector<X509Ptr> pinned = ParseCertificates(*text);
    if (pinned.empty()) return Bad(pin.config_key, pin.path, "holds no PEM certificate");
    for (size_t i = 0; i < pinned.size(); ++i) {
      std::string fp = internal::Fingerprint(pinned[i].get());
      // Refused at the handshake anyway; said here so that the operator learns it at start.
      if (absl::Status s = internal::VerifyChain(pinned[i].get(), {}, cas); !s.ok()) {
        log->warn(
            "peer={} {}={} certificate {} ({}) is not accepted by tls.ca: {}; the peer "
            "cannot connect with it",
            pin.peer, pin.config_key, pin.path, i + 1, ShortFingerprint(fp), s.message());
      }
      tls->pins_[pin.peer].insert(std::move(fp));
    }
  }
  return std::shared_ptr<const NodeTls>(std::move(tls));
}

bool NodeTls::IsPinned(std::string_view peer, std::string_view fingerprint) const {
  auto it = pins_.find(peer);
  return it != pins_.end() && it->second.contains(fingerprint);
}

bool NodeTls::HasPeer(std::string_view peer) const { return pins_.contains(peer); }

}  // namespace wlsync::net
