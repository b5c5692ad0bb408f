// The CLI's access-control commands: `wlsync token ...` (admin) and `wlsync audit ...`
// (auditor), including the offline check of the trail's hash chain.
#include <cstdio>
#include <optional>

#include "absl/time/time.h"
#include "access/audit_chain.h"
#include "access/tokens.h"
#include "base/strings.h"
#include "cli/client.h"
#include "cli/commands.h"
#include "cli/output.h"
#include "model/pid.h"
#include "sync/signer.h"
#include "wlsync/v1/access.grpc.pb.h"
#include "wlsync/v1/audit.grpc.pb.h"

namespace wlsync::cli {
namespace {

int Fail(std::string_view what, absl::string_view message) {
  std::fprintf(stderr, "wlsync: %.*s: %.*s\n", static_cast<int>(what.size()), what.data(),
               static_cast<int>(message.size()), message.data());
  return kExitFailure;
}

std::string TimeText(int64_t unix_ms) {
  if (unix_ms == 0) return "";
  return absl::FormatTime("%Y-%m-%dT%H:%M:%E3SZ", absl::FromUnixMillis(unix_ms),
                          absl::UTCTimeZone());
}

std::string TokenJson(const v1::TokenInfo& t) {
  return base::StrCat("{\"name\":", JsonString(t.name()), ",\"role\":", JsonString(t.role()),
                      ",\"created\":", JsonString(TimeText(t.created_unix_ms())),
                      ",\"expires\":", JsonString(TimeText(t.expires_unix_ms())),
                      ",\"revoked\":", JsonString(TimeText(t.revoked_unix_ms())),
                      ",\"created_by\":", JsonString(t.created_by()),
                      ",\"revoked_by\":", JsonString(t.revoked_by()), "}");
}

std::string EntryJson(const v1::AuditEntry& e) {
  std::string pids = "[";
  for (int i = 0; i < e.pids_size(); ++i) {
    if (i > 0) pids += ",";
    pids += JsonString(e.pids(i));
  }
  pids += "]";
  return base::StrCat("{\"seq\":", e.seq(), ",\"time\":", JsonString(TimeText(e.unix_ms())),
                      ",\"token\":", JsonString(e.token()), ",\"role\":", JsonString(e.role()),
                      ",\"method\":", JsonString(e.method()), ",\"filter\":", JsonString(e.filter()),
                      ",\"case_id\":", JsonString(e.case_id()),
                      ",\"result_count\":", e.result_count(), ",\"pids\":", pids,
                      ",\"outcome\":", JsonString(e.outcome()), ",\"peer\":", JsonString(e.peer()),
                      ",\"prev_hash\":", JsonString(model::HexEncode(e.prev_hash())), "}");
}

// Streams the trail from `from_seq`, calling `on_entry` for each and returning the head.
absl::StatusOr<v1::AuditHead> ExportTrail(const std::string& node, uint64_t from_seq,
                                          const std::function<bool(const v1::AuditEntry&)>& on_entry,
                                          grpc::Status* rpc) {
  auto stub = v1::Audit::NewStub(ChannelTo(node));
  grpc::ClientContext context;
  v1::AuditExportRequest request;
  request.set_from_seq(from_seq);
  auto reader = stub->Export(&context, request);
  v1::AuditExportChunk chunk;
  v1::AuditHead head;
  bool stopped = false;
  while (reader->Read(&chunk)) {
    for (const v1::AuditEntry& e : chunk.entries()) {
      if (!stopped && !on_entry(e)) stopped = true;
    }
    if (chunk.has_head()) head = chunk.head();
  }
  *rpc = reader->Finish();
  if (!rpc->ok()) return absl::UnavailableError("export failed");
  return head;
}

int PrintEntries(const v1::AuditEntries& entries) {
  for (const v1::AuditEntry& e : entries.entries()) std::printf("%s\n", EntryJson(e).c_str());
  return kExitOk;
}

}  // namespace

absl::StatusOr<int64_t> ParseTime(const std::string& text) {
  static const absl::TimeZone kChina = absl::FixedTimeZone(8 * 3600);
  absl::Time t;
  std::string err;
  for (const char* format : {"%Y-%m-%d", "%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S"}) {
    if (absl::ParseTime(format, text, kChina, &t, &err)) return absl::ToUnixMillis(t);
  }
  if (absl::ParseTime(absl::RFC3339_full, text, &t, &err)) return absl::ToUnixMillis(t);
  return absl::InvalidArgumentError(base::StrCat(
      "time ", JsonString(text), ": expected YYYY-MM-DD or YYYY-MM-DDTHH:MM[:SS] (UTC+8) or "
      "RFC 3339"));
}

int RunTokenCreate(const std::string& node, const std::string& name, const std::string& role,
                   const std::string& expires, const std::string& out_file) {
  v1::CreateTokenRequest request;
  request.set_name(name);
  request.set_role(role);
  if (!expires.empty()) {
    absl::StatusOr<int64_t> at = ParseTime(expires);
    if (!at.ok()) return Fail("token create: --expires", at.status().message());
    request.set_expires_unix_ms(*at);
  }
  v1::CreateTokenResponse response;
  grpc::ClientContext context;
  grpc::Status status = v1::Access::NewStub(ChannelTo(node))->CreateToken(&context, request,
                                                                            &response);
  if (!status.ok()) return ReportRpcError("token create", status);
  if (!out_file.empty()) {
    absl::Status s = model::WriteFileAtomic(out_file, response.token() + "\n", 0600);
    if (!s.ok()) return Fail("token create", s.message());
    std::fprintf(stderr, "token %s (role %s) written to %s; it is not shown again\n",
                 name.c_str(), role.c_str(), out_file.c_str());
  } else {
    std::printf("%s\n", response.token().c_str());
    std::fprintf(stderr, "token %s (role %s): store it now, it is not shown again\n",
                 name.c_str(), role.c_str());
  }
  return kExitOk;
}

int RunTokenList(const std::string& node) {
  v1::ListTokensResponse response;
  grpc::ClientContext context;
  grpc::Status status = v1::Access::NewStub(ChannelTo(node))->ListTokens(
      &context, v1::ListTokensRequest(), &response);
  if (!status.ok()) return ReportRpcError("token list", status);
  for (const v1::TokenInfo& t : response.tokens()) std::printf("%s\n", TokenJson(t).c_str());
  return kExitOk;
}

int RunTokenRevoke(const std::string& node, const std::string& name) {
  v1::RevokeTokenRequest request;
  request.set_name(name);
  v1::TokenInfo response;
  grpc::ClientContext context;
  grpc::Status status = v1::Access::NewStub(ChannelTo(node))->RevokeToken(&context, request,
                                                                            &response);
  if (!status.ok()) return ReportRpcError("token revoke", status);
  std::printf("%s\n", TokenJson(response).c_str());
  return kExitOk;
}

int RunTokenHash(const std::string& file) {
  absl::StatusOr<std::string> token = ReadTokenFile(file);
  if (!token.ok()) return Fail("token hash", token.status().message());
  if (!access::LooksLikeToken(*token)) return Fail("token hash", "the file holds no wlsync token");
  std::printf("%s\n", access::TokenHash(*token).c_str());
  return kExitOk;
}

int RunAuditVerify(const std::string& node, const std::string& public_key_hex) {
  std::string key;
  if (!public_key_hex.empty()) {
    absl::StatusOr<std::string> k = sync::ParsePublicKeyHex(public_key_hex, "--public-key");
    if (!k.ok()) return Fail("audit verify", k.status().message());
    key = *k;
  }
  // A retention sweep during the export aborts it (ABORTED): verify again from the new base.
  constexpr int kAttempts = 3;
  std::optional<access::ChainVerifier> verifier;
  grpc::Status rpc;
  absl::StatusOr<v1::AuditHead> head;
  for (int attempt = 0; attempt < kAttempts; ++attempt) {
    verifier.emplace(key);
    head = ExportTrail(
        node, 1, [&](const v1::AuditEntry& e) { return verifier->Add(e); }, &rpc);
    if (rpc.error_code() != grpc::StatusCode::ABORTED) break;
  }
  if (!head.ok()) return ReportRpcError("audit verify", rpc);
  if (absl::Status s = verifier->Finish(*head); !s.ok()) {
    std::printf("{\"ok\":false,\"error\":%s}\n", JsonString(std::string(s.message())).c_str());
    return kExitFailure;
  }
  uint64_t removed = head->base_seq() > 0 ? head->base_seq() - 1 : 0;
  std::printf(
      "{\"ok\":true,\"entries\":%llu,\"verified_from_seq\":%llu,"
      "\"removed_by_retention\":%llu,\"removed_until\":%s,\"head_seq\":%llu,"
      "\"head_hash\":\"%s\",\"signature_checked\":%s}\n",
      static_cast<unsigned long long>(verifier->entries()),
      static_cast<unsigned long long>(verifier->first_seq()),
      static_cast<unsigned long long>(removed),
      JsonString(TimeText(head->base_removed_until_ms())).c_str(),
      static_cast<unsigned long long>(head->seq()), model::HexEncode(head->hash()).c_str(),
      key.empty() ? "false" : "true");
  if (removed > 0) {
    std::fprintf(stderr,
                 "verified from entry %llu; the %llu older entries were removed by retention "
                 "(the newest of them made %s)\n",
                 static_cast<unsigned long long>(verifier->first_seq()),
                 static_cast<unsigned long long>(removed),
                 TimeText(head->base_removed_until_ms()).c_str());
  }
  return kExitOk;
}

int RunAuditExport(const std::string& node, uint64_t from_seq) {
  grpc::Status rpc;
  absl::StatusOr<v1::AuditHead> head = ExportTrail(
      node, from_seq,
      [](const v1::AuditEntry& e) {
        std::printf("%s\n", EntryJson(e).c_str());
        return true;
      },
      &rpc);
  if (!head.ok()) return ReportRpcError("audit export", rpc);
  std::fprintf(stderr, "head seq=%llu hash=%s\n", static_cast<unsigned long long>(head->seq()),
               model::HexEncode(head->hash()).c_str());
  return kExitOk;
}

// Sets *since_ms from a --since value (empty: 0); false after printing the error.
bool ParseSince(std::string_view command, const std::string& since, int64_t* since_ms) {
  if (since.empty()) return true;
  absl::StatusOr<int64_t> at = ParseTime(since);
  if (!at.ok()) {
    Fail(base::StrCat(command, ": --since"), at.status().message());
    return false;
  }
  *since_ms = *at;
  return true;
}

int RunAuditWhoSaw(const std::string& node, const std::string& person, const std::string& since) {
  v1::WhoSawRequest request;
  request.set_person(person);
  int64_t since_ms = 0;
  if (!ParseSince("audit who-saw", since, &since_ms)) return kExitUsage;
  request.set_since_unix_ms(since_ms);
  v1::AuditEntries response;
  grpc::ClientContext context;
  grpc::Status status = v1::Audit::NewStub(ChannelTo(node))->WhoSaw(&context, request, &response);
  if (!status.ok()) return ReportRpcError("audit who-saw", status);
  return PrintEntries(response);
}

int RunAuditByToken(const std::string& node, const std::string& token, const std::string& since) {
  v1::ByTokenRequest request;
  request.set_token(token);
  int64_t since_ms = 0;
  if (!ParseSince("audit by-token", since, &since_ms)) return kExitUsage;
  request.set_since_unix_ms(since_ms);
  v1::AuditEntries response;
  grpc::ClientContext context;
  grpc::Status status =
      v1::Audit::NewStub(ChannelTo(node))->ByToken(&context, request, &response);
  if (!status.ok()) return ReportRpcError("audit by-token", status);
  return PrintEntries(response);
}

}  // namespace wlsync::cli
