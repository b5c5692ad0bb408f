#include "daemon/retention.h"

#include "absl/time/time.h"
#include "base/logging.h"
#include "model/hlc.h"
#include "model/fields.h"
#include "model/merge.h"
#include "storage/index.h"

namespace wlsync::daemon {
namespace {

// Erasures submitted to the writer at once.
constexpr size_t kBatch = 1000;
// Audit entries removed per WriteBatch (each batch is one synced write and one entry).
constexpr size_t kAuditBatch = 5000;
constexpr int64_t kMsPerDay = 86400 * 1000;

const std::vector<v1::Group> kPersonalGroups = {v1::IDENTITY, v1::CONTACT, v1::RESIDENCE,
                                                v1::WORK,     v1::CATEGORY, v1::LIST,
                                                v1::TEST};

bool HasContent(const v1::Record& r, v1::Group group) {
  v1::PersonFields empty;
  return model::HasGroup(r, group) &&
         !model::GroupEquals(model::GroupOf(r, group).value(), empty, group);
}

// True when every group of `r` was last written before `before_ms`.
bool TombstoneExpired(const v1::Record& r, int64_t before_ms) {
  if (before_ms <= 0) return false;
  for (const v1::GroupState& g : r.groups()) {
    if (static_cast<int64_t>(model::HlcMillis(g.stamp().hlc())) >= before_ms) return false;
  }
  return true;
}

}  // namespace

RetentionSweeper::RetentionSweeper(RetentionOptions options, const storage::Store& store,
                                   sync::Writer& writer, access::AuditTrail& trail,
                                   std::function<int64_t()> now_ms)
    : options_(std::move(options)),
      store_(store),
      writer_(writer),
      trail_(trail),
      now_ms_(std::move(now_ms)) {}

RetentionSweeper::~RetentionSweeper() { Stop(); }

void RetentionSweeper::Start() { thread_ = std::thread([this] { Run(); }); }

void RetentionSweeper::Stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

bool RetentionSweeper::stopping() {
  std::lock_guard<std::mutex> lock(mu_);
  return stop_;
}

void RetentionSweeper::Run() {
  auto log = base::Logger("node");
  for (;;) {
    absl::StatusOr<SweepResult> r = Sweep();
    if (!r.ok()) {
      log->error("node={} retention sweep failed: {}", options_.node, r.status().message());
    } else {
      if (r->people_erased + r->tests_erased + r->tombstones_purged > 0) {
        log->info("node={} retention erased people={} test_results={} purged tombstones={}",
                  options_.node, r->people_erased, r->tests_erased, r->tombstones_purged);
      }
      if (r->audit.removed > 0) {
        log->info(
            "node={} retention removed audit_entries={} batches={} first_kept_seq={} "
            "removed_until_ms={}",
            options_.node, r->audit.removed, r->audit.batches, r->audit.first_kept,
            r->audit.removed_until_ms);
      }
    }
    std::unique_lock<std::mutex> lock(mu_);
    if (cv_.wait_for(lock, std::chrono::seconds(options_.sweep_every_s), [&] { return stop_; })) {
      return;
    }
  }
}

absl::StatusOr<SweepResult> RetentionSweeper::Sweep() {
  int64_t now = now_ms_();
  SweepResult result;
  // Independent: a failure of one part does not hold the other back.
  absl::Status records = SweepRecords(now, &result);
  absl::Status audit = SweepAudit(now, &result);
  if (!records.ok()) return records;
  if (!audit.ok()) return audit;
  return result;
}

absl::Status RetentionSweeper::SweepAudit(int64_t now, SweepResult* result) {
  if (options_.audit_keep_days <= 0) return absl::OkStatus();
  absl::StatusOr<access::PurgeResult> purged = trail_.Purge(
      now - options_.audit_keep_days * kMsPerDay, kAuditBatch, [this] { return stopping(); });
  if (!purged.ok()) return purged.status();
  result->audit = *purged;
  return absl::OkStatus();
}

absl::Status RetentionSweeper::SweepRecords(int64_t now, SweepResult* result) {
  uint64_t erase_before_hlc =
      static_cast<uint64_t>(std::max<int64_t>(0, now - options_.erase_after_s * 1000)) << 16;
  std::string oldest_test = absl::FormatTime(
      "%Y-%m-%d", absl::FromUnixMillis(now) - absl::Hours(24 * options_.test_max_age_days),
      absl::FixedTimeZone(8 * 3600));

  // Old enough, and confirmed on every peer (a reconciliation that began after it ended
  // with both sides equal).
  int64_t purge_before_ms = 0;
  if (options_.tombstone_keep_s > 0 && options_.confirmed_before_ms) {
    purge_before_ms =
        std::min(now - options_.tombstone_keep_s * 1000, options_.confirmed_before_ms());
  }

  std::vector<sync::LocalWrite> batch;
  auto flush = [&]() -> absl::Status {
    if (batch.empty()) return absl::OkStatus();
    std::vector<sync::LocalResult> done = writer_.WriteLocal(std::move(batch));
    batch.clear();
    for (const sync::LocalResult& r : done) {
      if (!r.status.ok()) return r.status;
    }
    return absl::OkStatus();
  };

  // What one record needs, if anything, added to `batch`.
  auto consider = [&](const v1::Record& r) -> absl::Status {
    if (!model::Exists(r) || model::GroupOf(r, v1::HOME).value().home() != options_.node) {
      return absl::OkStatus();
    }
    sync::LocalWrite w;
    w.kind = sync::LocalWrite::Kind::kErase;
    w.pid = r.pid();
    if (!model::IsRegistered(r)) {
      if (options_.erase_after_s <= 0 ||
          model::GroupOf(r, v1::STATUS).stamp().hlc() >= erase_before_hlc) {
        return absl::OkStatus();
      }
      for (v1::Group g : kPersonalGroups) {
        if (HasContent(r, g)) w.erase.push_back(g);
      }
      if (w.erase.empty()) {
        if (!TombstoneExpired(r, purge_before_ms)) return absl::OkStatus();
        w.kind = sync::LocalWrite::Kind::kPurge;
        ++result->tombstones_purged;
      } else {
        ++result->people_erased;
      }
    } else {
      const std::string& date = model::GroupOf(r, v1::TEST).value().last_test_date();
      if (options_.test_max_age_days <= 0 || !HasContent(r, v1::TEST) || date.empty() ||
          date >= oldest_test) {
        return absl::OkStatus();
      }
      w.erase.push_back(v1::TEST);
      ++result->tests_erased;
    }
    batch.push_back(std::move(w));
    return batch.size() >= kBatch ? flush() : absl::OkStatus();
  };

  if (options_.test_max_age_days > 0) {
    // Test results age for everyone: every record is read.
    std::unique_ptr<storage::RecordCursor> cursor = store_.ScanRecords();
    for (; cursor->Valid() && !stopping(); cursor->Next()) {
      absl::StatusOr<v1::Record> r = cursor->record();
      if (!r.ok()) return r.status();
      if (absl::Status s = consider(*r); !s.ok()) return s;
    }
    if (absl::Status s = cursor->status(); !s.ok()) return s;
    return flush();
  }
  // Otherwise only deregistered people can be due: they are read through the membership index
  // (written in the same batches as the records), not by reading every record each hour.
  const std::string prefix =
      storage::Indexer::TermPrefix(storage::IndexKind::kMembership, model::kDeregistered);
  std::string start;
  while (!stopping()) {
    std::vector<std::string> pids;
    std::string last;
    absl::Status scanned = store_.Scan(storage::Table::kIndex, prefix, start,
                                       [&](std::string_view key, std::string_view) {
                                         pids.emplace_back(storage::Indexer::PidOf(key));
                                         last = std::string(key);
                                         return pids.size() < kBatch;
                                       });
    if (!scanned.ok()) return scanned;
    for (const std::string& pid : pids) {
      v1::Record r;
      absl::StatusOr<bool> found = store_.ReadRecord(pid, &r);
      if (!found.ok()) return found.status();
      if (!*found) continue;
      if (absl::Status s = consider(r); !s.ok()) return s;
    }
    if (pids.size() < kBatch) break;
    start = last + std::string(1, '\0');  // the first key after it
  }
  return flush();
}

}  // namespace wlsync::daemon
