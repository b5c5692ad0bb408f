// A node's TLS material, loaded from PEM files and checked at start: its own certificate and
// key, the CA bundle it trusts, and the certificates pinned for each peer (which the pin
// files can replace later, see net/pin_set.h). Start here for the TLS side of wlsync;
// net/credentials.h turns this into gRPC credentials, net/certs.h makes certificates for
// `wlsync init`. Only net/ knows TLS.
#pragma once

#include <map>
#include <memory>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "net/pin_set.h"

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

// What a reload of the pin files changed for one peer.
struct PinChange {
  std::string peer;
  std::vector<std::string> added;    // fingerprints
  std::vector<std::string> removed;  // fingerprints
  size_t pinned = 0;                 // certificates pinned now
};

// The node's own certificate, key and CA bundle are fixed after Load; the peer pins live in
// pins(), which changes at run time (ReloadPins, revocations) and is thread safe. Shared by
// the server, pullers and reconciler; every method is thread safe.
//
// LIMITATION: this node's own certificate, key and CA bundle are read at start only:
// rotating them needs a restart of this node (its peers catch up). The server credentials
// and every peer channel are built from them once.
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

  // The certificates each peer may present, and the revoked ones. Mutable through a const
  // NodeTls on purpose: it is the shared, locked part.
  PinSet& pins() const { return *pins_; }

  // Reads every pin file named at Load again and replaces the pinned certificates, all or
  // nothing: when a file cannot be read or holds no certificate, nothing changes and the
  // error names the config key and the file. Revocations are kept. Pins that are revoked or
  // do not chain to the CA are logged.
  absl::StatusOr<std::vector<PinChange>> ReloadPins() const;

 private:
  NodeTls() : pins_(std::make_unique<PinSet>()) {}

  std::string cert_pem_;
  std::string key_pem_;
  std::string ca_pem_;
  std::string fingerprint_;
  int days_left_ = 0;
  std::vector<PinFile> pin_files_;
  const std::unique_ptr<PinSet> pins_;
};

// A short, non-secret description of a refused certificate for logs: "sha256=ab12..ef".
std::string ShortFingerprint(std::string_view fingerprint);

}  // namespace wlsync::net
