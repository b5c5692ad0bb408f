// A node's TLS material, loaded from PEM files and checked once at start: its own certificate
// and key, the CA bundle it trusts, and the certificate pinned for each peer. Start here for
// the TLS side of wlsync; net/credentials.h turns this into gRPC credentials, net/certs.h
// makes certificates for `wlsync init`. Only net/ knows TLS.
#pragma once

#include <map>
#include <memory>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace wlsync::net {

// Files of one node, as named in its config. Each `*_key` is the config key named in errors.
struct TlsFiles {
  std::string cert;  // PEM: the node's certificate, optionally followed by intermediates
  std::string key;   // PEM: its private key
  std::string ca;    // PEM: one or more CA certificates trusted for peers and clients
};

struct PinFile {
  std::string peer;        // the peer's node name
  std::string path;        // PEM: one or more certificates, any of which the peer may present
  std::string config_key;  // e.g. "peers[0].cert", for errors
};

// Lowercase hex SHA-256 of a certificate's DER encoding: the identity wlsync pins.
absl::StatusOr<std::string> FingerprintOfPem(std::string_view pem);

// Immutable after Load; thread safe. Shared by the server, pullers and reconciler.
class NodeTls {
 public:
  // Reads and checks everything: the key matches the certificate, the certificate chains to
  // a CA of the bundle and has not expired, each pin file holds at least one certificate.
  // Errors name the config key and the file. Pins that do not chain to the CA are logged.
  static absl::StatusOr<std::shared_ptr<const NodeTls>> Load(const TlsFiles& files,
                                                             const std::vector<PinFile>& pins);

  const std::string& cert_pem() const { return cert_pem_; }
  const std::string& key_pem() const { return key_pem_; }
  const std::string& ca_pem() const { return ca_pem_; }
  // Of this node's own certificate.
  const std::string& fingerprint() const { return fingerprint_; }
  // Days until this node's certificate expires (negative once expired).
  int days_left() const { return days_left_; }

  // True when `fingerprint` is one of the certificates pinned for `peer`.
  bool IsPinned(std::string_view peer, std::string_view fingerprint) const;
  // True when `peer` has a pin at all.
  bool HasPeer(std::string_view peer) const;

 private:
  NodeTls() = default;

  std::string cert_pem_;
  std::string key_pem_;
  std::string ca_pem_;
  std::string fingerprint_;
  int days_left_ = 0;
  std::map<std::string, std::set<std::string, std::less<>>, std::less<>> pins_;  // by peer
};

// A short, non-secret description of a refused certificate for logs: "sha256=ab12..ef".
std::string ShortFingerprint(std::string_view fingerprint);

}  // namespace wlsync::net
