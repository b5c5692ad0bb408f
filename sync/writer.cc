#include "sync/writer.h"

#include <pthread.h>

#include <variant>

#include "absl/container/flat_hash_map.h"
#include "base/strings.h"
#include "base/logging.h"
#include "model/fields.h"
#include "model/merge.h"
#include "model/pid.h"
#include "model/validate.h"
#include "sync/delta_scan.h"
#include "sync/writer_internal.h"

namespace wlsync::sync {

std::string_view RemoteOutcomeName(RemoteOutcome outcome) {
  switch (outcome) {
    case RemoteOutcome::kApplied: return "applied";
    case RemoteOutcome::kDuplicate: return "duplicate";
    case RemoteOutcome::kGap: return "gap";
    case RemoteOutcome::kFork: return "fork";
    case RemoteOutcome::kHeldBack: return "held_back";
    case RemoteOutcome::kRejected: return "rejected";
  }
  return "unknown";
}

Writer::Writer(storage::Store& store, model::HybridClock& clock, const model::WritePlanner& planner,
               NodeKey& key, TrustStore& trust, WriterOptions options)
    : store_(store),
      clock_(clock),
      planner_(planner),
      key_(key),
      trust_(trust),
      options_(options),
      own_stream_{planner.node(), store.epoch()},
      forks_(store) {}

Writer::~Writer() { Stop(); }

absl::Status Writer::Start() {
  if (absl::Status s = forks_.Load(); !s.ok()) return s;
  absl::StatusOr<std::optional<storage::StreamState>> state = store_.GetStream(own_stream_);
  if (!state.ok()) return state.status();
  if (state->has_value()) own_state_ = **state;
  own_seq_.store(own_state_.seq, std::memory_order_release);
  committer_ = std::thread([this] {
    pthread_setname_np(pthread_self(), "wlsync-commit");  // as `top -H` and perf show it
    CommitLoop();
  });
  thread_ = std::thread([this] {
    pthread_setname_np(pthread_self(), "wlsync-writer");
    Run();
  });
  return absl::OkStatus();
}

void Writer::Stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();  // Run commits the last delta in flight first
  {
    std::lock_guard<std::mutex> lock(commit_mu_);
    commit_stopping_ = true;
  }
  commit_cv_.notify_all();
  if (committer_.joinable()) committer_.join();
}

std::future<std::vector<LocalResult>> Writer::SubmitLocal(std::vector<LocalWrite> writes) {
  auto job = std::make_shared<Job>();
  for (const LocalWrite& w : writes) {
    // Worst case: every group written, each event carrying its values and ~64 bytes of
    // pid, stamp and framing.
    job->events_estimate += model::kGroupCount;
    job->bytes_estimate += w.fields.ByteSizeLong() + model::kGroupCount * 64;
    for (const model::FieldEdit& e : w.edits) job->bytes_estimate += 2 * e.value.size() + 64;
  }
  job->work = Job::Local{std::move(writes), {}};
  auto& local = std::get<Job::Local>(job->work);
  std::future<std::vector<LocalResult>> future = local.done.get_future();
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!stopping_) {
      queue_.push_back(job);
      cv_.notify_all();
      return future;
    }
  }
  std::vector<LocalResult> refused(local.writes.size());
  for (LocalResult& r : refused) r.status = absl::UnavailableError("node is shutting down");
  local.done.set_value(std::move(refused));
  return future;
}

std::future<RemoteResult> Writer::SubmitRemote(std::string signed_delta) {
  auto job = std::make_shared<Job>();
  Job::Remote& remote = job->work.emplace<Job::Remote>();
  remote.signed_delta = std::move(signed_delta);
  // The three passes over the whole body that need no state of the writer's: hashing it,
  // checking its signature and parsing it. They are a quarter of the writer thread's time in
  // a catch-up, where the writer thread is the busiest and the caller (a puller) mostly waits.
  if (EnvelopeView view; ParseEnvelope(remote.signed_delta, &view).ok()) {
    remote.body_hash = Sha256(view.body);
    remote.checked = trust_.Check(view.key_id, view.body, view.signature);
    remote.arena = std::make_unique<google::protobuf::Arena>();
    auto* body = google::protobuf::Arena::CreateMessage<v1::DeltaBody>(remote.arena.get());
    if (ParseBodySparse(view.body, nullptr, body).ok()) remote.body = body;
  }
  std::future<RemoteResult> future = remote.done.get_future();
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!stopping_) {
      queue_.push_back(job);
      cv_.notify_all();
      return future;
    }
  }
  RemoteResult r;
  r.status = absl::UnavailableError("node is shutting down");
  r.local_failure = true;
  std::get<Job::Remote>(job->work).done.set_value(std::move(r));
  return future;
}

RepairResult Writer::Repair(std::vector<RepairSource> sources) {
  auto job = std::make_shared<Job>();
  Job::Repair& repair = job->work.emplace<Job::Repair>();
  repair.arenas.push_back(std::make_unique<google::protobuf::Arena>());
  repair.arenas.push_back(std::make_unique<google::protobuf::Arena>());
  repair.deltas.resize(sources.size());
  // Verifying hashes each whole body: with more than one delta, two threads share the work
  // (each delta's body is built on an arena of its own thread, merged into one job).
  auto prepare = [&](size_t from, size_t to, google::protobuf::Arena* arena) {
    for (size_t i = from; i < to; ++i) {
      Job::RepairDelta& d = repair.deltas[i];
      absl::flat_hash_set<std::string> wanted(sources[i].pids.begin(), sources[i].pids.end());
      auto* body = google::protobuf::Arena::CreateMessage<v1::DeltaBody>(arena);
      if (Verify(sources[i].signed_delta, body, &d.refused, nullptr, &wanted)) {
        d.body = body;
      }
      d.pids = std::move(sources[i].pids);
      std::string().swap(sources[i].signed_delta);  // the bytes are no longer needed
    }
  };
  const size_t half = sources.size() / 2;
  std::thread helper;
  if (half > 0) helper = std::thread(prepare, half, sources.size(), repair.arenas[1].get());
  prepare(0, half > 0 ? half : sources.size(), repair.arenas[0].get());
  if (helper.joinable()) helper.join();

  std::future<RepairResult> future = repair.done.get_future();
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopping_) {
      RepairResult r;
      r.status = absl::UnavailableError("node is shutting down");
      return r;
    }
    queue_.push_back(job);
  }
  cv_.notify_all();
  return future.get();
}

absl::Status Writer::RotateKey(SigningKey next) {
  auto job = std::make_shared<Job>();
  job->work = Job::KeyChange{std::move(next), "", "", 0, {}};
  return Submit(job);
}

absl::Status Writer::RevokeKey(std::string node, std::string key_id, int64_t from_unix_ms) {
  auto job = std::make_shared<Job>();
  job->work = Job::KeyChange{std::nullopt, std::move(node), std::move(key_id), from_unix_ms, {}};
  return Submit(job);
}

absl::Status Writer::Submit(const std::shared_ptr<Job>& job) {
  std::future<absl::Status> future = std::get<Job::KeyChange>(job->work).done.get_future();
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopping_) return absl::UnavailableError("node is shutting down");
    queue_.push_back(job);
  }
  cv_.notify_all();
  return future.get();
}

std::vector<std::string> Writer::forked_streams() const {
  std::vector<std::string> out;
  for (const v1::ForkedStream& f : forks_.List()) {
    out.push_back(StreamName({f.origin(), f.epoch()}));
  }
  return out;
}

void Writer::Run() {
  for (;;) {
    std::vector<std::shared_ptr<Job>> batch;
    {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
      if (queue_.empty()) {  // stopping and drained
        lock.unlock();
        Collect().IgnoreError();  // its writers were told
        return;
      }

      if (!std::holds_alternative<Job::Local>(queue_.front()->work)) {
        batch.push_back(queue_.front());
        queue_.pop_front();
      } else {
        // Group commit: gather local requests until the delta is full or the window ends.
        auto deadline = std::chrono::steady_clock::now() + options_.group_window;
        size_t events = 0;
        size_t bytes = 0;
        auto fits = [&](const Job& job) {
          return events + job.events_estimate <= options_.max_delta_events &&
                 bytes + job.bytes_estimate <= options_.max_delta_bytes;
        };
        for (;;) {
          while (!queue_.empty() && std::holds_alternative<Job::Local>(queue_.front()->work) &&
                 (batch.empty() || fits(*queue_.front()))) {
            events += queue_.front()->events_estimate;
            bytes += queue_.front()->bytes_estimate;
            batch.push_back(queue_.front());
            queue_.pop_front();
          }
          bool full = !queue_.empty() || events >= options_.max_delta_events ||
                      bytes >= options_.max_delta_bytes;
          if (full || stopping_ ||
              !cv_.wait_until(lock, deadline, [&] { return !queue_.empty() || stopping_; })) {
            break;
          }
        }
      }
    }

    // Repairs and key changes read and write the store directly: the delta in flight is
    // written first. A failure of it was reported to its writers, and the store now refuses
    // writes, so this job fails on its own.
    const auto& work = batch.front()->work;
    if (!std::holds_alternative<Job::Local>(work) && !std::holds_alternative<Job::Remote>(work)) {
      Collect().IgnoreError();
    }
    if (auto* remote = std::get_if<Job::Remote>(&batch.front()->work)) {
      std::optional<RemoteResult> now = ProcessRemote(batch.front());
      if (now.has_value()) remote->done.set_value(std::move(*now));
    } else if (auto* repair = std::get_if<Job::Repair>(&batch.front()->work)) {
      repair->done.set_value(ProcessRepair(*batch.front()));
    } else if (auto* change = std::get_if<Job::KeyChange>(&batch.front()->work)) {
      change->done.set_value(ProcessKeyChange(*batch.front()));
    } else {
      ProcessLocal(batch);
    }
  }
}

}  // namespace wlsync::sync
