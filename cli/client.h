// Connection to a node for the CLI, and the printing of RPC errors.
#pragma once

#include <grpcpp/grpcpp.h>

#include <memory>
#include <string>

#include "wlsync/v1/registry.grpc.pb.h"

namespace wlsync::cli {

// A Registry stub for HOST:PORT.
std::unique_ptr<v1::Registry::Stub> Connect(const std::string& node);

// Prints "wlsync: <what>: <code>: <message>" on stderr and returns the exit code.
int ReportRpcError(const std::string& what, const grpc::Status& status);

// "pid" when `who` looks like a pid, else treated as an identity number.
v1::PersonRef PersonRefOf(const std::string& who);

}  // namespace wlsync::cli
