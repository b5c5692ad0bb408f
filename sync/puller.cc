#include "sync/puller.h"

#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <deque>
#include <optional>
#include <random>

#include "base/logging.h"
#include "base/strings.h"
#include "model/hlc.h"
#include "model/pid.h"
#include "net/credentials.h"
#include "sync/freezes.h"
#include "wlsync/v1/peer.grpc.pb.h"

namespace wlsync::sync {
namespace {

int64_t NowMs() { return model::SystemWallClock().NowMs(); }

// How often a frozen link checks whether it was unfrozen.
constexpr int64_t kFrozenCheckMs = 500;

}  // namespace

// A delta held back by the clock guard, with the stream it blocks.
struct Puller::Held {
  storage::StreamId stream;
  std::string signed_delta;
};

Puller::Puller(PullerOptions options, const storage::Store& store, Writer& writer)
    : options_(std::move(options)), store_(store), writer_(writer) {}

Puller::~Puller() { Stop(); }

void Puller::Start() { thread_ = std::thread([this] { Run(); }); }

void Puller::Stop() {
  stopping_.store(true);
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (context_ != nullptr) context_->TryCancel();
  }
  stop_cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

v1::PeerStatus Puller::Status() const {
  v1::PeerStatus s;
  s.set_name(options_.peer);
  s.set_address(options_.endpoint);
  std::lock_guard<std::mutex> lock(mu_);
  s.set_connected(connected_);
  s.set_last_error(last_error_);
  s.set_lag_events(lag_events_);
  s.set_lag_seconds(lag_seconds_);
  s.set_lag_known(lag_known_);
  for (const std::string& o : held_origins_) s.add_held_back_origins(o);
  return s;
}

void Puller::SetError(std::string error) {
  std::lock_guard<std::mutex> lock(mu_);
  last_error_ = std::move(error);
}

void Puller::Run() {
  auto log = base::Logger("peer");
  std::mt19937_64 rng(std::random_device{}());
  int64_t backoff = options_.reconnect_min_ms;
  while (!stopping_.load()) {
    if (Frozen()) {
      std::unique_lock<std::mutex> lock(mu_);
      stop_cv_.wait_for(lock, std::chrono::milliseconds(kFrozenCheckMs),
                        [&] { return stopping_.load(); });
      continue;
    }
    int64_t started = NowMs();
    PullOnce();
    if (stopping_.load()) break;
    // A connection that lived a while resets the backoff; quick failures grow it.
    if (NowMs() - started > options_.reconnect_max_ms) backoff = options_.reconnect_min_ms;
    int64_t jitter = static_cast<int64_t>(rng() % static_cast<uint64_t>(backoff / 2 + 1));
    int64_t wait = backoff / 2 + jitter;
    log->debug("peer={} reconnect in {} ms", options_.peer, wait);
    std::unique_lock<std::mutex> lock(mu_);
    stop_cv_.wait_for(lock, std::chrono::milliseconds(wait), [&] { return stopping_.load(); });
    backoff = std::min(backoff * 2, options_.reconnect_max_ms);
  }
}

void Puller::PullOnce() {
  auto log = base::Logger("peer");
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(static_cast<int>(options_.max_message_bytes));
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, static_cast<int>(options_.reconnect_min_ms));
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, static_cast<int>(options_.reconnect_max_ms));
  auto channel = grpc::CreateCustomChannel(
      options_.endpoint, net::PeerChannelCredentials(options_.tls, options_.peer), args);
  auto stub = v1::Peer::NewStub(channel);

  v1::PullRequest request;
  request.set_node(options_.self);
  request.set_federation_check(options_.federation_check);
  absl::StatusOr<std::vector<std::pair<storage::StreamId, storage::StreamState>>> streams =
      store_.Streams();
  if (!streams.ok()) {
    SetError(std::string(streams.status().message()));
    return;
  }
  for (const auto& [id, state] : *streams) {
    v1::Cursor* c = request.add_cursors();
    c->set_origin(id.origin);
    c->set_epoch(id.epoch);
    c->set_seq(state.seq);
  }

  grpc::ClientContext context;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopping_.load()) return;
    context_ = &context;
  }
  std::unique_ptr<grpc::ClientReader<v1::PullResponse>> reader = stub->Pull(&context, request);

  std::vector<Held> held;
  v1::PullResponse response;
  bool restart = false;
  // Deltas submitted, their results not read yet, oldest first: while the writer plans one
  // delta and the one before it commits, this thread receives, hashes, checks and parses
  // the next. Results are read in order.
  struct Submitted {
    std::future<RemoteResult> result;
    std::string signed_delta;  // kept for a delta held back by the clock guard
  };
  constexpr size_t kInFlight = 2;
  std::deque<Submitted> pending;
  auto finish_oldest = [&]() -> bool {  // false: restart
    RemoteResult r = pending.front().result.get();
    std::string signed_delta = std::move(pending.front().signed_delta);
    pending.pop_front();
    return Handle(std::move(r), std::move(signed_delta), &held);
  };
  auto finish_all = [&]() -> bool {
    while (!pending.empty()) {
      if (!finish_oldest()) return false;
    }
    return true;
  };
  // This connection starts from the cursors anyway.
  resync_.store(false);
  std::optional<std::string> server_fingerprint;  // of this connection, read once
  while (!restart && reader->Read(&response)) {
    if (!server_fingerprint) server_fingerprint = net::ServerFingerprint(context);
    // A freeze, or a revoked or unpinned certificate, cuts the live stream at the next
    // message (heartbeats: 1 s).
    if (Frozen() || CertRefused(*server_fingerprint) || resync_.exchange(false)) {
      restart = true;
      break;
    }
    last_contact_ms_.store(NowMs());
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (!connected_) {
        log->info("peer={} connected endpoint={}", options_.peer, options_.endpoint);
        last_error_.clear();
      }
      connected_ = true;
    }
    if (response.has_heartbeat()) {
      restart = !finish_all();
      if (!restart) {
        UpdateLag(response.heartbeat());
        restart = RetryHeld(&held);
      }
    } else {
      std::string signed_delta = std::move(*response.mutable_signed_delta());
      std::future<RemoteResult> result = writer_.SubmitRemote(signed_delta);
      pending.push_back(Submitted{std::move(result), std::move(signed_delta)});
      while (!restart && pending.size() > kInFlight) restart = !finish_oldest();
    }
  }
  if (restart) {
    context.TryCancel();
    // Submitted before the restart: counted, not acted on.
    for (Submitted& s : pending) Count(s.result.get());
  } else {
    finish_all();  // the stream ended: the next connection starts from the cursors
  }
  grpc::Status status = reader->Finish();

  std::lock_guard<std::mutex> lock(mu_);
  context_ = nullptr;
  if (connected_) {
    log->warn("peer={} disconnected: {}", options_.peer,
              status.ok() ? std::string("stream ended") : status.error_message());
  }
  connected_ = false;
  lag_known_ = false;  // until a heartbeat of the next connection
  lag_events_ = 0;
  lag_seconds_ = 0;
  if (!status.ok() && !restart && !stopping_.load()) {
    const std::string& m = status.error_message();
    last_error_ = m.rfind("pull: ", 0) == 0 ? m : base::StrCat("pull: ", m);
  }
}

bool Puller::Frozen() {
  if (options_.freezes == nullptr) return false;
  std::optional<v1::FrozenPeer> f = options_.freezes->Get(options_.peer);
  if (!f) return false;
  SetError(base::StrCat("frozen: this node has frozen its link with ", options_.peer,
                        " (emergency freeze: ", f->reason(), ")"));
  return true;
}

bool Puller::CertRefused(const std::string& fingerprint) {
  absl::Status s = net::RecheckPeer(options_.tls.get(), net::PeerSide::kServer, options_.peer,
                                    fingerprint, options_.endpoint);
  if (s.ok()) return false;
  SetError(std::string(s.message()));
  return true;
}

bool Puller::Handle(RemoteResult r, std::string signed_delta, std::vector<Held>* held) {
  auto log = base::Logger("peer");
  Count(r);
  // Deltas behind a held-back one of the same stream wait for it.
  if (r.outcome == RemoteOutcome::kGap &&
      std::any_of(held->begin(), held->end(), [&](const Held& h) { return h.stream == r.stream; })) {
    return true;
  }
  switch (r.outcome) {
    case RemoteOutcome::kApplied:
    case RemoteOutcome::kDuplicate:
      return true;
    case RemoteOutcome::kGap:
      log->info("peer={} origin={} {}; pulling again from the cursor", options_.peer,
                r.stream.origin, r.status.message());
      return false;
    case RemoteOutcome::kHeldBack: {
      log->warn("peer={} origin={} seq={} held back: {}", options_.peer, r.stream.origin, r.seq,
                r.status.message());
      held->push_back({r.stream, std::move(signed_delta)});
      std::lock_guard<std::mutex> lock(mu_);
      held_origins_.push_back(r.stream.origin);
      last_error_ = base::StrCat("origin ", r.stream.origin, ": ", r.status.message());
      return true;
    }
    case RemoteOutcome::kFork:
    case RemoteOutcome::kRejected:
      if (r.stream.origin.empty()) {
        // Nothing in it verified, not even the origin it names: the message says what failed.
        log->error("peer={} delta {}: {}", options_.peer, RemoteOutcomeName(r.outcome),
                   r.status.message());
      } else {
        log->error("peer={} origin={} seq={} {}: {}", options_.peer, r.stream.origin, r.seq,
                   RemoteOutcomeName(r.outcome), r.status.message());
      }
      SetError(base::StrCat(RemoteOutcomeName(r.outcome), ": ", r.status.message()));
      // This node could not store it (a full disk, say): the cursor did not move, so pull
      // again from it after the reconnect backoff rather than wait for a later delta.
      return !r.local_failure;
  }
  return true;
}

bool Puller::RetryHeld(std::vector<Held>* held) {
  if (held->empty()) return false;
  bool released = false;
  for (auto it = held->begin(); it != held->end();) {
    RemoteResult r = writer_.ApplyRemote(it->signed_delta);
    if (r.outcome == RemoteOutcome::kHeldBack) {
      ++it;
      continue;
    }
    Count(r);
    base::Logger("peer")->info("peer={} origin={} seq={} released by the clock guard: {}",
                               options_.peer, it->stream.origin, r.seq,
                               RemoteOutcomeName(r.outcome));
    it = held->erase(it);
    released = true;
  }
  std::lock_guard<std::mutex> lock(mu_);
  held_origins_.clear();
  for (const Held& h : *held) held_origins_.push_back(h.stream.origin);
  // Once released, pull again so that the stream's later deltas follow from the cursor.
  return released;
}

void Puller::Count(const RemoteResult& r) {
  if (r.outcome == RemoteOutcome::kApplied && r.stream.origin == options_.self) {
    // Only a data dir that lost them (wiped, or restored from an old copy) takes its own
    // deltas from a peer.
    std::string epoch = model::HexEncode(r.stream.epoch);
    if (own_recovered_.Get({epoch}) == 0) {
      base::Logger("peer")->warn(
          "peer={} origin={} epoch={} seq={} this node's own delta of an earlier epoch came "
          "back from the peer: its data dir had lost it (wiped, or restored from an old copy)",
          options_.peer, r.stream.origin, epoch, r.seq);
    }
    own_recovered_.Add({epoch});
  }
  std::string origin = r.stream.origin.empty() ? "unknown" : r.stream.origin;
  std::string outcome(r.signature_failed ? "bad_signature" : RemoteOutcomeName(r.outcome));
  received_deltas_.Add({origin, outcome});
  if (r.events > 0) received_events_.Add({origin, outcome}, r.events - r.quarantined);
  if (r.quarantined > 0) received_events_.Add({origin, "quarantined"}, r.quarantined);
}

void Puller::UpdateLag(const v1::Heartbeat& heartbeat) {
  int64_t now = NowMs();
  uint64_t events = 0;
  double seconds = 0;
  std::lock_guard<std::mutex> lock(mu_);
  std::map<storage::StreamId, int64_t> still_behind;
  for (const v1::StreamInfo& info : heartbeat.streams()) {
    storage::StreamId id{info.origin(), info.epoch()};
    absl::StatusOr<std::optional<storage::StreamState>> local = store_.GetStream(id);
    if (!local.ok()) continue;
    storage::StreamState mine = local->value_or(storage::StreamState{});
    if (info.events() > mine.events) events += info.events() - mine.events;
    if (info.seq() <= mine.seq) continue;
    if (mine.seq > 0) {
      seconds = std::max(seconds, (info.last_unix_ms() - mine.last_unix_ms) / 1000.0);
      continue;
    }
    // Nothing held of this stream yet: behind since this node first saw it.
    auto it = behind_since_.find(id);
    int64_t since = it != behind_since_.end() ? it->second : now;
    still_behind[id] = since;
    seconds = std::max(seconds, (now - since) / 1000.0);
  }
  behind_since_ = std::move(still_behind);
  lag_events_ = events;
  lag_seconds_ = std::max(0.0, seconds);
  lag_known_ = true;
}

}  // namespace wlsync::sync
