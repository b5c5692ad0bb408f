// gRPC credentials for wlsync's one port: the server side, the peer links (mutual TLS with
// the peer's certificate pinned, checked during the handshake) and the operator CLI (TLS
// against a CA, no client certificate). A null NodeTls means plain TCP (`api.insecure`).
// Heavy gRPC headers stay in the .cc file.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "base/tally.h"
#include "net/node_tls.h"

namespace grpc {
class ChannelCredentials;
class ClientContext;
class ServerContext;
class ServerCredentials;
}  // namespace grpc

namespace wlsync::net {

// The server's credentials: TLS with the node's certificate; a client certificate is
// requested and, when presented, must chain to tls.ca, but it is not required (CLI clients
// have none). Plain TCP when `tls` is null.
std::shared_ptr<grpc::ServerCredentials> ServerCredentials(const NodeTls* tls);

// Credentials for calls to peer `peer`: presents the node's certificate, verifies the
// server's against tls.ca and then requires it to be one pinned for `peer` and not revoked
// (the live tls->pins() at each handshake). The pin is checked in the handshake, so no
// request reaches a server that fails it; a refusal is logged (logger "tls") and counted.
// The server's host name is not checked: the pin is stronger. Plain TCP when `tls` is null.
std::shared_ptr<grpc::ChannelCredentials> PeerChannelCredentials(std::shared_ptr<const NodeTls> tls,
                                                                 const std::string& peer);

// For the Peer service's handlers: OK when `tls` is null (plain TCP: the peer API is open,
// see docs/operations.md), or when the caller presented a client certificate pinned for
// `node`, the node name it claims, and not revoked. Otherwise UNAUTHENTICATED, logged with
// the caller's network endpoint and counted. With `fingerprint`, returns the caller's
// certificate fingerprint (empty when none) for RecheckPeer.
absl::Status AuthenticatePeer(const NodeTls* tls, const grpc::ServerContext& context,
                              std::string_view node, std::string* fingerprint = nullptr);

// The fingerprint of the certificate the server presented on an established call; empty
// when none (plain TCP).
std::string ServerFingerprint(const grpc::ClientContext& context);

// For a call that outlives its handshake (a live Pull stream, served or pulled): OK while
// `fingerprint` is still accepted for `peer` (or `tls` is null); otherwise UNAUTHENTICATED,
// logged and counted like a refusal at the handshake. Cheap: no parsing, one shared lock.
// `endpoint` (the network address, may be empty) is for the log line only.
absl::Status RecheckPeer(const NodeTls* tls, PeerSide side, std::string_view peer,
                         std::string_view fingerprint, std::string_view endpoint = "");

// Credentials for the CLI and tools: TLS, the node's certificate verified against the CA
// certificates in `ca_pem` and its host name against the address dialled.
std::shared_ptr<grpc::ChannelCredentials> ClientChannelCredentials(const std::string& ca_pem);
// Plain TCP, for nodes run with `api.insecure = true`.
std::shared_ptr<grpc::ChannelCredentials> PlainChannelCredentials();

// True when a failed call's error text says that gRPC could not connect because the TLS
// handshake failed (a wrong CA, a plain-TCP server, a refused certificate), as opposed to
// nothing listening or an error returned by the server.
bool LooksLikeHandshakeFailure(std::string_view error_message);

// Process-wide counts of refused peer certificates, keyed {peer, side, reason}: peer is a
// configured peer's name ("unknown" for a name that is not one), side a PeerSideName, reason
// "revoked" or "not_pinned". For metrics and tests.
const base::Tally& TlsRefusals();

}  // namespace wlsync::net
