// Connection to a node for the CLI, and the printing of RPC errors. main.cc calls
// ConfigureClient once; every command then reaches its node through ChannelTo or Connect.
#pragma once

#include <grpcpp/grpcpp.h>

#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

#include "wlsync/v1/registry.grpc.pb.h"

namespace wlsync::cli {

// How the CLI reaches nodes: TLS against a CA by default, plain TCP only when asked, and
// the bearer token on every call.
struct ClientOptions {
  std::string ca_file;    // --ca / WLSYNC_CA: PEM CA certificate(s) of the node's certificate
  bool insecure = false;  // --insecure / WLSYNC_INSECURE=1: plain TCP, for api.insecure nodes
  std::string token;      // sent as "authorization: Bearer TOKEN"; empty sends none
};

// Reads and checks the CA file (unless insecure) and keeps the options for the process.
// Call once, before any command connects; not thread safe. The error is for the user.
absl::Status ConfigureClient(const ClientOptions& options);

// Reads a token file (one line); the error names the file, never its content.
absl::StatusOr<std::string> ReadTokenFile(const std::string& path);

// A channel to HOST:PORT with the configured credentials and token.
std::shared_ptr<grpc::Channel> ChannelTo(const std::string& node);

// A Registry stub for HOST:PORT.
std::unique_ptr<v1::Registry::Stub> Connect(const std::string& node);

// Prints "wlsync: <what>: <code>: <message>" on stderr, plus a hint to check --ca or
// --insecure when the connection failed at the TLS handshake, and returns the exit code.
int ReportRpcError(const std::string& what, const grpc::Status& status);

// "pid" when `who` looks like a pid, else treated as an identity number.
v1::PersonRef PersonRefOf(const std::string& who);

}  // namespace wlsync::cli
