#include "net/internal/openssl.h"

#include "base/strings.h"
#include "model/pid.h"

namespace wlsync::net::internal {

std::string OpenSslError(std::string_view fallback) {
  unsigned long code = ERR_get_error();
  ERR_clear_error();
  if (code == 0) return std::string(fallback);
  char text[256];
  ERR_error_string_n(code, text, sizeof(text));
  return text;
}

std::vector<X509Ptr> ParseCertificates(std::string_view pem) {
  std::vector<X509Ptr> out;
  BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  if (bio == nullptr) return out;
  for (;;) {
    X509Ptr cert(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
    if (cert == nullptr) break;
    out.push_back(std::move(cert));
  }
  ERR_clear_error();  // the read past the last certificate queues an error
  return out;
}

PkeyPtr ParsePrivateKey(std::string_view pem) {
  BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  if (bio == nullptr) return nullptr;
  PkeyPtr key(PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr));
  if (key == nullptr) ERR_clear_error();
  return key;
}

namespace {

std::string BioText(BIO* bio) {
  char* data = nullptr;
  long size = BIO_get_mem_data(bio, &data);
  return size > 0 ? std::string(data, static_cast<size_t>(size)) : std::string();
}

}  // namespace

std::string CertificatePem(X509* cert) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (bio == nullptr || PEM_write_bio_X509(bio.get(), cert) != 1) return "";
  return BioText(bio.get());
}

std::string PrivateKeyPem(EVP_PKEY* key) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (bio == nullptr ||
      PEM_write_bio_PrivateKey(bio.get(), key, nullptr, nullptr, 0, nullptr, nullptr) != 1) {
    return "";
  }
  return BioText(bio.get());
}

std::string Fingerprint(X509* cert) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int size = 0;
  if (X509_digest(cert, EVP_sha256(), digest, &size) != 1) return "";
  return model::HexEncode(std::string_view(reinterpret_cast<const char*>(digest), size));
}

absl::Status VerifyChain(X509* leaf, const std::vector<X509Ptr>& chain,
                         const std::vector<X509Ptr>& cas) {
  StorePtr store(X509_STORE_new());
  StoreCtxPtr ctx(X509_STORE_CTX_new());
  STACK_OF(X509)* untrusted = sk_X509_new_null();
  if (store == nullptr || ctx == nullptr || untrusted == nullptr) {
    sk_X509_free(untrusted);
    return absl::ResourceExhaustedError("out of memory");
  }
  for (const X509Ptr& ca : cas) X509_STORE_add_cert(store.get(), ca.get());
  for (const X509Ptr& c : chain) sk_X509_push(untrusted, c.get());  // borrowed
  absl::Status result = absl::OkStatus();
  if (X509_STORE_CTX_init(ctx.get(), store.get(), leaf, untrusted) != 1) {
    result = absl::InternalError(OpenSslError("cannot set up certificate verification"));
  } else if (X509_verify_cert(ctx.get()) != 1) {
    int error = X509_STORE_CTX_get_error(ctx.get());
    result = absl::InvalidArgumentError(X509_verify_cert_error_string(error));
  }
  sk_X509_free(untrusted);
  ERR_clear_error();
  return result;
}

}  // namespace wlsync::net::internal
