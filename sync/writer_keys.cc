// Writer: the signing-key lifecycle on the write path. A rotation or a revocation of this node's
// key is a delta of key notices signed with the current key; notices in verified remote deltas
// change the trust store in the same commit as the delta; a delta signed by a key that is not valid
// at its time is refused and its events quarantined.
#include "base/logging.h"
#include "base/strings.h"
#include "model/hlc.h"
#include "model/pid.h"
#include "sync/key_lifecycle.h"
#include "sync/writer.h"
#include "sync/writer_internal.h"

namespace wlsync::sync {
namespace {

std::string NoticeSource(const v1::DeltaBody& body) {
  return base::StrCat(body.origin(), "/", model::HexEncode(body.origin_epoch()), "/", body.seq());
}

}  // namespace

absl::Status Writer::ProcessKeyChange(Job& job) {
  auto& change = std::get<Job::KeyChange>(job.work);
  const std::string& self = own_stream_.origin;
  std::shared_ptr<const SigningKey> current = key_.current();

  if (change.next.has_value()) {
    const SigningKey& next = *change.next;
    v1::KeyNotice notice;
    notice.set_kind(v1::KeyNotice::ROTATE);
    notice.set_public_key(next.public_key());
    notice.set_endorsement(
        next.SignRaw(KeyEndorsementMessage(self, current->key_id(), next.public_key())));
    absl::Status s = CommitKeyNotice(std::move(notice));
    if (s.ok()) {
      key_.Replace(next);
      base::Logger("sync")->info("node={} signing key rotated: old_key={} new_key={}", self,
                                 current->key_id(), next.key_id());
    }
    return s;
  }

  if (change.node != self) {
    // Another node's key, revoked by this node's operator: recorded here only.
    // LIMITATION: with no vouched positions, this refuses everything signed with the key
    // after the time, the origin's own later rotation notice included (it is signed with
    // the revoked key); an origin that comes back must be re-anchored by hand (its new
    // public_key in the config and a restart).
    absl::StatusOr<KeyRecord> revoked =
        trust_.PlanRevoke(change.node, change.key_id, change.from_unix_ms, "local");
    if (!revoked.ok()) return revoked.status();
    storage::TableBatch batch;
    batch.puts.push_back(TrustEntryPut(*revoked));
    if (absl::Status s = store_.Write(batch, /*sync=*/true); !s.ok()) return s;
    trust_.Apply({*revoked});
    base::Logger("sync")->warn("node={} key={} revoked here from unix_ms={} (local decision)",
                               change.node, change.key_id, change.from_unix_ms);
    return absl::OkStatus();
  }

  if (change.key_id == current->key_id()) {
    return absl::FailedPreconditionError(
        base::StrCat("key ", change.key_id,
                     " is this node's current signing key: rotate to a new key first "
                     "(`wlsync key rotate`), then revoke this one"));
  }
  if (!trust_.Find(self, change.key_id).has_value()) {
    return absl::NotFoundError(base::StrCat("key ", change.key_id, " is not a key of ", self));
  }
  v1::KeyNotice notice;
  notice.set_kind(v1::KeyNotice::REVOKE);
  notice.set_key_id(change.key_id);
  notice.set_revoked_from_unix_ms(change.from_unix_ms);
  // Vouch for every delta of this node that it holds: they are its own, whatever key and time; only
  // what it never made is refused.
  absl::StatusOr<std::vector<std::pair<storage::StreamId, storage::StreamState>>> streams =
      store_.Streams();
  if (!streams.ok()) return streams.status();
  for (const auto& [stream, state] : *streams) {
    if (stream.origin != self || state.seq == 0) continue;
    v1::StreamMark* mark = notice.add_vouched();
    mark->set_epoch(stream.epoch);
    mark->set_seq(state.seq);
  }
  absl::Status s = CommitKeyNotice(std::move(notice));
  if (s.ok()) {
    base::Logger("sync")->warn("node={} own key={} revoked from unix_ms={}; peers are told", self,
                               change.key_id, change.from_unix_ms);
  }
  return s;
}

absl::Status Writer::CommitKeyNotice(v1::KeyNotice notice) {
  internal::Overlay overlay(store_);
  v1::DeltaBody& body = *google::protobuf::Arena::CreateMessage<v1::DeltaBody>(overlay.arena());
  body.set_origin(own_stream_.origin);
  body.set_origin_epoch(own_stream_.epoch);
  body.set_seq(own_state_.seq + 1);
  // A delta of notices has no events: its HLC is a fresh stamp, so that the retired key's window
  // ends exactly here and the new key's begins after it.
  body.set_max_hlc(clock_.Tick());
  *body.add_key_notices() = std::move(notice);

  std::shared_ptr<const SigningKey> signer = key_.current();
  std::vector<KeyRecord> changes = PlanNotices(body, signer->key_id());
  if (changes.empty()) return absl::InternalError("key notice: this node's own notice was refused");
  std::vector<storage::TableBatch::Put> puts;
  for (const KeyRecord& k : changes) puts.push_back(TrustEntryPut(k));
  if (absl::Status s = CommitLocal(&body, &overlay, std::move(puts)); !s.ok()) return s;
  trust_.Apply(changes);
  return absl::OkStatus();
}

std::vector<KeyRecord> Writer::PlanNotices(const v1::DeltaBody& body, std::string_view key_id) {
  std::vector<KeyRecord> out;
  for (const v1::KeyNotice& n : body.key_notices()) {
    absl::Status verdict;
    if (n.kind() == v1::KeyNotice::ROTATE) {
      absl::StatusOr<std::vector<KeyRecord>> changes =
          trust_.PlanRotate(body.origin(), key_id, n.public_key(), n.endorsement(), body.max_hlc(),
                            NoticeSource(body));
      if (changes.ok()) out.insert(out.end(), changes->begin(), changes->end());
      verdict = changes.status();
    } else if (n.kind() == v1::KeyNotice::REVOKE) {
      std::map<std::string, uint64_t> vouched;
      for (const v1::StreamMark& m : n.vouched()) vouched[m.epoch()] = m.seq();
      absl::StatusOr<KeyRecord> revoked =
          trust_.PlanRevoke(body.origin(), n.key_id(), n.revoked_from_unix_ms(), "origin", vouched);
      if (revoked.ok()) out.push_back(*revoked);
      verdict = revoked.status();
    } else {
      verdict = absl::InvalidArgumentError("key notice: unknown kind");
    }
    if (verdict.ok()) {
      stats_.key_notices.fetch_add(1, std::memory_order_relaxed);
    } else {
      stats_.bad_key_notices.fetch_add(1, std::memory_order_relaxed);
      base::Logger("sync")->error("origin={} seq={} key notice refused: {}", body.origin(),
                                  body.seq(), verdict.message());
    }
  }
  return out;
}

RemoteResult Writer::RefuseForKey(const v1::DeltaBody& body, const storage::StreamId& stream,
                                  absl::Status why, RemoteResult result) {
  stats_.key_refusals.fetch_add(1, std::memory_order_relaxed);
  result.outcome = RemoteOutcome::kRejected;
  result.key_refused = true;
  result.status = why;
  if (!key_quarantined_.emplace(stream, body.seq()).second) return result;

  storage::CommitBatch batch;
  int64_t now_ms = static_cast<int64_t>(model::HlcMillis(clock_.WallNow()));
  for (int i = 0; i < body.events_size(); ++i) {
    const v1::Event& e = body.events(i);
    batch.quarantine.push_back({stream, body.seq(), i, model::IsValidPid(e.pid()) ? e.pid() : "",
                                std::string(why.message()), now_ms});
  }
  batch.hlc_high_water = clock_.Current();
  batch.sync = false;
  if (absl::Status s = store_.Commit(batch); !s.ok()) {
    key_quarantined_.erase({stream, body.seq()});
    result.local_failure = true;
    result.status = s;
    return result;
  }
  result.quarantined = batch.quarantine.size();
  stats_.quarantined.fetch_add(batch.quarantine.size(), std::memory_order_relaxed);
  base::Logger("sync")->error(
      "origin={} seq={} refused for its signing key, events quarantined={}: {}", stream.origin,
      body.seq(), batch.quarantine.size(), why.message());
  return result;
}

}  // namespace wlsync::sync
