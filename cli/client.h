// Connection to a node for the CLI, and the printing of RPC errors.
#pragma once

#include <grpcpp/grpcpp.h>

#include <memory>
#include <string>

#include "absl/status/statusor.h"

#include "wlsync/v1/registry.grpc.pb.h"

namespace wlsync::cli {

// How every command connects; set once by main before any command runs.
struct ConnectOptions {
  // Sent as "authorization: Bearer TOKEN" on every call; empty sends none.
  std::string token;
};
void SetConnectOptions(ConnectOptions options);

// Reads a token file (one line); the error names the file, never its content.
absl::StatusOr<std::string> ReadTokenFile(const std::string& path);

// A channel to HOST:PORT carrying the options above.
std::shared_ptr<grpc::Channel> OpenChannel(const std::string& node);

// A Registry stub for HOST:PORT.
std::unique_ptr<v1::Registry::Stub> Connect(const std::string& node);

// Prints "wlsync: <what>: <code>: <message>" on stderr and returns the exit code.
int ReportRpcError(const std::string& what, const grpc::Status& status);

// "pid" when `who` looks like a pid, else treated as an identity number.
v1::PersonRef PersonRefOf(const std::string& who);

}  // namespace wlsync::cli
