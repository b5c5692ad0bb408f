#include "access/audit_chain.h"

#include <sodium.h>

#include <algorithm>

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

std::string HeadMessage(const v1::AuditHead& head) {
  bool based = head.base_seq() > 0;
  std::string out = base::StrCat(based ? "wlsync/audit-head/v2\n" : "wlsync/audit-head/v1\n",
                                 head.node(), std::string_view("\0", 1));
  AppendNumber(&out, head.seq());
  out.append(head.hash());
  if (based) {
    AppendNumber(&out, head.base_seq());
    out.append(head.base_prev_hash());
    AppendNumber(&out, static_cast<uint64_t>(head.base_removed_until_ms()));
  }
  return out;
}

ChainVerifier::ChainVerifier(std::string public_key) : public_key_(std::move(public_key)) {}

bool ChainVerifier::Add(const v1::AuditEntry& e) {
  if (!error_.ok()) return false;
  if (entries_ == 0) {
    // Where the kept trail starts is known only from the head: CheckBase compares.
    first_seq_ = next_seq_ = e.seq();
    first_prev_ = prev_hash_ = e.prev_hash();
  }
  if (e.seq() != next_seq_) {
    error_ = absl::DataLossError(base::StrCat("audit: entry ", next_seq_, " is missing (next entry is ",
                                              e.seq(), ")"));
    return false;
  }
  if (e.prev_hash() != prev_hash_) {
    error_ = absl::DataLossError(base::StrCat("audit: entry ", e.seq() - 1, " was changed (entry ",
                                              e.seq(), " holds another hash for it)"));
    return false;
  }
  prev_hash_ = EntryHash(e);
  ++next_seq_;
  ++entries_;
  return true;
}

absl::Status ChainVerifier::CheckBase(const v1::AuditHead& head) {
  uint64_t base = std::max<uint64_t>(1, head.base_seq());
  if (entries_ == 0) {
    next_seq_ = base;  // an empty trail ends just before its base
    return absl::OkStatus();
  }
  if (first_seq_ > base) {
    return absl::DataLossError(
        base::StrCat("audit: entry ", base, " is missing (next entry is ", first_seq_,
                     "; retention removed only the entries before ", base, ")"));
  }
  if (first_seq_ < base) {
    return absl::DataLossError(base::StrCat("audit: entry ", first_seq_,
                                            " is older than the retention base (entry ", base,
                                            "): the signed head says it was removed"));
  }
  const std::string zero(32, '\0');
  if (first_prev_ != (head.base_seq() > 0 ? head.base_prev_hash() : zero)) {
    return absl::DataLossError(base::StrCat(
        "audit: entry ", base, " was changed (it does not chain to ",
        head.base_seq() > 0 ? "the last entry retention removed)" : "the start of the trail)"));
  }
  return absl::OkStatus();
}

absl::Status ChainVerifier::Finish(const v1::AuditHead& head) {
  if (!error_.ok()) return error_;
  if (absl::Status s = CheckBase(head); !s.ok()) return error_ = s;
  uint64_t last = next_seq_ - 1;
  if (head.seq() != last) {
    error_ = absl::DataLossError(base::StrCat("audit: the head names entry ", head.seq(),
                                              " but the trail ends at entry ", last,
                                              head.seq() > last ? " (entries were dropped)" : ""));
    return error_;
  }
  if (entries_ > 0 && head.hash() != prev_hash_) {
    error_ = absl::DataLossError(
        base::StrCat("audit: entry ", last, " was changed (it no longer matches the signed head)"));
    return error_;
  }
  if (!public_key_.empty() && !sync::VerifyRaw(public_key_, HeadMessage(head), head.signature())) {
    error_ = absl::DataLossError("audit: the head's signature does not verify with the node's key");
  }
  return error_;
}

}  // namespace wlsync::access
