#include "access/audit_chain.h"

#include <sodium.h>

#include "base/strings.h"
#include "model/pid.h"
#include "storage/keys.h"
#include "sync/signer.h"

namespace wlsync::access {
namespace {

void AppendField(std::string* out, std::string_view value) {
  storage::keys::PutFixed64(out, value.size());
  out->append(value);
}

void AppendNumber(std::string* out, uint64_t value) { storage::keys::PutFixed64(out, value); }

}  // namespace

std::string CanonicalBytes(const v1::AuditEntry& e) {
  std::string out = "wlsync/audit/v1\n";
  AppendNumber(&out, e.seq());
  AppendNumber(&out, static_cast<uint64_t>(e.unix_ms()));
  AppendField(&out, e.token());
  AppendField(&out, e.role());
  AppendField(&out, e.method());
  AppendField(&out, e.filter());
  AppendField(&out, e.case_id());
  AppendNumber(&out, e.result_count());
  AppendNumber(&out, static_cast<uint64_t>(e.pids_size()));
  for (const std::string& pid : e.pids()) AppendField(&out, pid);
  AppendField(&out, e.outcome());
  AppendField(&out, e.peer());
  AppendField(&out, e.prev_hash());
  return out;
}

std::string EntryHash(const v1::AuditEntry& e) {
  std::string bytes = CanonicalBytes(e);
  std::string hash(crypto_hash_sha256_BYTES, '\0');
  crypto_hash_sha256(reinterpret_cast<uint8_t*>(hash.data()),
                     reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size());
  return hash;
}

std::string HeadMessage(std::string_view node, uint64_t seq, std::string_view hash) {
  std::string out = base::StrCat("wlsync/audit-head/v1\n", node, std::string_view("\0", 1));
  AppendNumber(&out, seq);
  out.append(hash);
  return out;
}

ChainVerifier::ChainVerifier(std::string public_key, uint64_t start_seq, std::string start_prev)
    : public_key_(std::move(public_key)), next_seq_(start_seq), prev_hash_(std::move(start_prev)) {}

bool ChainVerifier::Add(const v1::AuditEntry& e) {
  if (!error_.ok()) return false;
  if (e.seq() != next_seq_) {
    error_ = absl::DataLossError(base::StrCat("audit: entry ", next_seq_, " is missing (next entry is ",
                                              e.seq(), ")"));
    return false;
  }
  if (e.prev_hash() != prev_hash_) {
    error_ = absl::DataLossError(base::StrCat(
        "audit: entry ", e.seq() > 1 ? e.seq() - 1 : e.seq(),
        e.seq() > 1 ? " was changed (entry " : " does not start the chain (entry ", e.seq(),
        " holds another hash for it)"));
    return false;
  }
  prev_hash_ = EntryHash(e);
  ++next_seq_;
  ++entries_;
  return true;
}

absl::Status ChainVerifier::Finish(const v1::AuditHead& head) {
  if (!error_.ok()) return error_;
  uint64_t last = next_seq_ - 1;
  if (head.seq() != last) {
    error_ = absl::DataLossError(base::StrCat("audit: the head names entry ", head.seq(),
                                              " but the trail ends at entry ", last,
                                              head.seq() > last ? " (entries were dropped)" : ""));
    return error_;
  }
  if (last > 0 && head.hash() != prev_hash_) {
    error_ = absl::DataLossError(
        base::StrCat("audit: entry ", last, " was changed (it no longer matches the signed head)"));
    return error_;
  }
  if (!public_key_.empty() &&
      !sync::VerifyRaw(public_key_, HeadMessage(head.node(), head.seq(), head.hash()),
                       head.signature())) {
    error_ = absl::DataLossError("audit: the head's signature does not verify with the node's key");
  }
  return error_;
}

}  // namespace wlsync::access
