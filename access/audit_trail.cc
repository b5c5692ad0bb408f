#include "access/audit_trail.h"

#include <algorithm>

#include "access/audit_chain.h"
#include "base/logging.h"
#include "base/strings.h"
#include "storage/keys.h"

namespace wlsync::access {
namespace {

using storage::Table;

// Keys of the audit index table: 'p' pid seq, 't' token '\0' seq, 'x' seq (full exports),
// and the signed head under "h".
constexpr std::string_view kHeadKey = "h";

std::string SeqKey(uint64_t seq) {
  std::string key;
  storage::keys::PutFixed64(&key, seq);
  return key;
}

std::string PidPrefix(std::string_view pid) { return base::StrCat("p", pid); }
std::string TokenPrefix(std::string_view token) {
  return base::StrCat("t", token, std::string_view("\0", 1));
}
constexpr std::string_view kExportPrefix = "x";

}  // namespace

AuditTrail::AuditTrail(storage::Store& store, std::string node, SignFn sign,
                       std::function<int64_t()> now_ms)
    : store_(store),
      node_(std::move(node)),
      sign_(std::move(sign)),
      now_ms_(std::move(now_ms)),
      prev_hash_(32, '\0') {}

absl::Status AuditTrail::Load() {
  auto last = store_.Last(Table::kAudit);
  if (!last.ok()) return last.status();
  auto head = store_.Get(Table::kAuditIndex, kHeadKey);
  if (!head.ok()) return head.status();

  std::lock_guard<std::mutex> lock(mu_);
  if (last->has_value()) {
    v1::AuditEntry entry;
    if ((*last)->first.size() != 8 || !entry.ParseFromString((*last)->second)) {
      return absl::DataLossError("audit: the newest entry does not parse");
    }
    next_seq_ = entry.seq() + 1;
    prev_hash_ = EntryHash(entry);
  }
  head_.set_node(node_);
  if (head->has_value() && !head_.ParseFromString(**head)) {
    return absl::DataLossError("audit: the signed head does not parse");
  }
  base_seq_ = head_.base_seq();
  base_prev_hash_ = head_.base_prev_hash();
  base_removed_until_ms_ = head_.base_removed_until_ms();
  if (head_.seq() != next_seq_ - 1 || (head_.seq() > 0 && head_.hash() != prev_hash_)) {
    base::Logger("audit")->error(
        "node={} audit trail does not match its signed head (head seq={}, newest entry seq={}); "
        "run `wlsync audit verify`",
        node_, head_.seq(), next_seq_ - 1);
  }
  return absl::OkStatus();
}

absl::Status AuditTrail::Append(v1::AuditEntry entry, bool full_export) {
  Pending pending;
  std::unique_lock<std::mutex> lock(mu_);
  return Commit(std::move(entry), full_export, pending, lock);
}

absl::Status AuditTrail::Commit(v1::AuditEntry entry, bool full_export, Pending& pending,
                                std::unique_lock<std::mutex>& lock) {
  if (!error_.ok()) return error_;
  entry.set_seq(next_seq_++);
  entry.set_unix_ms(now_ms_());
  entry.set_prev_hash(prev_hash_);
  prev_hash_ = EntryHash(entry);

  std::string seq = SeqKey(entry.seq());
  auto& puts = pending.batch.puts;
  puts.push_back({Table::kAudit, seq, entry.SerializeAsString()});
  for (const std::string& pid : entry.pids()) {
    puts.push_back({Table::kAuditIndex, PidPrefix(pid) + seq, ""});
  }
  puts.push_back({Table::kAuditIndex, TokenPrefix(entry.token()) + seq, ""});
  if (full_export) puts.push_back({Table::kAuditIndex, std::string(kExportPrefix) + seq, ""});
  queue_.push_back(&pending);

  while (!pending.done) {
    if (writing_) {
      pending.cv.wait(lock);
      continue;
    }
    // Leader: write everything queued, with the newest head, in one synced batch.
    writing_ = true;
    std::vector<Pending*> group;
    group.swap(queue_);
    v1::AuditHead head;
    head.set_seq(next_seq_ - 1);
    head.set_hash(prev_hash_);
    head.set_node(node_);
    if (base_seq_ > 0) {
      head.set_base_seq(base_seq_);
      head.set_base_prev_hash(base_prev_hash_);
      head.set_base_removed_until_ms(base_removed_until_ms_);
    }
    lock.unlock();

    auto [key_id, signature] = sign_(HeadMessage(head));
    head.set_key_id(std::move(key_id));
    head.set_signature(std::move(signature));
    storage::TableBatch batch;
    for (Pending* p : group) {
      for (auto& del : p->batch.deletes) batch.deletes.push_back(std::move(del));
      for (auto& put : p->batch.puts) batch.puts.push_back(std::move(put));
    }
    batch.puts.push_back({Table::kAuditIndex, std::string(kHeadKey), head.SerializeAsString()});
    absl::Status s = store_.Write(batch, /*sync=*/true);

    lock.lock();
    writing_ = false;
    if (s.ok()) {
      head_ = head;
    } else if (error_.ok()) {
      error_ = absl::UnavailableError(base::StrCat("audit: cannot append: ", s.message()));
      base::Logger("audit")->error("node={} audit trail write failed: {}", node_, s.message());
    }
    for (Pending* p : group) {
      p->status = s.ok() ? absl::OkStatus() : error_;
      p->done = true;
      if (p != &pending) p->cv.notify_one();
    }
    // Callers that queued meanwhile: the first one leads the next group.
    if (!queue_.empty()) queue_.front()->cv.notify_one();
  }
  return pending.status;
}

absl::StatusOr<PurgeResult> AuditTrail::Purge(int64_t before_ms, size_t batch,
                                              const std::function<bool()>& stop) {
  std::lock_guard<std::mutex> purging(purge_mu_);
  // Only entries that existed when the purge began: its own records, stamped with a clock
  // that may have gone back meanwhile, never feed it.
  uint64_t newest;
  {
    std::lock_guard<std::mutex> lock(mu_);
    newest = next_seq_ - 1;
  }
  PurgeResult total;
  while (!stop || !stop()) {
    absl::StatusOr<PurgeResult> one = PurgeBatch(before_ms, newest, std::max<size_t>(1, batch));
    if (!one.ok()) return one.status();
    if (one->removed == 0) break;
    total.removed += one->removed;
    total.batches += one->batches;
    total.first_kept = one->first_kept;
    total.removed_until_ms = std::max(total.removed_until_ms, one->removed_until_ms);
  }
  return total;
}

absl::StatusOr<PurgeResult> AuditTrail::PurgeBatch(int64_t before_ms, uint64_t newest,
                                                   size_t batch) {
  uint64_t from;
  std::string prev;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!error_.ok()) return error_;
    from = std::max<uint64_t>(1, base_seq_);
    prev = base_seq_ > 0 ? base_prev_hash_ : std::string(32, '\0');
  }
  // One entry more than the batch: the first kept entry, whose prev_hash must match too.
  std::vector<v1::AuditEntry> entries;
  if (absl::Status s = Read(from, batch + 1, &entries); !s.ok()) return s;
  size_t n = 0;
  while (n < entries.size() && n < batch && entries[n].seq() == from + n &&
         entries[n].seq() <= newest && entries[n].unix_ms() < before_ms) {
    ++n;
  }
  PurgeResult result;
  if (n == 0 && (entries.empty() || entries[0].seq() == from)) return result;

  // Check the chain of what goes (and its link to what stays) before anything is removed.
  Pending pending;
  for (size_t i = 0; i <= n && i < entries.size(); ++i) {
    const v1::AuditEntry& e = entries[i];
    if (e.seq() != from + i) {
      return absl::DataLossError(base::StrCat("audit: retention removes nothing: entry ", from + i,
                                              " is missing (run `wlsync audit verify`)"));
    }
    if (e.prev_hash() != prev) {
      return absl::DataLossError(
          base::StrCat("audit: retention removes nothing: entry ", e.seq() - 1,
                       " was changed or is missing (run `wlsync audit verify`)"));
    }
    if (i == n) break;
    prev = EntryHash(e);
    std::string seq = SeqKey(e.seq());
    auto& deletes = pending.batch.deletes;
    deletes.push_back({Table::kAudit, seq});
    for (const std::string& pid : e.pids()) {
      deletes.push_back({Table::kAuditIndex, PidPrefix(pid) + seq});
    }
    deletes.push_back({Table::kAuditIndex, TokenPrefix(e.token()) + seq});
    deletes.push_back({Table::kAuditIndex, std::string(kExportPrefix) + seq});
    result.removed_until_ms = std::max(result.removed_until_ms, e.unix_ms());
  }
  result.removed = n;
  result.batches = 1;
  result.first_kept = entries[n - 1].seq() + 1;
  if (entries.size() == n) {
    // No kept entry was read: the last one removed must be what the committed head names,
    // or what the entry appended since the read chains to.
    v1::AuditHead committed = head();
    std::string link = committed.hash();
    if (committed.seq() != result.first_kept - 1) {
      auto next = ReadOne(result.first_kept);
      if (!next.ok()) return next.status();
      link = next->has_value() ? (*next)->prev_hash() : "";
    }
    if (link != prev) {
      return absl::DataLossError(base::StrCat("audit: retention removes nothing: entry ",
                                              result.first_kept - 1,
                                              " no longer matches the signed head"));
    }
  }

  v1::AuditEntry record;
  record.set_token("-");
  record.set_role("node");
  record.set_method("Audit.Retention");
  record.set_outcome("OK");
  record.set_result_count(n);
  record.set_filter(base::StrCat("removed_from=", from, " removed_to=", result.first_kept - 1,
                                 " older_than_ms=", before_ms,
                                 " removed_until_ms=", result.removed_until_ms));
  std::unique_lock<std::mutex> lock(mu_);
  base_seq_ = result.first_kept;
  base_prev_hash_ = prev;
  base_removed_until_ms_ = std::max(base_removed_until_ms_, result.removed_until_ms);
  if (absl::Status s = Commit(std::move(record), /*full_export=*/false, pending, lock); !s.ok()) {
    return s;
  }
  return result;
}

v1::AuditHead AuditTrail::head() const {
  std::lock_guard<std::mutex> lock(mu_);
  return head_;
}

uint64_t AuditTrail::base_seq() const {
  std::lock_guard<std::mutex> lock(mu_);
  return base_seq_;
}

absl::StatusOr<std::optional<v1::AuditEntry>> AuditTrail::ReadOne(uint64_t seq) const {
  auto raw = store_.Get(Table::kAudit, SeqKey(seq));
  if (!raw.ok()) return raw.status();
  if (!raw->has_value()) return std::nullopt;
  v1::AuditEntry e;
  if (!e.ParseFromString(**raw)) {
    return absl::DataLossError(base::StrCat("audit: entry ", seq, " does not parse"));
  }
  return e;
}

absl::Status AuditTrail::Read(uint64_t from_seq, size_t max,
                              std::vector<v1::AuditEntry>* out) const {
  absl::Status parse;
  absl::Status s = store_.Scan(Table::kAudit, "", SeqKey(from_seq),
                               [&](std::string_view key, std::string_view value) {
                                 v1::AuditEntry e;
                                 if (!e.ParseFromArray(value.data(), static_cast<int>(value.size()))) {
                                   // Kept as an entry with only its seq, so that verify names it.
                                   e.set_seq(key.size() == 8 ? storage::keys::GetFixed64(key) : 0);
                                   e.set_outcome("<entry does not parse>");
                                 }
                                 out->push_back(std::move(e));
                                 return out->size() < max;
                               });
  return s;
}

absl::Status AuditTrail::ReadSeqs(std::string_view prefix, int64_t since_ms, size_t max,
                                  std::vector<v1::AuditEntry>* out) const {
  std::vector<uint64_t> seqs;
  absl::Status s = store_.Scan(Table::kAuditIndex, prefix, "",
                               [&](std::string_view key, std::string_view) {
                                 if (key.size() >= prefix.size() + 8) {
                                   seqs.push_back(storage::keys::GetFixed64(key.substr(key.size() - 8)));
                                 }
                                 return true;
                               });
  if (!s.ok()) return s;
  for (uint64_t seq : seqs) {
    auto e = ReadOne(seq);
    if (!e.ok()) return e.status();
    if (e->has_value() && (*e)->unix_ms() >= since_ms) out->push_back(std::move(**e));
    if (out->size() >= max) break;
  }
  return absl::OkStatus();
}

absl::Status AuditTrail::WhoSaw(const std::string& pid, int64_t since_ms, size_t max,
                                std::vector<v1::AuditEntry>* out) const {
  if (absl::Status s = ReadSeqs(PidPrefix(pid), since_ms, max, out); !s.ok()) return s;
  if (absl::Status s = ReadSeqs(kExportPrefix, since_ms, max, out); !s.ok()) return s;
  std::sort(out->begin(), out->end(),
            [](const v1::AuditEntry& a, const v1::AuditEntry& b) { return a.seq() < b.seq(); });
  return absl::OkStatus();
}

absl::Status AuditTrail::ByToken(const std::string& name, int64_t since_ms, size_t max,
                                 std::vector<v1::AuditEntry>* out) const {
  return ReadSeqs(TokenPrefix(name), since_ms, max, out);
}

}  // namespace wlsync::access
