// Making certificates for `wlsync init`: a small local CA, and node certificates signed by
// a CA, all ECDSA P-256 with SHA-256 signatures. deploy/make-certs.sh makes the same kind
// with the openssl command. Pure functions of their inputs (plus randomness and the clock).
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace wlsync::net {

inline constexpr int kCaDays = 3650;
inline constexpr int kNodeCertDays = 825;

struct KeyAndCert {
  std::string cert_pem;
  std::string key_pem;
};

// A self-signed CA certificate "CN=<common_name>", may sign node certificates only.
absl::StatusOr<KeyAndCert> MakeCa(std::string_view common_name, int days = kCaDays);

// Checks that `ca.key_pem` is the key of `ca.cert_pem` and that the certificate is a CA.
absl::Status CheckCa(const KeyAndCert& ca);

// A node certificate "CN=<node>" signed by `ca`, for both TLS server and client use, with
// a subjectAltName per entry of `hosts` (IP addresses as IP, others as DNS names).
// REQUIRES: every host passes IsValidSanHost.
absl::StatusOr<KeyAndCert> IssueNodeCertificate(const KeyAndCert& ca, std::string_view node,
                                                const std::vector<std::string>& hosts,
                                                int days = kNodeCertDays);

// Checks a node certificate made elsewhere: the key matches and it chains to `ca_pem`.
absl::Status CheckNodeCertificate(const KeyAndCert& node, std::string_view ca_pem);

// A DNS name or an IP address (IPv6 without brackets) usable in a subjectAltName.
bool IsValidSanHost(std::string_view host);

}  // namespace wlsync::net
