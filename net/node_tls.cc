#include "net/node_tls.h"

#include <openssl/asn1.h>

#include <algorithm>
#include <ctime>

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

int64_t NotAfterUnixMs(X509* cert) {
  struct tm tm {};
  if (ASN1_TIME_to_tm(X509_get0_notAfter(cert), &tm) != 1) return 0;
  return static_cast<int64_t>(timegm(&tm)) * 1000;
}

// Every pin file, read and parsed; the first file that fails stops it. Pins that the CA
// does not accept are refused at the handshake anyway; they are logged here so that the
// operator learns it when the file is read.
absl::StatusOr<PinMap> ReadPinFiles(const std::vector<PinFile>& files,
                                    const std::vector<X509Ptr>& cas) {
  auto log = base::Logger("tls");
  PinMap out;
  for (const PinFile& pin : files) {
    absl::StatusOr<std::string> text = ReadPem(pin.config_key, pin.path);
    if (!text.ok()) return text.status();
    std::vector<X509Ptr> pinned = ParseCertificates(*text);
    if (pinned.empty()) return Bad(pin.config_key, pin.path, "holds no PEM certificate");
    for (size_t i = 0; i < pinned.size(); ++i) {
      std::string fp = internal::Fingerprint(pinned[i].get());
      if (absl::Status s = internal::VerifyChain(pinned[i].get(), {}, cas); !s.ok()) {
        log->warn(
            "peer={} {}={} certificate {} ({}) is not accepted by tls.ca: {}; the peer "
            "cannot connect with it",
            pin.peer, pin.config_key, pin.path, i + 1, ShortFingerprint(fp), s.message());
      }
      out[pin.peer].push_back({std::move(fp), NotAfterUnixMs(pinned[i].get())});
    }
  }
  return out;
}

std::vector<std::string> Missing(const std::vector<PinnedCert>& from,
                                 const std::vector<PinnedCert>& in) {
  std::vector<std::string> out;
  for (const PinnedCert& c : from) {
    bool found = std::any_of(in.begin(), in.end(),
                             [&](const PinnedCert& o) { return o.fingerprint == c.fingerprint; });
    if (!found) out.push_back(c.fingerprint);
  }
  return out;
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

  absl::StatusOr<PinMap> pinned = ReadPinFiles(pins, cas);
  if (!pinned.ok()) return pinned.status();
  tls->pins_->ReplacePinned(*std::move(pinned));
  tls->pin_files_ = pins;
  return std::shared_ptr<const NodeTls>(std::move(tls));
}

absl::StatusOr<std::vector<PinChange>> NodeTls::ReloadPins() const {
  absl::StatusOr<PinMap> read = ReadPinFiles(pin_files_, ParseCertificates(ca_pem_));
  if (!read.ok()) return read.status();

  auto log = base::Logger("tls");
  PinMap before = pins_->Pinned();
  std::vector<PinChange> changes;
  for (const auto& [peer, certs] : *read) {
    PinChange c{peer, Missing(certs, before[peer]), Missing(before[peer], certs), certs.size()};
    for (const PinnedCert& cert : certs) {
      if (pins_->IsRevoked(peer, cert.fingerprint)) {
        log->warn("peer={} pinned certificate {} is revoked: it stays refused", peer,
                  ShortFingerprint(cert.fingerprint));
      }
    }
    log->info("peer={} pins reloaded pinned={} added={} removed={}", peer, c.pinned, c.added.size(),
              c.removed.size());
    changes.push_back(std::move(c));
  }
  pins_->ReplacePinned(*std::move(read));
  return changes;
}

}  // namespace wlsync::net
