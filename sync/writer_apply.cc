// The two commit paths of Writer: a group of local requests becomes one signed delta; a
// remote delta is verified, sequenced and merged. Both end in one Store::Commit.
#include <algorithm>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "base/logging.h"
#include "base/strings.h"
#include "model/fields.h"
#include "model/merge.h"
#include "model/pid.h"
#include "model/validate.h"
#include "sync/delta_scan.h"
#include "sync/key_lifecycle.h"
#include "sync/writer.h"
#include "sync/writer_internal.h"

namespace wlsync::sync {
namespace {

constexpr size_t kEpochSize = 16;

LocalResult Refused(absl::Status status, std::string pid) {
  LocalResult r;
  r.status = std::move(status);
  r.pid = std::move(pid);
  return r;
}

RemoteResult Result(RemoteOutcome outcome, absl::Status status) {
  RemoteResult r;
  r.outcome = outcome;
  r.status = std::move(status);
  return r;
}

// A delta refused because this node's store failed, not for what the delta is.
RemoteResult LocalFailure(absl::Status status, const storage::StreamId& stream = {},
                          uint64_t seq = 0) {
  RemoteResult r = Result(RemoteOutcome::kRejected, std::move(status));
  r.local_failure = true;
  r.stream = stream;
  r.seq = seq;
  return r;
}

}  // namespace

std::unique_ptr<Writer::InFlight> Writer::NewFlight(bool local) {
  auto next = std::make_unique<InFlight>();
  next->local = local;
  next->overlay = std::make_unique<internal::Overlay>(
      store_, in_flight_ != nullptr ? in_flight_->overlay.get() : nullptr);
  return next;
}

absl::Status Writer::Settle(InFlight* next) {
  // Planned on the delta in flight (its records, perhaps its cursor): it stands or falls
  // with it.
  absl::Status prior = Collect();
  next->overlay->DropPending();
  return prior;
}

void Writer::HandOff(std::unique_ptr<InFlight> next) {
  next->stream = next->batch.stream;
  next->after = next->batch.StateAfter();
  {
    std::lock_guard<std::mutex> lock(commit_mu_);
    in_flight_ = std::move(next);
  }
  commit_cv_.notify_all();
}

void Writer::ProcessLocal(std::vector<std::shared_ptr<Job>>& jobs) {
  SettleFinished();
  std::unique_ptr<InFlight> next = NewFlight(/*local=*/true);
  internal::Overlay& overlay = *next->overlay;
  v1::DeltaBody& body = *google::protobuf::Arena::CreateMessage<v1::DeltaBody>(overlay.arena());
  v1::DeltaRef ref;
  ref.set_origin(own_stream_.origin);
  ref.set_epoch(own_stream_.epoch);
  ref.set_seq(own_state_.seq + 1);

  next->results.resize(jobs.size());
  for (size_t j = 0; j < jobs.size(); ++j) {
    std::vector<LocalWrite>& writes = std::get<Job::Local>(jobs[j]->work).writes;
    next->results[j].reserve(writes.size());
    for (LocalWrite& w : writes) {
      next->results[j].push_back(PlanOne(w, ref, &overlay, &body));
    }
  }
  // Unlike a peer's delta, a local one is prepared for RocksDB by the commit thread: in an
  // import the writer thread is the busier of the two (docs/benchmarks.md).
  if (body.events_size() > 0) SignLocal(&body, &overlay, {}, &next->batch);

  absl::Status prior = Settle(next.get());
  if (!prior.ok() || body.events_size() == 0) {
    for (size_t j = 0; j < jobs.size(); ++j) {
      if (!prior.ok()) {
        for (LocalResult& r : next->results[j]) {
          if (r.status.ok()) r = Refused(prior, r.pid);
        }
      }
      std::get<Job::Local>(jobs[j]->work).done.set_value(std::move(next->results[j]));
    }
    return;
  }
  next->jobs = std::move(jobs);
  next->before = own_state_;
  own_state_ = next->batch.StateAfter();
  HandOff(std::move(next));
}

void Writer::CommitLoop() {
  for (;;) {
    InFlight* delta = nullptr;
    {
      std::unique_lock<std::mutex> lock(commit_mu_);
      commit_cv_.wait(lock, [&] {
        return commit_stopping_ || (in_flight_ != nullptr && !in_flight_->done);
      });
      if (in_flight_ == nullptr || in_flight_->done) return;  // stopping
      delta = in_flight_.get();
    }
    absl::Status s = store_.Commit(delta->batch, std::move(delta->prepared));
    if (!delta->local) {
      RemoteResult r = s.ok() ? RemoteCommitted(delta->batch, std::move(delta->remote_result))
                              : LocalFailure(s, delta->stream, delta->after.seq);
      std::get<Job::Remote>(delta->remote_job->work).done.set_value(std::move(r));
      delta->remote_job.reset();
    } else if (s.ok()) {
      Committed(delta->batch);
    }
    for (size_t j = 0; j < delta->jobs.size(); ++j) {
      if (!s.ok()) {
        for (LocalResult& r : delta->results[j]) {
          if (r.status.ok() && r.hlc != 0) r = Refused(s, r.pid);
        }
      }
      std::get<Job::Local>(delta->jobs[j]->work).done.set_value(std::move(delta->results[j]));
    }
    // Only the overlay and the stream position are still read (by the next delta's
    // planning); free the rest now.
    delta->jobs.clear();
    delta->results.clear();
    delta->batch = storage::CommitBatch();
    {
      std::lock_guard<std::mutex> lock(commit_mu_);
      delta->status = s;
      delta->done = true;
    }
    commit_cv_.notify_all();
  }
}

void Writer::SettleFinished() {
  if (in_flight_ == nullptr) return;
  {
    std::lock_guard<std::mutex> lock(commit_mu_);
    // A delta that purged someone is waited for: purge marks are read from the store.
    if (!in_flight_->done && !in_flight_->overlay->has_marks()) return;
  }
  // Its failure was told to its own writers, and the store refuses writes by itself while
  // the cause lasts: it is no reason to refuse what is planned after it.
  Collect().IgnoreError();
}

absl::Status Writer::Collect() {
  if (in_flight_ == nullptr) return absl::OkStatus();
  std::unique_ptr<InFlight> done;
  {
    std::unique_lock<std::mutex> lock(commit_mu_);
    commit_cv_.wait(lock, [&] { return in_flight_->done; });
    done = std::move(in_flight_);
  }
  if (!done->status.ok() && done->local) own_state_ = done->before;
  return done->status;  // the delta's records and arena are freed here, outside the lock
}

LocalResult Writer::PlanOne(const LocalWrite& w, const v1::DeltaRef& ref,
                            internal::Overlay* overlay, v1::DeltaBody* body) {
  absl::StatusOr<v1::Record*> record = overlay->Get(w.pid);
  if (!record.ok()) return Refused(record.status(), w.pid);

  absl::StatusOr<model::PlannedWrite> plan;
  switch (w.kind) {
    case LocalWrite::Kind::kUpsert:
    case LocalWrite::Kind::kRegister:
      plan = planner_.PlanUpsert(w.fields, **record,
                                 /*must_be_new=*/w.kind == LocalWrite::Kind::kRegister);
      break;
    case LocalWrite::Kind::kUpdate:
      plan = planner_.PlanUpdate(**record, w.edits);
      break;
    case LocalWrite::Kind::kDeregister:
      plan = planner_.PlanDeregister(**record);
      break;
    case LocalWrite::Kind::kErase:
      plan = planner_.PlanErase(**record, w.erase);
      break;
    case LocalWrite::Kind::kPurge:
      plan = planner_.PlanPurge(**record);
      break;
  }
  if (!plan.ok()) return Refused(plan.status(), w.pid);

  LocalResult result;
  result.pid = w.pid;
  result.outcome = plan->outcome;
  for (auto& [group, value] : plan->groups) {
    v1::Event* event = body->add_events();
    event->set_pid(w.pid);
    event->set_group(group);
    event->mutable_stamp()->set_hlc(clock_.Tick());
    event->mutable_stamp()->set_node(own_stream_.origin);
    event->set_registration(plan->registration);
    event->set_purge(plan->purge);
    *event->mutable_value() = std::move(value);
    if (plan->purge) {
      overlay->Purge(*event, *record);
    } else {
      overlay->Merge(*event, ref, *record);
    }
    result.hlc = event->stamp().hlc();
  }
  return result;
}

absl::Status Writer::CommitLocal(v1::DeltaBody* body, internal::Overlay* overlay,
                                 std::vector<storage::TableBatch::Put> trust_puts) {
  storage::CommitBatch batch;
  SignLocal(body, overlay, std::move(trust_puts), &batch);
  if (absl::Status s = store_.Commit(batch); !s.ok()) return s;
  own_state_ = batch.StateAfter();
  Committed(batch);
  return absl::OkStatus();
}

void Writer::SignLocal(v1::DeltaBody* body, internal::Overlay* overlay,
                       std::vector<storage::TableBatch::Put> trust_puts,
                       storage::CommitBatch* batch) {
  uint64_t max_hlc = body->max_hlc();
  for (const v1::Event& e : body->events()) max_hlc = std::max(max_hlc, e.stamp().hlc());
  body->set_origin(own_stream_.origin);
  body->set_origin_epoch(own_stream_.epoch);
  body->set_seq(own_state_.seq + 1);
  body->set_prev_hash(own_state_.last_hash);
  body->set_max_hlc(max_hlc);
  body->set_created_unix_ms(static_cast<int64_t>(model::HlcMillis(clock_.WallNow())));

  std::string body_bytes = model::SerializeDeterministic(*body);
  std::shared_ptr<const SigningKey> key = key_.current();
  v1::SignedDelta envelope;
  envelope.set_key_id(key->key_id());
  envelope.set_signature(key->Sign(body_bytes));
  batch->body_hash = Sha256(body_bytes);
  envelope.set_body(std::move(body_bytes));

  batch->stream = own_stream_;
  batch->seq = body->seq();
  batch->signed_delta = envelope.SerializeAsString();
  batch->max_hlc = max_hlc;
  batch->created_unix_ms = body->created_unix_ms();
  batch->hlc_high_water = clock_.Current();
  batch->event_count = body->events_size();
  batch->stream_events_before = own_state_.events;
  batch->sync = true;
  batch->table_puts = std::move(trust_puts);
  overlay->Fill(batch);
}

void Writer::Committed(const storage::CommitBatch& batch) {
  own_seq_.store(batch.seq, std::memory_order_release);
  stats_.local_deltas.fetch_add(1, std::memory_order_relaxed);
  stats_.local_events.fetch_add(batch.event_count, std::memory_order_relaxed);
  base::Logger("sync")->debug("origin={} seq={} events={} committed", own_stream_.origin, batch.seq,
                              batch.event_count);
}

absl::Status Writer::ValidateEvent(const v1::DeltaBody& body, const v1::Event& event) const {
  if (!model::IsValidPid(event.pid())) return absl::InvalidArgumentError("event: malformed pid");
  if (event.group() < 1 || event.group() > model::kGroupCount) {
    return absl::InvalidArgumentError("event: unknown group");
  }
  if (event.stamp().hlc() == 0 || event.stamp().hlc() > body.max_hlc()) {
    return absl::InvalidArgumentError("event: stamp outside the delta's HLC range");
  }
  if (event.stamp().node() != body.origin()) {
    return absl::InvalidArgumentError("event: stamp node differs from the delta's origin");
  }
  const std::vector<model::ColumnGetter>& getters = model::GettersOfGroup(event.group());
  for (size_t i = 0; i < getters.size(); ++i) {
    if (!model::IsValidUtf8((event.value().*getters[i])())) {
      return absl::InvalidArgumentError(
          base::StrCat(model::FieldsOfGroup(event.group())[i], ": not valid UTF-8"));
    }
  }
  return absl::OkStatus();
}

bool Writer::Verify(const std::string& signed_delta, v1::DeltaBody* body, absl::Status* error,
                    KeyVerdict* verdict, const absl::flat_hash_set<std::string>* only,
                    const CheckedSignature* checked, EnvelopeView* view_out, bool body_parsed) {
  KeyVerdict v = KeyVerdict::kBadSignature;
  EnvelopeView local_view;
  EnvelopeView& view = view_out != nullptr ? *view_out : local_view;
  bool parsed = ParseEnvelope(signed_delta, &view).ok();
  if (!parsed || (!body_parsed && !ParseBodySparse(view.body, only, body).ok())) {
    *error = absl::InvalidArgumentError("delta: does not parse");
  } else if (body->origin().empty() || body->origin_epoch().size() != kEpochSize ||
             body->seq() == 0) {
    *error = absl::InvalidArgumentError("delta: missing origin, epoch or seq");
  } else {
    *error = trust_.Verify(body->origin(), view.key_id, view.body, view.signature,
                           body->max_hlc(), &v, checked);
    // Signed after the revocation time, but at a position the origin vouched for in its
    // notice: its own delta, valid.
    if (v == KeyVerdict::kRevoked &&
        trust_.Vouched(body->origin(), view.key_id, body->origin_epoch(), body->seq())) {
      v = KeyVerdict::kOk;
      *error = absl::OkStatus();
    }
    if (v == KeyVerdict::kBadSignature) {
      stats_.signature_failures.fetch_add(1, std::memory_order_relaxed);
    }
  }
  if (verdict != nullptr) *verdict = v;
  bool key_refusal = v == KeyVerdict::kRevoked || v == KeyVerdict::kOutsideWindow;
  if (!error->ok() && (verdict == nullptr || !key_refusal)) {
    stats_.rejected.fetch_add(1, std::memory_order_relaxed);
  }
  return error->ok();
}

std::optional<RemoteResult> Writer::ProcessRemote(const std::shared_ptr<Job>& job) {
  const Job::Remote& remote = std::get<Job::Remote>(job->work);
  const std::string& signed_delta = remote.signed_delta;
  // A delta holds thousands of small messages: parsed on an arena, freed in one go. The
  // submitting thread has parsed it already unless it does not parse.
  google::protobuf::Arena arena;
  const bool body_parsed = remote.body != nullptr;
  v1::DeltaBody& body =
      body_parsed ? *remote.body : *google::protobuf::Arena::CreateMessage<v1::DeltaBody>(&arena);
  EnvelopeView envelope;
  absl::Status error;
  KeyVerdict verdict = KeyVerdict::kOk;
  if (!Verify(signed_delta, &body, &error, &verdict, nullptr, &remote.checked, &envelope,
              body_parsed) &&
      verdict != KeyVerdict::kRevoked && verdict != KeyVerdict::kOutsideWindow) {
    RemoteResult r = Result(RemoteOutcome::kRejected, error);
    r.signature_failed = error.code() == absl::StatusCode::kPermissionDenied;
    return r;
  }

  SettleFinished();
  storage::StreamId stream{body.origin(), body.origin_epoch()};
  absl::StatusOr<storage::StreamState> state = StreamBefore(stream, body);
  if (!state.ok()) return LocalFailure(state.status(), stream);

  // The body's hash chains the stream: computed once, for the check and the cursor.
  // Hashed on the submitting thread when that saw the very bytes protobuf parsed here.
  const std::string body_hash = !remote.body_hash.empty() && remote.checked.body == envelope.body
                                    ? remote.body_hash
                                    : Sha256(envelope.body);
  RemoteResult seq_check = CheckSequence(body, body_hash, stream, *state);
  seq_check.stream = stream;
  seq_check.seq = body.seq();
  seq_check.events = body.events_size();
  if (seq_check.outcome != RemoteOutcome::kApplied) return seq_check;
  // Genuinely signed, and next in its stream, but by a key not valid at its time. Its
  // events are quarantined in a commit of its own, after the one in flight.
  if (verdict != KeyVerdict::kOk) {
    if (absl::Status prior = Collect(); !prior.ok()) return LocalFailure(prior);
    return RefuseForKey(body, stream, error, seq_check);
  }

  if (absl::Status guard = CheckClock(body.max_hlc()); !guard.ok()) {
    stats_.held_back.fetch_add(1, std::memory_order_relaxed);
    seq_check.outcome = RemoteOutcome::kHeldBack;
    seq_check.status = std::move(guard);
    return seq_check;
  }
  std::vector<KeyRecord> key_changes = PlanNotices(body, envelope.key_id);

  std::unique_ptr<InFlight> next = NewFlight(/*local=*/false);
  absl::Status planned =
      PlanRemote(body, body_hash, signed_delta, stream, *state, key_changes, next.get());
  if (planned.ok()) next->prepared = store_.Prepare(next->batch);  // while the delta before commits
  absl::Status prior = Settle(next.get());
  if (prior.ok()) prior = planned;
  if (!prior.ok()) return LocalFailure(prior, stream, body.seq());
  if (key_changes.empty()) {
    next->remote_job = job;
    next->remote_result = std::move(seq_check);
    HandOff(std::move(next));
    return std::nullopt;
  }
  // Key notices change what later deltas verify with: committed (synced) and applied to the
  // trust store before the next delta is looked at, and before the caller is answered.
  if (absl::Status s = store_.Commit(next->batch, std::move(next->prepared)); !s.ok()) {
    return LocalFailure(s);
  }
  trust_.Apply(key_changes);
  base::Logger("sync")->info("origin={} seq={} key notices applied: trusted keys changed={}",
                             stream.origin, body.seq(), key_changes.size());
  return RemoteCommitted(next->batch, std::move(seq_check));
}

absl::StatusOr<storage::StreamState> Writer::StreamBefore(const storage::StreamId& stream,
                                                          const v1::DeltaBody& body) {
  if (in_flight_ != nullptr && in_flight_->stream == stream) {
    const storage::StreamState& after = in_flight_->after;
    if (body.seq() == after.seq + 1 && body.prev_hash() == after.last_hash) return after;
    // Anything else (a duplicate, a gap, a fork) is judged against what is stored.
    Collect().IgnoreError();
  }
  absl::StatusOr<std::optional<storage::StreamState>> stored = store_.GetStream(stream);
  if (!stored.ok()) return stored.status();
  return stored->value_or(storage::StreamState{});
}

RemoteResult Writer::CheckSequence(const v1::DeltaBody& body, const std::string& hash,
                                   const storage::StreamId& stream,
                                   const storage::StreamState& state) {
  if (forks_.Contains(stream)) {
    return Result(RemoteOutcome::kFork,
                  absl::FailedPreconditionError(
                      "stream refused after a fork (`wlsync fork list`, `wlsync fork clear`)"));
  }
  if (stream == own_stream_ && body.seq() > state.seq) {
    return Result(RemoteOutcome::kRejected,
                  absl::FailedPreconditionError(
                      "delta of this node's own epoch beyond its log: was the data dir "
                      "restored from an old copy?"));
  }
  if (body.seq() <= state.seq) {
    absl::StatusOr<std::vector<std::pair<uint64_t, std::string>>> held =
        store_.ReadLog(stream, body.seq() - 1, 1);
    if (!held.ok()) return LocalFailure(held.status());
    v1::SignedDelta stored;
    if (!held->empty() && held->front().first == body.seq() &&
        stored.ParseFromString(held->front().second)) {
      std::string held_hash = Sha256(stored.body());
      if (held_hash != hash) return MarkForked(stream, body.seq(), held_hash, hash, body.seq());
    }
    stats_.duplicates.fetch_add(1, std::memory_order_relaxed);
    return Result(RemoteOutcome::kDuplicate, absl::OkStatus());
  }
  if (body.seq() > state.seq + 1) {
    stats_.gaps.fetch_add(1, std::memory_order_relaxed);
    return Result(RemoteOutcome::kGap,
                  absl::OutOfRangeError(
                      base::StrCat("gap: expected seq ", state.seq + 1, ", got ", body.seq())));
  }
  if (body.prev_hash() != state.last_hash) {
    return MarkForked(stream, state.seq, state.last_hash, body.prev_hash(), body.seq());
  }
  return Result(RemoteOutcome::kApplied, absl::OkStatus());
}

RemoteResult Writer::MarkForked(const storage::StreamId& stream, uint64_t seq,
                                const std::string& held_hash, const std::string& other_hash,
                                uint64_t refused_seq) {
  v1::ForkedStream fork;
  fork.set_origin(stream.origin);
  fork.set_epoch(stream.epoch);
  fork.set_seq(seq);
  fork.set_held_hash(held_hash);
  fork.set_other_hash(other_hash);
  fork.set_refused_seq(refused_seq);
  fork.set_since_unix_ms(static_cast<int64_t>(model::HlcMillis(clock_.WallNow())));
  absl::Status recorded = forks_.Add(fork);

  stats_.forks.fetch_add(1, std::memory_order_relaxed);
  base::Logger("sync")->error(
      "origin={} epoch={} seq={} fork: a different delta already holds this place; the "
      "stream is refused until an admin clears it (`wlsync fork clear`){}",
      stream.origin, model::HexEncode(stream.epoch), seq,
      recorded.ok() ? "" : base::StrCat("; ", recorded.message()));
  return Result(RemoteOutcome::kFork,
                absl::DataLossError(base::StrCat("fork at seq ", seq, " of ", stream.origin)));
}

absl::Status Writer::PlanRemote(const v1::DeltaBody& body, const std::string& body_hash,
                                const std::string& signed_delta, const storage::StreamId& stream,
                                const storage::StreamState& state,
                                const std::vector<KeyRecord>& key_changes, InFlight* flight) {
  internal::Overlay& overlay = *flight->overlay;
  v1::DeltaRef ref;
  ref.set_origin(stream.origin);
  ref.set_epoch(stream.epoch);
  ref.set_seq(body.seq());

  // A registration carries the person's home; remember it for people new here. Views into
  // the body, which outlives this call.
  absl::flat_hash_map<std::string_view, std::string_view> home_hints;
  for (const v1::Event& e : body.events()) {
    if (e.group() == v1::HOME) home_hints[e.pid()] = e.value().home();
  }

  storage::CommitBatch& batch = flight->batch;
  int64_t now_ms = static_cast<int64_t>(model::HlcMillis(clock_.WallNow()));
  for (int i = 0; i < body.events_size(); ++i) {
    const v1::Event& e = body.events(i);
    absl::Status verdict = ValidateEvent(body, e);
    absl::StatusOr<v1::Record*> record;
    if (verdict.ok()) {
      record = overlay.Get(e.pid());
      if (!record.ok()) return record.status();
      auto hint = home_hints.find(e.pid());
      verdict = planner_.CheckRemote(e, **record,
                                     hint == home_hints.end() ? std::string_view() : hint->second);
    }
    if (!verdict.ok()) {
      batch.quarantine.push_back({stream, body.seq(), i, model::IsValidPid(e.pid()) ? e.pid() : "",
                                  std::string(verdict.message()), now_ms});
      continue;
    }
    if (e.purge()) {
      overlay.Purge(e, *record);
    } else {
      overlay.Merge(e, ref, *record);
    }
  }

  clock_.Observe(body.max_hlc());
  batch.stream = stream;
  batch.seq = body.seq();
  batch.body_hash = body_hash;
  batch.signed_delta = signed_delta;
  batch.max_hlc = body.max_hlc();
  batch.created_unix_ms = body.created_unix_ms();
  batch.hlc_high_water = clock_.Current();
  batch.event_count = body.events_size();
  batch.stream_events_before = state.events;
  // Key notices change what later deltas verify with: make them durable now, so that a
  // crash cannot lose a rotation while the deltas signed with the new key are kept.
  batch.sync = !key_changes.empty();
  for (const KeyRecord& k : key_changes) batch.table_puts.push_back(TrustEntryPut(k));
  overlay.Fill(&batch);
  return absl::OkStatus();
}

RemoteResult Writer::RemoteCommitted(const storage::CommitBatch& batch, RemoteResult result) {
  result.quarantined = batch.quarantine.size();
  stats_.remote_deltas.fetch_add(1, std::memory_order_relaxed);
  stats_.remote_events.fetch_add(batch.event_count, std::memory_order_relaxed);
  if (!batch.quarantine.empty()) {
    stats_.quarantined.fetch_add(batch.quarantine.size(), std::memory_order_relaxed);
    base::Logger("sync")->warn("origin={} seq={} quarantined={} first_reason={}",
                               batch.stream.origin, batch.seq, batch.quarantine.size(),
                               base::Quote(batch.quarantine.front().reason));
  }
  return result;
}

absl::Status Writer::CheckClock(uint64_t hlc) {
  int64_t ahead_ms = static_cast<int64_t>(model::HlcMillis(hlc)) -
                     static_cast<int64_t>(model::HlcMillis(clock_.GuardNow()));
  if (ahead_ms <= options_.max_clock_skew_ms) return absl::OkStatus();
  return absl::UnavailableError(base::StrCat("clock guard: delta is ", ahead_ms,
                                             " ms ahead of the local clock (max ",
                                             options_.max_clock_skew_ms, " ms)"));
}

RepairResult Writer::ProcessRepair(Job& job) {
  Job::Repair& repair = std::get<Job::Repair>(job.work);
  RepairResult result;
  internal::Overlay overlay(store_);
  for (Job::RepairDelta& d : repair.deltas) {
    if (d.body == nullptr) {
      for (const std::string& pid : d.pids) result.refused.emplace_back(pid, d.refused.message());
      continue;
    }
    // The clock guard of applied deltas holds here too, and a merged delta moves the clock
    // up to its stamps, so a later local edit of the same group is stamped after them.
    uint64_t max_hlc = 0;
    for (const v1::Event& e : d.body->events()) max_hlc = std::max(max_hlc, e.stamp().hlc());
    if (absl::Status guard = CheckClock(max_hlc); !guard.ok()) {
      std::string reason = base::StrCat(guard.message(), "; left for the next reconciliation");
      for (const std::string& pid : d.pids) result.refused.emplace_back(pid, reason);
      continue;
    }
    ++result.deltas;
    if (absl::Status s = MergeRepair(*d.body, &overlay, &result.refused); !s.ok()) {
      result.status = s;
      return result;
    }
    clock_.Observe(max_hlc);
  }

  storage::CommitBatch batch;
  batch.hlc_high_water = clock_.Current();
  // Not acknowledged to anyone: a repair lost to a crash is simply found again next run.
  batch.sync = false;
  overlay.Fill(&batch);
  if (batch.record_refs.empty()) return result;
  if (absl::Status s = store_.Commit(batch); !s.ok()) {
    result.status = s;
    return result;
  }
  for (const v1::Record* r : batch.record_refs) result.repaired.push_back(r->pid());
  base::Logger("sync")->info("repaired records={} deltas={}", result.repaired.size(),
                             result.deltas);
  return result;
}

absl::Status Writer::MergeRepair(const v1::DeltaBody& body, internal::Overlay* overlay,
                                 std::vector<std::pair<std::string, std::string>>* refused) {
  // The body holds only the wanted pids' events, so every home hint is one of theirs.
  absl::flat_hash_map<std::string, std::string> home_hints;
  for (const v1::Event& e : body.events()) {
    if (e.group() == v1::HOME) home_hints[e.pid()] = e.value().home();
  }
  v1::DeltaRef ref;
  ref.set_origin(body.origin());
  ref.set_epoch(body.origin_epoch());
  ref.set_seq(body.seq());
  for (const v1::Event& e : body.events()) {
    absl::Status verdict = ValidateEvent(body, e);
    absl::StatusOr<v1::Record*> record;
    if (verdict.ok()) {
      record = overlay->Get(e.pid());
      if (!record.ok()) return record.status();
      auto hint = home_hints.find(e.pid());
      verdict = planner_.CheckRemote(e, **record,
                                     hint == home_hints.end() ? std::string_view() : hint->second);
    }
    if (!verdict.ok()) {
      refused->emplace_back(e.pid(), std::string(verdict.message()));
      continue;
    }
    v1::GroupState* stored = (*record)->mutable_groups(e.group() - 1);
    if (stored->stamp().hlc() == e.stamp().hlc() && stored->stamp().node() == e.stamp().node()) {
      stored->Clear();  // same stamp, other content: the signed event is the proof
    }
    if (e.purge()) {
      overlay->Purge(e, *record);
    } else {
      overlay->Merge(e, ref, *record);
    }
  }
  return absl::OkStatus();
}

}  // namespace wlsync::sync
