#include "sync/reconciler.h"

#include <grpcpp/grpcpp.h>

#include <future>
#include <map>
#include <set>
#include <thread>

#include "absl/container/flat_hash_map.h"
#include "base/logging.h"
#include "base/strings.h"
#include "model/digest.h"
#include "model/fields.h"
#include "model/merge.h"
#include "model/pid.h"
#include "net/credentials.h"
#include "sync/delta_scan.h"
#include "sync/peer_service.h"
#include "wlsync/v1/peer.grpc.pb.h"

namespace wlsync::sync {
namespace {

constexpr size_t kPrefixBatch = 2048;
constexpr size_t kBucketBatch = 256;
constexpr size_t kPidBatch = 2048;
// A repair batch: one Writer::Repair call, read while the one before is merged.
constexpr size_t kRepairBatchDeltas = 64;
constexpr size_t kRepairBatchBytes = 16 << 20;
// What a delta to fetch from the peer counts towards kRepairBatchBytes (WriterOptions'
// max_delta_bytes by default).
constexpr size_t kFetchedDeltaBytes = 1 << 20;
// The peer service's limit on the refs of one GetDeltas call (also of older versions).
constexpr size_t kRefsPerCall = 16;

using Cursors = std::map<storage::StreamId, uint64_t>;
// A delta by stream and seq.
using DeltaKey = std::pair<storage::StreamId, uint64_t>;

int64_t NowMs() { return model::SystemWallClock().NowMs(); }

int CompareStamps(const v1::Stamp& a, const v1::Stamp& b) {
  if (a.hlc() != b.hlc()) return a.hlc() < b.hlc() ? -1 : 1;
  return a.node().compare(b.node());
}

}  // namespace

// One run's conversation with the peer, counting the bytes both ways.
class Session {
 public:
  Session(const ReconcileOptions& o, v1::ReconcileReport* report) : o_(o), report_(report) {
    grpc::ChannelArguments args;
    args.SetMaxReceiveMessageSize(static_cast<int>(o.max_message_bytes));
    stub_ = v1::Peer::NewStub(grpc::CreateCustomChannel(
        o.address, net::PeerChannelCredentials(o.tls, o.peer), args));
  }

  template <typename Req, typename Resp, typename Method>
  absl::Status Call(Method method, Req request, Resp* response) {
    request.set_node(o_.self);
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + o_.rpc_timeout);
    grpc::Status s = (stub_.get()->*method)(&context, request, response);
    report_->set_bytes_sent(report_->bytes_sent() + request.ByteSizeLong());
    report_->set_bytes_received(report_->bytes_received() + response->ByteSizeLong());
    if (!s.ok()) {
      return absl::UnavailableError(base::StrCat("peer ", o_.peer, ": ", s.error_message()));
    }
    return absl::OkStatus();
  }

  v1::Peer::Stub& stub() { return *stub_; }

 private:
  const ReconcileOptions& o_;
  v1::ReconcileReport* report_;
  std::unique_ptr<v1::Peer::Stub> stub_;
};

namespace {

Cursors LocalCursors(const storage::Store& store) {
  Cursors out;
  auto streams = store.Streams();
  if (!streams.ok()) return out;
  for (const auto& [id, state] : *streams) out[id] = state.seq;
  return out;
}

uint64_t CursorOf(const Cursors& c, const v1::DeltaRef& ref) {
  auto it = c.find({ref.origin(), ref.epoch()});
  return it == c.end() ? 0 : it->second;
}

// The first `size` bytes of a digest.
std::string ShortDigest(const model::Digest& digest, size_t size) {
  return model::DigestBytes(digest).substr(0, size);
}

// The size of each of `count` digests in `total` bytes: the short size asked for, or the
// whole size from a peer that ignores the request's digest_bytes. Nothing when malformed.
std::optional<size_t> ShortDigestSize(size_t total, size_t count) {
  if (count == 0) return total == 0 ? std::optional<size_t>(model::kDigestSize) : std::nullopt;
  size_t size = total / count;
  if (size * count != total || !model::IsShortDigestSize(size)) {
    return std::nullopt;
  }
  return size;
}

// The request's group_digests entry for one pid: the short digest of each group of the
// local record, zeros for a record this node lacks.
void AddGroupDigests(const std::optional<v1::Record>& local, std::string* out) {
  for (int g = 1; g <= model::kGroupCount; ++g) {
    if (!local) {
      out->append(model::kMinShortDigest, '\0');
    } else {
      out->append(ShortDigest(model::GroupDigest(*local, static_cast<v1::Group>(g)),
                              model::kMinShortDigest));
    }
  }
}

// What one differing pid needs.
struct Verdict {
  std::vector<v1::DeltaRef> needed;  // deltas whose events must be merged here
  bool in_flight = false;            // a delta on its way explains the difference
  bool newer_here = false;           // this node holds newer groups than the peer
};

Verdict Judge(const v1::RecordRefs& remote, const std::optional<v1::Record>& local,
              const Cursors& mine, const Cursors& theirs) {
  Verdict v;
  std::map<int, const v1::GroupRef*> remote_groups;
  for (const v1::GroupRef& g : remote.groups()) remote_groups[g.group()] = &g;
  for (int g = 1; g <= model::kGroupCount; ++g) {
    if (remote.same_groups() & (1u << (g - 1))) continue;  // equal to ours, left out
    const v1::GroupState& here =
        local ? model::GroupOf(*local, static_cast<v1::Group>(g)) : v1::GroupState::default_instance();
    auto it = remote_groups.find(g);
    const v1::Stamp& there = it == remote_groups.end() ? v1::Stamp::default_instance()
                                                       : it->second->stamp();
    int cmp = CompareStamps(here.stamp(), there);
    bool same_content =
        cmp == 0 && local && it != remote_groups.end() &&
        model::DigestBytes(model::GroupDigest(*local, static_cast<v1::Group>(g))) == it->second->digest();
    if (cmp < 0 || (cmp == 0 && there.hlc() != 0 && !same_content)) {
      const v1::DeltaRef& ref = it->second->writer();
      if (CursorOf(mine, ref) < ref.seq()) {
        v.in_flight = true;
      } else {
        v.needed.push_back(ref);  // equal stamps too: the digest differs, re-prove it
      }
    } else if (cmp > 0) {
      if (CursorOf(theirs, here.writer()) < here.writer().seq()) {
        v.in_flight = true;
      } else {
        v.newer_here = true;
      }
    }
  }
  return v;
}

// Finds the buckets whose digests differ, descending from the root.
absl::StatusOr<std::vector<std::string>> DifferingBuckets(Session& s, const storage::Store& store) {
  std::vector<std::string> frontier = {""};
  for (int level = 0; level < storage::kTreeDepth && !frontier.empty(); ++level) {
    std::vector<std::string> next;
    for (size_t i = 0; i < frontier.size(); i += kPrefixBatch) {
      v1::TreeRequest request;
      request.set_digest_bytes(model::kMinShortDigest);
      for (size_t j = i; j < std::min(frontier.size(), i + kPrefixBatch); ++j) {
        request.add_prefixes(frontier[j]);
      }
      v1::TreeResponse response;
      if (absl::Status st = s.Call(&v1::Peer::Stub::GetTree, request, &response); !st.ok()) {
        return st;
      }
      for (const v1::TreeChildren& children : response.children()) {
        std::vector<storage::TreeNode> mine = store.DigestChildren(children.prefix());
        std::optional<size_t> size = ShortDigestSize(children.digests().size(), mine.size());
        if (!size || static_cast<size_t>(children.counts_size()) != mine.size()) {
          return absl::DataLossError("peer: malformed digest tree reply");
        }
        for (size_t c = 0; c < mine.size(); ++c) {
          std::string_view theirs(children.digests().data() + c * *size, *size);
          if (theirs != ShortDigest(mine[c].digest, *size) || children.counts(c) != mine[c].count) {
            next.push_back(children.prefix() + storage::DigestTree::ValueChar(static_cast<int>(c)));
          }
        }
      }
    }
    frontier = std::move(next);
  }
  return frontier;
}

// Pids whose digests differ within the given buckets (or that only one side holds).
absl::StatusOr<std::vector<std::string>> DifferingPids(Session& s, const storage::Store& store,
                                                       const std::vector<std::string>& buckets) {
  std::vector<std::string> out;
  for (size_t i = 0; i < buckets.size(); i += kBucketBatch) {
    v1::BucketsRequest request;
    request.set_digest_bytes(model::kMinShortDigest);
    for (size_t j = i; j < std::min(buckets.size(), i + kBucketBatch); ++j) {
      request.add_buckets(buckets[j]);
    }
    v1::BucketsResponse response;
    if (absl::Status st = s.Call(&v1::Peer::Stub::GetBuckets, request, &response); !st.ok()) {
      return st;
    }
    for (const v1::BucketEntries& b : response.buckets()) {
      std::map<std::string, std::string> theirs;
      std::optional<size_t> size = ShortDigestSize(b.digests().size(), b.pids_size());
      if (!size) return absl::DataLossError("peer: malformed bucket reply");
      for (int k = 0; k < b.pids_size(); ++k) {
        theirs[b.pids(k)] = b.digests().substr(k * *size, *size);
      }
      std::unique_ptr<storage::RecordCursor> cursor = store.ScanRecords(b.bucket());
      for (; cursor->Valid(); cursor->Next()) {
        absl::StatusOr<v1::Record> r = cursor->record();
        if (!r.ok()) return r.status();
        auto it = theirs.find(r->pid());
        if (it == theirs.end() || it->second != ShortDigest(model::RecordDigest(*r), *size)) {
          out.push_back(r->pid());
        }
        if (it != theirs.end()) theirs.erase(it);
      }
      for (const auto& [pid, digest] : theirs) out.push_back(pid);
    }
  }
  return out;
}

absl::Status Stopped() {
  return absl::CancelledError("reconciliation: stopped, the node is shutting down");
}

// Fetches the deltas `refs` names from the peer into `out`, each with the pids wanted from
// it. A peer service (this version and older ones) takes at most kRefsPerCall refs a call
// and ends a reply early past about 2 MiB (after at least one delta), so the refs are
// asked in chunks, and those after the last delta of a reply cut short are asked again.
// Refs the peer does not hold are left out, as it leaves them out.
absl::Status FetchDeltas(Session& s, const std::vector<v1::DeltaRef>& refs,
                         const std::map<DeltaKey, std::vector<std::string>>& to_fetch,
                         std::vector<RepairSource>* out) {
  const absl::flat_hash_set<std::string> none;
  size_t next = 0;
  while (next < refs.size()) {
    v1::GetDeltasRequest request;
    const size_t end = std::min(refs.size(), next + kRefsPerCall);
    for (size_t j = next; j < end; ++j) *request.add_refs() = refs[j];
    v1::GetDeltasResponse response;
    if (absl::Status st = s.Call(&v1::Peer::Stub::GetDeltas, request, &response); !st.ok()) {
      return st;
    }
    // The reply keeps the order of the refs: each delta matched moves `taken` past its ref.
    size_t taken = next;
    for (std::string& d : *response.mutable_signed_deltas()) {
      // Only the header is read here, to match the delta to the pids it is wanted for; the
      // writer verifies it.
      EnvelopeView envelope;
      v1::DeltaBody header;
      if (!ParseEnvelope(d, &envelope).ok() ||
          !ParseBodySparse(envelope.body, &none, &header).ok()) {
        continue;
      }
      const DeltaKey key{{header.origin(), header.origin_epoch()}, header.seq()};
      for (size_t j = taken; j < end; ++j) {
        if (DeltaKey{{refs[j].origin(), refs[j].epoch()}, refs[j].seq()} == key) {
          taken = j + 1;
          break;
        }
      }
      auto it = to_fetch.find(key);
      if (it != to_fetch.end()) out->push_back({std::move(d), it->second});
    }
    // Nothing matched: the peer holds none of the rest of this chunk (or sent nothing
    // usable); go on with the next chunk rather than ask again.
    next = taken > next ? taken : end;
  }
  return absl::OkStatus();
}

// Reads the next repair batch from keys[*next] on (at most kRepairBatchDeltas deltas or
// about kRepairBatchBytes): deltas this node's log holds from it, the others from the peer
// (FetchDeltas). A delta neither holds is left out: its pids stay unrepaired and are
// reported so. Advances *next past the keys taken.
absl::StatusOr<std::vector<RepairSource>> ReadRepairBatch(
    Session& s, const storage::Store& store, const std::vector<DeltaKey>& keys,
    const std::map<DeltaKey, v1::DeltaRef>& refs,
    const std::map<DeltaKey, std::vector<std::string>>& to_fetch, size_t* next) {
  std::vector<RepairSource> out;
  std::vector<v1::DeltaRef> from_peer;
  size_t bytes = 0;
  for (; *next < keys.size() && out.size() + from_peer.size() < kRepairBatchDeltas &&
         bytes < kRepairBatchBytes;
       ++*next) {
    const DeltaKey& key = keys[*next];
    auto held = store.ReadLog(key.first, key.second - 1, 1);
    if (held.ok() && !held->empty() && held->front().first == key.second) {
      bytes += held->front().second.size();
      out.push_back({std::move(held->front().second), to_fetch.at(key)});
    } else {
      // Its size is known only once fetched: count it as the largest delta a writer makes.
      bytes += kFetchedDeltaBytes;
      from_peer.push_back(refs.at(key));
    }
  }
  if (absl::Status st = FetchDeltas(s, from_peer, to_fetch, &out); !st.ok()) return st;
  return out;
}

}  // namespace

std::optional<v1::ReconcileProgress> Reconciler::progress() const {
  std::lock_guard<std::mutex> lock(progress_mu_);
  return progress_;
}

void Reconciler::SetProgress(const std::string& phase, uint64_t done, uint64_t total) {
  std::lock_guard<std::mutex> lock(progress_mu_);
  if (!progress_) return;
  progress_->set_phase(phase);
  progress_->set_done(done);
  progress_->set_total(total);
}

v1::ReconcileReport Reconciler::Run(const ReconcileOptions& o) {
  v1::ReconcileReport report;
  report.set_node(o.self);
  report.set_peer(o.peer);
  report.set_start_unix_ms(NowMs());
  Session session(o, &report);
  auto log = base::Logger("reconcile");
  {
    std::lock_guard<std::mutex> lock(progress_mu_);
    progress_.emplace();
    progress_->set_peer(o.peer);
    progress_->set_start_unix_ms(report.start_unix_ms());
    progress_->set_phase("comparing digest trees");
  }

  auto finish = [&](absl::Status error) {
    {
      std::lock_guard<std::mutex> lock(progress_mu_);
      progress_.reset();
    }
    if (!error.ok()) report.set_error(std::string(error.message()));
    report.set_end_unix_ms(NowMs());
    report.set_duration_ms(report.end_unix_ms() - report.start_unix_ms());
    (void)store_.PutReport(report.end_unix_ms(), o.peer, report.SerializeAsString());
    if (error.ok()) {
      log->info("peer={} compared={} differing={} repaired={} unrepairable={} in_flight={} "
                "newer_here={} equal={} bytes={} duration_ms={}",
                o.peer, report.records_compared(), report.differing(), report.repaired(),
                report.unrepairable_size(), report.in_flight(), report.newer_here(),
                report.equal(), report.bytes_sent() + report.bytes_received(),
                report.duration_ms());
    } else {
      log->error("peer={} reconciliation failed: {}", o.peer, error.message());
    }
    return report;
  };

  // Pass 1 finds differences; later passes re-check those explained by deltas in flight.
  std::set<std::string> pending;
  std::set<std::string> counted;
  auto deadline = std::chrono::steady_clock::now() + o.catch_up_timeout;
  for (int pass = 0;; ++pass) {
    if (stopping_.load()) return finish(Stopped());
    v1::TreeResponse root;
    if (absl::Status st = session.Call(&v1::Peer::Stub::GetTree, v1::TreeRequest(), &root);
        !st.ok()) {
      return finish(st);
    }
    storage::TreeNode mine = store_.DigestNode("");
    if (pass == 0) report.set_records_compared(std::max(mine.count, root.root_count()));
    if (root.root_digest() == model::DigestBytes(mine.digest) && root.root_count() == mine.count) {
      report.set_equal(true);
      break;
    }

    std::vector<std::string> pids;
    if (pass == 0) {
      absl::StatusOr<std::vector<std::string>> buckets = DifferingBuckets(session, store_);
      if (!buckets.ok()) return finish(buckets.status());
      absl::StatusOr<std::vector<std::string>> differing = DifferingPids(session, store_, *buckets);
      if (!differing.ok()) return finish(differing.status());
      pids = std::move(*differing);
    } else {
      pids.assign(pending.begin(), pending.end());
      pending.clear();
    }

    Cursors mine_cursors = LocalCursors(store_);
    Cursors their_cursors;
    for (const v1::Cursor& c : root.cursors()) their_cursors[{c.origin(), c.epoch()}] = c.seq();

    std::map<DeltaKey, std::vector<std::string>> to_fetch;
    std::map<DeltaKey, v1::DeltaRef> refs;
    std::map<std::string, v1::RecordRefs> wanted;  // pid -> the peer's stamps
    for (size_t i = 0; i < pids.size(); i += kPidBatch) {
      SetProgress("checking records", i, pids.size());
      if (stopping_.load()) return finish(Stopped());
      v1::RecordRefsRequest request;
      for (size_t j = i; j < std::min(pids.size(), i + kPidBatch); ++j) {
        absl::StatusOr<std::optional<v1::Record>> local = store_.GetRecord(pids[j]);
        if (!local.ok()) return finish(local.status());
        request.add_pids(pids[j]);
        AddGroupDigests(*local, request.mutable_group_digests());
      }
      v1::RecordRefsResponse response;
      if (absl::Status st = session.Call(&v1::Peer::Stub::GetRecordRefs, request, &response);
          !st.ok()) {
        return finish(st);
      }
      for (const v1::RecordRefs& remote : response.records()) {
        absl::StatusOr<std::optional<v1::Record>> local = store_.GetRecord(remote.pid());
        if (!local.ok()) return finish(local.status());
        if (*local && remote.exists() &&
            model::DigestBytes(model::RecordDigest(**local)) == remote.digest()) {
          continue;  // equal by now
        }
        Verdict v = Judge(remote, *local, mine_cursors, their_cursors);
        if (v.in_flight) {
          pending.insert(remote.pid());
          continue;
        }
        if (counted.insert(remote.pid()).second) report.set_differing(report.differing() + 1);
        if (v.newer_here) report.set_newer_here(report.newer_here() + 1);
        for (const v1::DeltaRef& ref : v.needed) {
          auto key = std::make_pair(storage::StreamId{ref.origin(), ref.epoch()}, ref.seq());
          to_fetch[key].push_back(remote.pid());
          refs[key] = ref;
        }
        if (!v.needed.empty()) wanted[remote.pid()] = remote;
      }
    }

    // Repair from each needed delta: this node's log if it holds it, else the peer's. One
    // batch is read while the writer repairs the one before.
    std::vector<DeltaKey> keys;
    for (const auto& [key, unused] : to_fetch) keys.push_back(key);
    if (!keys.empty()) {
      log->info("peer={} pass={} to_repair={} deltas={} in_flight={}", o.peer, pass,
                wanted.size(), keys.size(), pending.size());
    }
    std::map<std::string, std::string> refusals;
    auto collect = [&](RepairResult r) {
      for (const auto& [pid, reason] : r.refused) refusals[pid] = reason;
      return r.status;
    };
    std::future<RepairResult> in_flight;
    for (size_t i = 0; i < keys.size();) {
      SetProgress("repairing from signed deltas", i, keys.size());
      if (stopping_.load()) break;
      absl::StatusOr<std::vector<RepairSource>> batch = ReadRepairBatch(session, store_, keys, refs, to_fetch, &i);
      if (!batch.ok()) {
        if (in_flight.valid()) (void)in_flight.get();
        return finish(batch.status());
      }
      if (in_flight.valid()) {
        if (absl::Status st = collect(in_flight.get()); !st.ok()) return finish(st);
      }
      in_flight = std::async(std::launch::async, [this, b = std::move(*batch)]() mutable {
        return writer_.Repair(std::move(b));
      });
    }
    if (in_flight.valid()) {
      if (absl::Status st = collect(in_flight.get()); !st.ok()) return finish(st);
    }
    if (stopping_.load()) return finish(Stopped());

    // A pid is repaired when its record is now the peer's, or when every group the peer
    // held newer is now newer here or as new with the peer's content. A group with the
    // peer's stamp but other values (a damaged disk) counts only when its digest now
    // matches, or, where the peer sent no group digest (it knew the group differed), when
    // the writer refused none of the pid's events: a refused repair (the clock guard, a
    // bad signature) leaves the stamps as they were and must be reported with its reason.
    for (const auto& [pid, remote] : wanted) {
      absl::StatusOr<std::optional<v1::Record>> local = store_.GetRecord(pid);
      if (!local.ok()) return finish(local.status());
      bool caught_up = local->has_value();
      if (caught_up && model::DigestBytes(model::RecordDigest(**local)) != remote.digest()) {
        const bool refused = refusals.contains(pid);
        for (const v1::GroupRef& g : remote.groups()) {
          if (!caught_up) break;
          int cmp = CompareStamps(model::GroupOf(**local, g.group()).stamp(), g.stamp());
          if (cmp != 0 || g.stamp().hlc() == 0) {
            caught_up = cmp >= 0;
          } else if (!g.digest().empty()) {
            caught_up = model::DigestBytes(model::GroupDigest(**local, g.group())) == g.digest();
          } else {
            caught_up = !refused;
          }
        }
      }
      if (caught_up) {
        report.set_repaired(report.repaired() + 1);
        continue;
      }
      v1::Unrepairable* u = report.add_unrepairable();
      u->set_pid(pid);
      auto it = refusals.find(pid);
      u->set_reason(it != refusals.end()
                        ? it->second
                        : "no signed delta held by either node produces the peer's state");
    }

    if (pending.empty() || std::chrono::steady_clock::now() >= deadline) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  report.set_in_flight(pending.size());

  v1::TreeResponse root;
  if (absl::Status st = session.Call(&v1::Peer::Stub::GetTree, v1::TreeRequest(), &root);
      !st.ok()) {
    return finish(st);
  }
  storage::TreeNode mine = store_.DigestNode("");
  report.set_equal(root.root_digest() == model::DigestBytes(mine.digest) &&
                   root.root_count() == mine.count);
  if (report.equal()) Certify(session, o, root, mine, &report);
  return finish(absl::OkStatus());
}

void Reconciler::Certify(Session& session, const ReconcileOptions& o,
                         const v1::TreeResponse& root, const storage::TreeNode& mine,
                         v1::ReconcileReport* report) {
  v1::AgreementStatement statement;
  statement.set_record_count(mine.count);
  statement.set_root_digest(model::DigestBytes(mine.digest));
  statement.set_snapshot_hlc(std::max(clock_.Current(), root.hlc()));
  statement.set_node_a(o.self);
  statement.set_epoch_a(store_.epoch());
  statement.set_node_b(o.peer);
  statement.set_epoch_b(root.epoch());
  statement.set_unix_ms(NowMs());
  std::string bytes = model::SerializeDeterministic(statement);

  v1::AgreementRequest request;
  request.set_statement(bytes);
  v1::AgreementResponse response;
  if (absl::Status st = session.Call(&v1::Peer::Stub::SignAgreement, request, &response);
      !st.ok()) {
    // Live writes may have moved the peer on: no certificate this time, not an error.
    base::Logger("reconcile")->info("peer={} no agreement certificate: {}", o.peer, st.message());
    return;
  }
  std::string message(kAgreementDomain);
  message.append(bytes);
  v1::AgreementCertificate* cert = report->mutable_certificate();
  cert->set_statement(bytes);
  v1::CertificateSignature* a = cert->add_signatures();
  a->set_node(o.self);
  std::shared_ptr<const SigningKey> key = key_.current();
  a->set_key_id(key->key_id());
  a->set_signature(key->SignRaw(message));
  v1::CertificateSignature* b = cert->add_signatures();
  b->set_node(o.peer);
  b->set_key_id(response.key_id());
  b->set_signature(response.signature());
}

absl::StatusOr<std::string> VerifyCertificate(const v1::AgreementCertificate& cert,
                                              const TrustStore& trust) {
  v1::AgreementStatement statement;
  if (!statement.ParseFromString(cert.statement())) {
    return absl::InvalidArgumentError("certificate: statement does not parse");
  }
  std::string message(kAgreementDomain);
  message.append(cert.statement());
  std::set<std::string> valid;
  for (const v1::CertificateSignature& s : cert.signatures()) {
    if (!trust.Knows(s.node())) {
      return absl::NotFoundError(base::StrCat("certificate: no public key for node ", s.node()));
    }
    // Any key the node has had: a certificate stays valid evidence after a rotation.
    std::optional<KeyRecord> key = trust.Find(s.node(), s.key_id());
    if (!key.has_value()) {
      return absl::NotFoundError(base::StrCat("certificate: key ", s.key_id(),
                                              " is not a known key of ", s.node()));
    }
    if (key->revoked_from_unix_ms != 0 && statement.unix_ms() >= key->revoked_from_unix_ms) {
      return absl::PermissionDeniedError(base::StrCat(
          "certificate: the key of ", s.node(), " that signed it was revoked before its time"));
    }
    if (!VerifyRaw(key->public_key, message, s.signature())) {
      return absl::PermissionDeniedError(
          base::StrCat("certificate: the signature of ", s.node(), " does not verify"));
    }
    valid.insert(s.node());
  }
  for (const std::string& node : {statement.node_a(), statement.node_b()}) {
    if (!valid.contains(node)) {
      return absl::InvalidArgumentError(base::StrCat("certificate: not signed by ", node));
    }
  }
  return cert.statement();
}

}  // namespace wlsync::sync
