// Bearer tokens for the gRPC clients of the benchmarks: every client-API call of a node needs
// "authorization: Bearer TOKEN" (see docs/operations.md). bench/lib.sh start_node writes an
// operator token per node; the bench programs take it with a --...token-file option.
// Header-only.
#pragma once

#include <grpcpp/client_context.h>

#include <fstream>
#include <sstream>
#include <string>

#include "absl/status/statusor.h"
#include "base/strings.h"

namespace wlsync::bench {

// The one-line token of a token file; the error names the file, never its content.
inline absl::StatusOr<std::string> ReadTokenFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  if (!in) return absl::InvalidArgumentError(base::StrCat("token file ", path, ": cannot read it"));
  std::string token(base::TrimAscii(text.str()));
  if (token.empty() || token.find_first_of(" \t\r\n") != std::string::npos) {
    return absl::InvalidArgumentError(
        base::StrCat("token file ", path, ": must hold one token on one line"));
  }
  return token;
}

// Adds the token to the call's metadata; an empty token adds nothing.
inline void Authorize(grpc::ClientContext* context, const std::string& token) {
  if (!token.empty()) context->AddMetadata("authorization", base::StrCat("Bearer ", token));
}

}  // namespace wlsync::bench
