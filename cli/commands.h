// The operator CLI's commands. main.cc parses arguments with CLI11 and calls one of these;
// each returns the process exit code. Heavy gRPC headers stay in the .cc files.
#pragma once

#include <string>

#include "absl/status/statusor.h"
#include "wlsync/v1/query.pb.h"
#include <vector>

namespace wlsync::cli {

inline constexpr int kExitOk = 0;
inline constexpr int kExitFailure = 1;
inline constexpr int kExitUsage = 2;
inline constexpr int kExitPartial = 3;  // some rows refused

struct InitArgs {
  std::string dir;
  std::string name;
  std::string listen;
  // The metrics listener; empty: 127.0.0.1 at the API port + 1000 (off above 65535);
  // "off" writes an empty listen (no metrics).
  std::string metrics_listen;
  std::string grids;           // empty: the sample grids shipped with wlsync
  std::string federation_key;  // empty: make a new one
  std::string ca_cert;         // empty: make a CA in DIR/tls
  std::string ca_key;          // with ca_cert: sign the node certificate with it
  std::string cert;            // with key: use this node certificate instead of making one
  std::string key;
  std::vector<std::string> sans;  // extra subjectAltNames
};
int RunInit(const InitArgs& args);

struct ImportArgs {
  std::string node;
  std::string file;
  std::string encoding = "utf-8";
  bool changes = false;  // `apply`: rows in the changes format
  int batch_rows = 256;
};
int RunImport(const ImportArgs& args);

int RunGet(const std::string& node, const std::string& who);
int RunSet(const std::string& node, const std::string& who, const std::string& field,
           const std::string& value);
int RunDeregister(const std::string& node, const std::string& who);
// The node's status on one screen, or the whole StatusResponse as JSON.
int RunStatus(const std::string& node, bool json);
// Prints SERVING or NOT_SERVING (gRPC health); exit 0 only when serving.
int RunHealth(const std::string& node);
int RunExport(const std::string& node, const std::string& format);

// Exit 0 when the nodes ended equal, 3 when differences remain, 1 on failure.
int RunReconcile(const std::string& node, const std::string& peer, const std::string& cert_out);
int RunReconcileReport(const std::string& node, int last);
// Quarantined remote events (oldest first), as JSON.
int RunQuarantine(const std::string& node, int limit);
// Checks a certificate with keys from a node config and/or NAME=HEX pairs.
struct QueryArgs {
  v1::QueryFilter filter;
  std::string case_id;
  std::string page_token;
  int limit = 100;  // people to print at most
  bool json = false;
};
int RunQuery(const std::string& node, const QueryArgs& args);

int RunTokenCreate(const std::string& node, const std::string& name, const std::string& role,
                   const std::string& expires, const std::string& out_file);
int RunTokenList(const std::string& node);
int RunTokenRevoke(const std::string& node, const std::string& name);
// Prints the SHA-256 of the token in `file`, for auth.admin_token_sha256.
int RunTokenHash(const std::string& file);

// Walks the whole trail and checks the chain and the signed head; names the first broken
// entry. `public_key_hex` (may be empty) checks the head signature.
int RunAuditVerify(const std::string& node, const std::string& public_key_hex);
int RunAuditExport(const std::string& node, uint64_t from_seq);
int RunAuditWhoSaw(const std::string& node, const std::string& person, const std::string& since);
int RunAuditByToken(const std::string& node, const std::string& token, const std::string& since);

struct EmergencyArgs {
  std::string action;  // freeze, unfreeze, lockdown, lift, state or report
  std::string peer;
  std::string reason;
  std::string since;   // report
  bool json = false;   // report
};
int RunEmergency(const std::string& node, const EmergencyArgs& args);

struct KeyArgs {
  std::string action;  // rotate, revoke, list or report
  std::string node;    // revoke, list, report: another node's keys
  std::string key_id;  // revoke, report
  std::string from;    // revoke: DATE or TIME
  std::string reason;
  bool json = false;
};
int RunKey(const std::string& node, const KeyArgs& args);

struct CertArgs {
  std::string action;       // revoke, list or reload
  std::string peer;         // revoke
  std::string fingerprint;  // revoke: hex SHA-256, colons allowed
  std::string cert_file;    // revoke: or the first certificate of this PEM file
  std::string reason;       // revoke
  bool json = false;
};
int RunCert(const std::string& node, const CertArgs& args);
struct ForkArgs {
  std::string action;  // list or clear
  std::string stream;  // clear: ORIGIN/EPOCH
  std::string reason;  // clear
  bool json = false;
};
int RunFork(const std::string& node, const ForkArgs& args);

// A SHA-256 fingerprint as typed (any case, colons allowed) as 64 lowercase hex characters.
absl::StatusOr<std::string> NormalizeFingerprint(std::string_view text);

// "YYYY-MM-DD" or "YYYY-MM-DDTHH:MM[:SS]" in UTC+8 (China Standard Time) or with a 'Z'
// for UTC, to milliseconds since the Unix epoch.
absl::StatusOr<int64_t> ParseTime(const std::string& text);

int RunVerifyCert(const std::string& file, const std::string& config_path,
                  const std::vector<std::string>& keys);

}  // namespace wlsync::cli
