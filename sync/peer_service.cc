#include "sync/peer_service.h"

#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/wire_format_lite.h>
#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <map>
#include <optional>
#include <string_view>
#include <vector>

#include "base/logging.h"
#include "base/strings.h"
#include "model/digest.h"
#include "model/fields.h"
#include "model/pid.h"
#include "net/credentials.h"
#include "sync/delta_scan.h"
#include "sync/freezes.h"
#include "sync/send_order.h"
#include "wlsync/v1/peer.grpc.pb.h"

namespace wlsync::sync {
namespace {

constexpr size_t kRoundDeltas = 64;  // deltas sent between two looks at the link
constexpr int kIdleWaitMs = 1000;

constexpr int kMaxPrefixes = 4096;
constexpr int kMaxBuckets = 1024;
constexpr int kMaxPids = 4096;

// The digest size a request asks for (0 means whole); nothing when out of range.
std::optional<size_t> DigestSizeOf(uint32_t asked) {
  if (asked == 0) return model::kDigestSize;
  if (!model::IsShortDigestSize(asked)) return std::nullopt;
  return asked;
}
constexpr int kMaxRefs = 16;
constexpr size_t kMaxDeltaBytes = 2 << 20;

grpc::Status Invalid(std::string message) {
  return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, std::move(message));
}

grpc::Status Unavailable(const absl::Status& s) {
  return grpc::Status(grpc::StatusCode::UNAVAILABLE, std::string(s.message()));
}

using google::protobuf::internal::WireFormatLite;

// Field numbers of SignedDelta.body and DeltaBody.events (delta.proto).
constexpr int kBodyField = 1;
constexpr int kEventsField = 7;

// Counts the occurrences of field `number` at the top level of a message; -1 when the bytes
// are not a well-formed message. With `field`, also returns the bytes of the last
// length-delimited occurrence (a view into `bytes`).
int64_t CountField(std::string_view bytes, int number, std::string_view* field = nullptr) {
  google::protobuf::io::CodedInputStream in(reinterpret_cast<const uint8_t*>(bytes.data()),
                                            static_cast<int>(bytes.size()));
  int64_t count = 0;
  while (uint32_t tag = in.ReadTag()) {
    bool wanted = WireFormatLite::GetTagFieldNumber(tag) == number;
    count += wanted ? 1 : 0;
    if (wanted && field != nullptr &&
        WireFormatLite::GetTagWireType(tag) == WireFormatLite::WIRETYPE_LENGTH_DELIMITED) {
      uint32_t size = 0;
      if (!in.ReadVarint32(&size) || !in.Skip(static_cast<int>(size))) return -1;
      *field = bytes.substr(static_cast<size_t>(in.CurrentPosition()) - size, size);
      continue;
    }
    if (!WireFormatLite::SkipField(&in, tag)) return -1;
  }
  return static_cast<size_t>(in.CurrentPosition()) == bytes.size() ? count : -1;
}

class PeerServiceImpl final : public v1::Peer::Service {
 public:
  PeerServiceImpl(const storage::Store& store, const model::HybridClock& clock,
                  const TrustStore& trust, const NodeKey& key, std::string node,
                  std::string federation_check, std::shared_ptr<const net::NodeTls> tls,
                  const PeerFreezes* freezes, SendCounters* sent)
      : freezes_(freezes),
        sent_(sent),
        store_(store),
        clock_(clock),
        trust_(trust),
        key_(key),
        node_(std::move(node)),
        federation_check_(std::move(federation_check)),
        tls_(std::move(tls)) {}

  grpc::Status GetTree(grpc::ServerContext* context, const v1::TreeRequest* request,
                       v1::TreeResponse* response) override {
    if (grpc::Status s = Admit(*context, request->node()); !s.ok()) return s;
    if (request->prefixes_size() > kMaxPrefixes) {
      return Invalid(base::StrCat("prefixes: at most ", kMaxPrefixes, " per call"));
    }
    std::optional<size_t> size = DigestSizeOf(request->digest_bytes());
    if (!size) return Invalid("digest_bytes: must be 0 or 8 to 16");
    storage::TreeNode root = store_.DigestNode("");
    response->set_node(node_);
    response->set_epoch(store_.epoch());
    response->set_root_digest(model::DigestBytes(root.digest));
    response->set_root_count(root.count);
    response->set_hlc(clock_.Current());
    absl::StatusOr<std::vector<std::pair<storage::StreamId, storage::StreamState>>> streams =
        store_.Streams();
    if (!streams.ok()) return Unavailable(streams.status());
    for (const auto& [id, state] : *streams) {
      v1::Cursor* c = response->add_cursors();
      c->set_origin(id.origin);
      c->set_epoch(id.epoch);
      c->set_seq(state.seq);
    }
    for (const std::string& prefix : request->prefixes()) {
      if (prefix.size() >= static_cast<size_t>(storage::kTreeDepth) ||
          storage::DigestTree::IndexOf(prefix) < 0) {
        return Invalid("prefixes: each must be 0 to 3 base32 characters");
      }
      v1::TreeChildren* children = response->add_children();
      children->set_prefix(prefix);
      for (const storage::TreeNode& n : store_.DigestChildren(prefix)) {
        children->mutable_digests()->append(model::DigestBytes(n.digest), 0, *size);
        children->add_counts(n.count);
      }
    }
    return grpc::Status::OK;
  }

  grpc::Status GetBuckets(grpc::ServerContext* context, const v1::BucketsRequest* request,
                          v1::BucketsResponse* response) override {
    if (grpc::Status s = Admit(*context, request->node()); !s.ok()) return s;
    if (request->buckets_size() > kMaxBuckets) {
      return Invalid(base::StrCat("buckets: at most ", kMaxBuckets, " per call"));
    }
    std::optional<size_t> size = DigestSizeOf(request->digest_bytes());
    if (!size) return Invalid("digest_bytes: must be 0 or 8 to 16");
    for (const std::string& bucket : request->buckets()) {
      if (bucket.size() != static_cast<size_t>(storage::kTreeDepth) ||
          storage::DigestTree::IndexOf(bucket) < 0) {
        return Invalid("buckets: each must be 4 base32 characters");
      }
      v1::BucketEntries* entries = response->add_buckets();
      entries->set_bucket(bucket);
      std::unique_ptr<storage::RecordCursor> cursor = store_.ScanRecords(bucket);
      for (; cursor->Valid(); cursor->Next()) {
        absl::StatusOr<v1::Record> record = cursor->record();
        if (!record.ok()) return Unavailable(record.status());
        entries->add_pids(record->pid());
        entries->mutable_digests()->append(model::DigestBytes(model::RecordDigest(*record)), 0,
                                           *size);
      }
      if (!cursor->status().ok()) return Unavailable(cursor->status());
    }
    return grpc::Status::OK;
  }

  grpc::Status GetRecordRefs(grpc::ServerContext* context, const v1::RecordRefsRequest* request,
                             v1::RecordRefsResponse* response) override {
    if (grpc::Status s = Admit(*context, request->node()); !s.ok()) return s;
    if (request->pids_size() > kMaxPids) {
      return Invalid(base::StrCat("pids: at most ", kMaxPids, " per call"));
    }
    // The caller's group digests, when sent: kGroupCount per pid, all of one size.
    const std::string& theirs = request->group_digests();
    const size_t pids = request->pids_size();
    const size_t per_pid = pids == 0 ? 0 : theirs.size() / pids;
    const size_t size = per_pid / model::kGroupCount;
    if (!theirs.empty() && (per_pid * pids != theirs.size() ||
                            size * model::kGroupCount != per_pid ||
                            !model::IsShortDigestSize(size))) {
      return Invalid("group_digests: must hold 9 digests of 8 to 16 bytes per pid");
    }
    for (size_t i = 0; i < pids; ++i) {
      const std::string& pid = request->pids(static_cast<int>(i));
      if (!model::IsValidPid(pid)) return Invalid("pids: malformed pid");
      v1::RecordRefs* refs = response->add_records();
      refs->set_pid(pid);
      absl::StatusOr<std::optional<v1::Record>> record = store_.GetRecord(pid);
      if (!record.ok()) return Unavailable(record.status());
      if (!record->has_value()) continue;
      refs->set_exists(true);
      refs->set_digest(model::DigestBytes(model::RecordDigest(**record)));
      for (int g = 0; g < (*record)->groups_size(); ++g) {
        const v1::GroupState& state = (*record)->groups(g);
        if (state.stamp().hlc() == 0) continue;
        const auto group = static_cast<v1::Group>(g + 1);
        std::string digest = model::DigestBytes(model::GroupDigest(**record, group));
        if (!theirs.empty()) {
          if (std::string_view(theirs).substr(i * per_pid + g * size, size) ==
              std::string_view(digest).substr(0, size)) {
            refs->set_same_groups(refs->same_groups() | (1u << g));
            continue;
          }
          digest.clear();  // the caller knows it differs
        }
        v1::GroupRef* ref = refs->add_groups();
        ref->set_group(group);
        *ref->mutable_stamp() = state.stamp();
        *ref->mutable_writer() = state.writer();
        ref->set_digest(std::move(digest));
      }
    }
    return grpc::Status::OK;
  }

  grpc::Status GetDeltas(grpc::ServerContext* context, const v1::GetDeltasRequest* request,
                         v1::GetDeltasResponse* response) override {
    if (grpc::Status s = Admit(*context, request->node()); !s.ok()) return s;
    if (request->refs_size() > kMaxRefs) {
      return Invalid(base::StrCat("refs: at most ", kMaxRefs, " per call"));
    }
    size_t bytes = 0;
    for (const v1::DeltaRef& ref : request->refs()) {
      if (ref.seq() == 0) return Invalid("refs: seq must be at least 1");
      absl::StatusOr<std::vector<std::pair<uint64_t, std::string>>> entry =
          store_.ReadLog({ref.origin(), ref.epoch()}, ref.seq() - 1, 1);
      if (!entry.ok()) return Unavailable(entry.status());
      if (entry->empty() || entry->front().first != ref.seq()) continue;
      if (bytes > 0 && bytes + entry->front().second.size() > kMaxDeltaBytes) break;
      bytes += entry->front().second.size();
      response->add_signed_deltas(std::move(entry->front().second));
    }
    return grpc::Status::OK;
  }

  grpc::Status SignAgreement(grpc::ServerContext* context, const v1::AgreementRequest* request,
                             v1::AgreementResponse* response) override {
    if (grpc::Status s = Admit(*context, request->node()); !s.ok()) return s;
    v1::AgreementStatement statement;
    if (!statement.ParseFromString(request->statement())) return Invalid("statement: does not parse");
    storage::TreeNode root = store_.DigestNode("");
    if (statement.node_b() != node_ || statement.epoch_b() != store_.epoch() ||
        statement.root_digest() != model::DigestBytes(root.digest) ||
        statement.record_count() != root.count) {
      return grpc::Status(grpc::StatusCode::FAILED_PRECONDITION,
                          "agreement: this node's state no longer matches the statement");
    }
    std::string message(kAgreementDomain);
    message.append(request->statement());
    std::shared_ptr<const SigningKey> key = key_.current();
    response->set_key_id(key->key_id());
    response->set_signature(key->SignRaw(message));
    return grpc::Status::OK;
  }

  grpc::Status Pull(grpc::ServerContext* context, const v1::PullRequest* request,
                    grpc::ServerWriter<v1::PullResponse>* writer) override {
    std::string fingerprint;
    if (grpc::Status s = Admit(*context, request->node(), &fingerprint); !s.ok()) return s;
    if (request->federation_check() != federation_check_) {
      base::Logger("peer")->error(
          "peer={} refused: its federation key differs from this node's; the two would "
          "file the same person under different pids",
          request->node());
      return grpc::Status(grpc::StatusCode::FAILED_PRECONDITION,
                          "pull: the federation key differs from this node's (pids would not "
                          "match); copy the federation key file from the first jurisdiction");
    }
    std::map<storage::StreamId, uint64_t> cursors;
    for (const v1::Cursor& c : request->cursors()) {
      cursors[storage::StreamId{c.origin(), c.epoch()}] = c.seq();
    }
    auto log = base::Logger("peer");
    log->info("peer={} pull started streams={}", request->node(), cursors.size());
    SendOrder order(cursors);

    uint64_t generation = 0;
    // A heartbeat at least this often, also while a backlog streams, so that the puller's
    // lag stays current while it catches up.
    constexpr auto kHeartbeatEvery = std::chrono::seconds(1);
    auto last_heartbeat = std::chrono::steady_clock::now();
    while (!context->IsCancelled() && !store_.closing()) {
      // A freeze, or a revoked or unpinned certificate, cuts a live stream too, within one
      // idle wait.
      if (grpc::Status s = CheckLink(*context, request->node(), fingerprint); !s.ok()) return s;
      generation = store_.generation();
      absl::StatusOr<std::vector<std::pair<storage::StreamId, storage::StreamState>>> streams =
          store_.Streams();
      if (!streams.ok()) {
        return grpc::Status(grpc::StatusCode::UNAVAILABLE, std::string(streams.status().message()));
      }
      // Up to a round's worth of deltas, then the checks above again.
      std::vector<const StreamEntry*> ordered = InWrittenOrder(*streams);
      for (size_t n = 0; n < kRoundDeltas; ++n) {
        if (absl::Status s = order.Fill(store_, ordered); !s.ok()) return Unavailable(s);
        std::optional<SendOrder::Delta> next = order.Pop();
        if (!next) break;
        v1::PullResponse response;
        size_t size = next->bytes.size();
        uint64_t events = sent_ != nullptr ? CountEvents(next->bytes) : 0;
        response.set_signed_delta(std::move(next->bytes));
        if (!writer->Write(response)) return grpc::Status::CANCELLED;
        if (sent_ != nullptr) {
          sent_->deltas.Add({request->node(), next->stream.origin});
          sent_->events.Add({request->node(), next->stream.origin}, events);
          sent_->bytes.Add({request->node(), next->stream.origin}, size);
        }
      }
      bool more = order.Pending(*streams);
      bool due = std::chrono::steady_clock::now() - last_heartbeat >= kHeartbeatEvery;
      if (more && !due) continue;
      if (!writer->Write(Heartbeat(*streams))) return grpc::Status::CANCELLED;
      last_heartbeat = std::chrono::steady_clock::now();
      if (more) continue;
      store_.WaitForCommit(generation, kIdleWaitMs);
    }
    log->info("peer={} pull ended", request->node());
    return grpc::Status::OK;
  }

 private:
  // The caller's certificate first (it proves the name), then the name itself. With
  // `fingerprint`, returns the caller's certificate for CheckLink.
  grpc::Status Admit(const grpc::ServerContext& context, const std::string& node,
                     std::string* fingerprint = nullptr) const {
    if (absl::Status s = net::AuthenticatePeer(tls_.get(), context, node, fingerprint); !s.ok()) {
      return grpc::Status(grpc::StatusCode::UNAUTHENTICATED, std::string(s.message()));
    }
    if (!trust_.Knows(node)) {
      return grpc::Status(grpc::StatusCode::PERMISSION_DENIED,
                          "peer: the calling node is not in this node's trust store");
    }
    return CheckFrozen(node);
  }

  // For a live stream admitted earlier: the link is still open (not frozen) and the
  // caller's certificate still accepted (not revoked, still pinned).
  grpc::Status CheckLink(const grpc::ServerContext& context, const std::string& node,
                         const std::string& fingerprint) const {
    if (grpc::Status s = CheckFrozen(node); !s.ok()) return s;
    if (absl::Status s =
            net::RecheckPeer(tls_.get(), net::PeerSide::kCaller, node, fingerprint, context.peer());
        !s.ok()) {
      return grpc::Status(grpc::StatusCode::UNAUTHENTICATED, std::string(s.message()));
    }
    return grpc::Status::OK;
  }

  // The refusal a frozen peer sees (and shows in its status as the link's last error).
  grpc::Status CheckFrozen(const std::string& node) const {
    if (freezes_ == nullptr) return grpc::Status::OK;
    std::optional<v1::FrozenPeer> f = freezes_->Get(node);
    if (!f) return grpc::Status::OK;
    return grpc::Status(grpc::StatusCode::FAILED_PRECONDITION,
                        base::StrCat("frozen: ", node_, " has frozen its link with ", node,
                                     " (emergency freeze: ", f->reason(), ")"));
  }

  v1::PullResponse Heartbeat(
      const std::vector<std::pair<storage::StreamId, storage::StreamState>>& streams) const {
    v1::PullResponse response;
    v1::Heartbeat* hb = response.mutable_heartbeat();
    hb->set_hlc(clock_.Current());
    hb->set_unix_ms(static_cast<int64_t>(model::HlcMillis(clock_.WallNow())));
    for (const auto& [id, state] : streams) {
      v1::StreamInfo* info = hb->add_streams();
      info->set_origin(id.origin);
      info->set_epoch(id.epoch);
      info->set_seq(state.seq);
      info->set_events(state.events);
      info->set_last_unix_ms(state.last_unix_ms);
    }
    return response;
  }

  const PeerFreezes* const freezes_;
  SendCounters* const sent_;
  const storage::Store& store_;
  const model::HybridClock& clock_;
  const TrustStore& trust_;
  const NodeKey& key_;
  const std::string node_;
  const std::string federation_check_;
  const std::shared_ptr<const net::NodeTls> tls_;  // null: plain TCP, any caller
};

}  // namespace

uint64_t CountEvents(std::string_view signed_delta) {
  std::string_view body;
  if (CountField(signed_delta, kBodyField, &body) <= 0) return 0;
  int64_t events = CountField(body, kEventsField);
  return events < 0 ? 0 : static_cast<uint64_t>(events);
}

std::unique_ptr<grpc::Service> NewPeerService(const storage::Store& store,
                                              const model::HybridClock& clock,
                                              const TrustStore& trust, const NodeKey& key,
                                              std::string node, std::string federation_check,
                                              std::shared_ptr<const net::NodeTls> tls,
                                              const PeerFreezes* freezes,
                                              SendCounters* sent) {
  return std::make_unique<PeerServiceImpl>(store, clock, trust, key, std::move(node),
                                           std::move(federation_check), std::move(tls), freezes,
                                           sent);
}

}  // namespace wlsync::sync
