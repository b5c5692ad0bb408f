#include "net/certs.h"

#include <arpa/inet.h>
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/rand.h>

#include "base/strings.h"
#include "net/internal/openssl.h"

namespace wlsync::net {
namespace {

using internal::OpenSslError;
using internal::PkeyPtr;
using internal::X509Ptr;

bool IsIpAddress(std::string_view host) {
  std::string h(host);
  unsigned char buf[16];
  return inet_pton(AF_INET, h.c_str(), buf) == 1 || inet_pton(AF_INET6, h.c_str(), buf) == 1;
}

absl::Status Failed(std::string_view what) {
  return absl::InternalError(base::StrCat(what, ": ", OpenSslError("unknown OpenSSL error")));
}

// A random positive 127-bit serial number, as RFC 5280 asks for unpredictable serials.
bool SetRandomSerial(X509* cert) {
  unsigned char bytes[16];
  if (RAND_bytes(bytes, sizeof(bytes)) != 1) return false;
  bytes[0] &= 0x7f;
  BIGNUM* bn = BN_bin2bn(bytes, sizeof(bytes), nullptr);
  if (bn == nullptr) return false;
  bool ok = BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(cert)) != nullptr;
  BN_free(bn);
  return ok;
}

bool AddExtension(X509* cert, X509* issuer, int nid, const std::string& value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
  X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value.c_str());
  if (ext == nullptr) return false;
  bool ok = X509_add_ext(cert, ext, -1) == 1;
  X509_EXTENSION_free(ext);
  return ok;
}

// A certificate for `key` named CN=`common_name`, valid from an hour ago (clock skew
// between machines) for `days`; issuer and extensions are the caller's.
X509Ptr NewCertificate(EVP_PKEY* key, std::string_view common_name, int days) {
  X509Ptr cert(X509_new());
  if (cert == nullptr || X509_set_version(cert.get(), 2) != 1 || !SetRandomSerial(cert.get())) {
    return nullptr;
  }
  X509_NAME* name = X509_get_subject_name(cert.get());
  std::string cn(common_name);
  if (X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC,
                                 reinterpret_cast<const unsigned char*>("wlsync"), -1, -1,
                                 0) != 1 ||
      X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8,
                                 reinterpret_cast<const unsigned char*>(cn.c_str()), -1, -1,
                                 0) != 1) {
    return nullptr;
  }
  if (X509_gmtime_adj(X509_getm_notBefore(cert.get()), -3600) == nullptr ||
      X509_time_adj_ex(X509_getm_notAfter(cert.get()), days, 0, nullptr) == nullptr ||
      X509_set_pubkey(cert.get(), key) != 1) {
    return nullptr;
  }
  return cert;
}

struct Parsed {
  X509Ptr cert;
  PkeyPtr key;
};

absl::StatusOr<Parsed> ParsePair(const KeyAndCert& pair, std::string_view what) {
  std::vector<X509Ptr> certs = internal::ParseCertificates(pair.cert_pem);
  if (certs.empty()) {
    return absl::InvalidArgumentError(base::StrCat(what, " certificate: no PEM certificate"));
  }
  PkeyPtr key = internal::ParsePrivateKey(pair.key_pem);
  if (key == nullptr) {
    return absl::InvalidArgumentError(base::StrCat(what, " key: no PEM private key"));
  }
  if (X509_check_private_key(certs.front().get(), key.get()) != 1) {
    ERR_clear_error();
    return absl::InvalidArgumentError(
        base::StrCat(what, " key: is not the key of the ", what, " certificate"));
  }
  return Parsed{std::move(certs.front()), std::move(key)};
}

}  // namespace

bool IsValidSanHost(std::string_view host) {
  if (host.empty() || host.size() > 253) return false;
  if (IsIpAddress(host)) return true;
  for (char ch : host) {
    bool ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
              ch == '-' || ch == '.' || ch == '_';
    if (!ok) return false;
  }
  return host.front() != '.' && host.front() != '-';
}

absl::StatusOr<KeyAndCert> MakeCa(std::string_view common_name, int days) {
  PkeyPtr key(EVP_EC_gen("P-256"));
  if (key == nullptr) return Failed("CA key");
  X509Ptr cert = NewCertificate(key.get(), common_name, days);
  if (cert == nullptr || X509_set_issuer_name(cert.get(), X509_get_subject_name(cert.get())) != 1 ||
      !AddExtension(cert.get(), cert.get(), NID_basic_constraints, "critical,CA:TRUE,pathlen:0") ||
      !AddExtension(cert.get(), cert.get(), NID_key_usage, "critical,keyCertSign,cRLSign") ||
      !AddExtension(cert.get(), cert.get(), NID_subject_key_identifier, "hash") ||
      X509_sign(cert.get(), key.get(), EVP_sha256()) == 0) {
    return Failed("CA certificate");
  }
  return KeyAndCert{internal::CertificatePem(cert.get()), internal::PrivateKeyPem(key.get())};
}

absl::Status CheckCa(const KeyAndCert& ca) {
  absl::StatusOr<Parsed> parsed = ParsePair(ca, "CA");
  if (!parsed.ok()) return parsed.status();
  if (X509_check_ca(parsed->cert.get()) == 0) {
    return absl::InvalidArgumentError("CA certificate: is not a CA certificate (basicConstraints)");
  }
  return absl::OkStatus();
}

absl::StatusOr<KeyAndCert> IssueNodeCertificate(const KeyAndCert& ca, std::string_view node,
                                                const std::vector<std::string>& hosts, int days) {
  absl::StatusOr<Parsed> issuer = ParsePair(ca, "CA");
  if (!issuer.ok()) return issuer.status();
  std::string san;
  for (const std::string& host : hosts) {
    if (!IsValidSanHost(host)) {
      return absl::InvalidArgumentError(base::StrCat("not a host name or IP address: ", host));
    }
    base::StrAppend(&san, san.empty() ? "" : ",", IsIpAddress(host) ? "IP:" : "DNS:", host);
  }

  PkeyPtr key(EVP_EC_gen("P-256"));
  if (key == nullptr) return Failed("node key");
  X509Ptr cert = NewCertificate(key.get(), node, days);
  X509* ca_cert = issuer->cert.get();
  if (cert == nullptr || X509_set_issuer_name(cert.get(), X509_get_subject_name(ca_cert)) != 1 ||
      !AddExtension(cert.get(), ca_cert, NID_basic_constraints, "critical,CA:FALSE") ||
      !AddExtension(cert.get(), ca_cert, NID_key_usage, "critical,digitalSignature") ||
      !AddExtension(cert.get(), ca_cert, NID_ext_key_usage, "serverAuth,clientAuth") ||
      !AddExtension(cert.get(), ca_cert, NID_subject_key_identifier, "hash") ||
      !AddExtension(cert.get(), ca_cert, NID_authority_key_identifier, "keyid:always") ||
      (!san.empty() && !AddExtension(cert.get(), ca_cert, NID_subject_alt_name, san)) ||
      X509_sign(cert.get(), issuer->key.get(), EVP_sha256()) == 0) {
    return Failed("node certificate");
  }
  return KeyAndCert{internal::CertificatePem(cert.get()), internal::PrivateKeyPem(key.get())};
}

absl::Status CheckNodeCertificate(const KeyAndCert& node, std::string_view ca_pem) {
  absl::StatusOr<Parsed> parsed = ParsePair(node, "node");
  if (!parsed.ok()) return parsed.status();
  std::vector<X509Ptr> cas = internal::ParseCertificates(ca_pem);
  if (cas.empty()) return absl::InvalidArgumentError("CA certificate: no PEM certificate");
  std::vector<X509Ptr> chain = internal::ParseCertificates(node.cert_pem);
  chain.erase(chain.begin());
  if (absl::Status s = internal::VerifyChain(parsed->cert.get(), chain, cas); !s.ok()) {
    return absl::InvalidArgumentError(
        base::StrCat("node certificate: not accepted by the CA: ", s.message()));
  }
  return absl::OkStatus();
}

}  // namespace wlsync::net
