// Internal to net/: owning pointers for libcrypto objects, PEM parsing and OpenSSL's error
// text. Only net/*.cc include this; nothing outside net/ sees libcrypto.
#pragma once

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace wlsync::net::internal {

struct X509Free {
  void operator()(X509* p) const { X509_free(p); }
};
struct PkeyFree {
  void operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); }
};
struct BioFree {
  void operator()(BIO* p) const { BIO_free(p); }
};
struct StoreFree {
  void operator()(X509_STORE* p) const { X509_STORE_free(p); }
};
struct StoreCtxFree {
  void operator()(X509_STORE_CTX* p) const { X509_STORE_CTX_free(p); }
};

using X509Ptr = std::unique_ptr<X509, X509Free>;
using PkeyPtr = std::unique_ptr<EVP_PKEY, PkeyFree>;
using BioPtr = std::unique_ptr<BIO, BioFree>;
using StorePtr = std::unique_ptr<X509_STORE, StoreFree>;
using StoreCtxPtr = std::unique_ptr<X509_STORE_CTX, StoreCtxFree>;

// The oldest queued OpenSSL error as text (and clears the queue); `fallback` if none.
std::string OpenSslError(std::string_view fallback);

// Every certificate in a PEM text, in order; empty when there is none.
std::vector<X509Ptr> ParseCertificates(std::string_view pem);
// The first private key in a PEM text, or null.
PkeyPtr ParsePrivateKey(std::string_view pem);

// PEM text of a certificate or of a private key (unencrypted PKCS#8).
std::string CertificatePem(X509* cert);
std::string PrivateKeyPem(EVP_PKEY* key);

// Lowercase hex SHA-256 of the certificate's DER encoding.
std::string Fingerprint(X509* cert);

// Checks that `leaf` chains to a CA in `cas`, with `chain` as untrusted intermediates, at
// the current time. The error is OpenSSL's reason ("certificate has expired", ...).
absl::Status VerifyChain(X509* leaf, const std::vector<X509Ptr>& chain,
                         const std::vector<X509Ptr>& cas);

}  // namespace wlsync::net::internal
