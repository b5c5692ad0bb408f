// The Keys service (admin): rotate this node's signing key, revoke a key from a time on, list the
// trusted keys, and report what was accepted under a key. Also the node's start-up half of the key
// lifecycle: the trust entries it learnt before, its own key history, and the end of a rotation
// that a crash interrupted.
#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <filesystem>
#include <set>

#include "base/logging.h"
#include "base/strings.h"
#include "daemon/gate.h"
#include "daemon/node_internal.h"
#include "daemon/services.h"
#include "model/hlc.h"
#include "model/pid.h"
#include "sync/key_lifecycle.h"
#include "wlsync/v1/delta.pb.h"
#include "wlsync/v1/keys.grpc.pb.h"

namespace wlsync::daemon {
namespace {

namespace fs = std::filesystem;

std::string NextKeyPath(const std::string& signing_key) { return signing_key + ".next"; }

void RemoveNextKey(const std::string& signing_key) {
  std::error_code ignored;
  fs::remove(NextKeyPath(signing_key), ignored);
  fs::remove(NextKeyPath(signing_key) + ".pub", ignored);
}

// Puts the new key files in place of the old ones (the old secret is gone afterwards).
absl::Status InstallNextKey(const std::string& signing_key) {
  std::error_code ec;
  fs::rename(NextKeyPath(signing_key) + ".pub", signing_key + ".pub", ec);
  if (!ec) fs::rename(NextKeyPath(signing_key), signing_key, ec);
  if (ec) {
    return absl::InternalError(base::StrCat("node.signing_key: cannot put the new key in place of ",
                                            signing_key, ": ", ec.message()));
  }
  return absl::OkStatus();
}

v1::KeyInfo Describe(const sync::KeyRecord& k, std::string_view current_id) {
  v1::KeyInfo info;
  info.set_node(k.node);
  info.set_key_id(k.key_id);
  info.set_public_key_hex(model::HexEncode(k.public_key));
  info.set_valid_after_hlc(k.valid_after_hlc);
  info.set_valid_until_hlc(k.valid_until_hlc);
  info.set_valid_after_unix_ms(static_cast<int64_t>(model::HlcMillis(k.valid_after_hlc)));
  info.set_valid_until_unix_ms(static_cast<int64_t>(model::HlcMillis(k.valid_until_hlc)));
  info.set_revoked_from_unix_ms(k.revoked_from_unix_ms);
  info.set_revoked_by(k.revoked_by);
  info.set_source(k.source);
  info.set_current(k.key_id == current_id);
  return info;
}

// The key id of the newest delta this node signed (in its most recent epoch); empty when it
// has signed none.
absl::StatusOr<std::string> LastOwnKeyId(const storage::Store& store, const std::string& node) {
  absl::StatusOr<std::vector<std::pair<storage::StreamId, storage::StreamState>>> streams =
      store.Streams();
  if (!streams.ok()) return streams.status();
  const std::pair<storage::StreamId, storage::StreamState>* newest = nullptr;
  for (const auto& entry : *streams) {
    if (entry.first.origin != node || entry.second.seq == 0) continue;
    if (newest == nullptr || entry.second.last_unix_ms > newest->second.last_unix_ms) {
      newest = &entry;
    }
  }
  if (newest == nullptr) return std::string();
  absl::StatusOr<std::vector<std::pair<uint64_t, std::string>>> last =
      store.ReadLog(newest->first, newest->second.seq - 1, 1);
  if (!last.ok()) return last.status();
  v1::SignedDelta envelope;
  if (last->empty() || !envelope.ParseFromString(last->front().second)) return std::string();
  return envelope.key_id();
}

class KeysServiceImpl final : public v1::Keys::Service {
 public:
  explicit KeysServiceImpl(KeysDeps deps) : d_(std::move(deps)) {}

  grpc::Status Rotate(grpc::ServerContext* context, const v1::RotateKeyRequest* request,
                      v1::KeyList* response) override {
    Caller caller;
    if (grpc::Status a = d_.gate.Admit(*context, access::Method::kKeyRotate, &caller); !a.ok()) {
      return a;
    }
    if (grpc::Status s = CheckReason(request->reason()); !s.ok()) return s;
    std::lock_guard<std::mutex> lock(mu_);
    std::string old_id = d_.key.current()->key_id();
    sync::SigningKey next = sync::SigningKey::Generate();

    // The new key is on disk before the notice commits; the notice is durable before the key files
    // change. A crash in between is finished at the next start (LoadTrust).
    if (absl::Status s = next.WriteFiles(NextKeyPath(d_.signing_key_path)); !s.ok()) {
      return ToGrpc(s);
    }
    if (absl::Status s = d_.writer.RotateKey(next); !s.ok()) {
      RemoveNextKey(d_.signing_key_path);
      return ToGrpc(s);
    }
    // Committed and announced: from here the node signs with the new key whatever fails.
    absl::Status installed = InstallNextKey(d_.signing_key_path);
    absl::Status history = WriteHistory();
    if (grpc::Status a = d_.gate.Record(
            caller, access::Method::kKeyRotate,
            base::StrCat("old_key=", old_id, " new_key=", next.key_id()), request->reason());
        !a.ok()) {
      return a;
    }
    for (const absl::Status& s : {installed, history}) {
      if (s.ok()) continue;
      base::Logger("node")->error("node={} key rotation to key={} committed, but: {}", d_.node,
                                  next.key_id(), s.message());
      return ToGrpc(absl::Status(
          s.code(),
          base::StrCat("the rotation to key ", next.key_id(),
                       " is committed and announced, and the node signs with it; but ", s.message(),
                       ". Fix that: the node finishes it at its next start")));
    }
    List(d_.node, response);
    return grpc::Status::OK;
  }

  grpc::Status Revoke(grpc::ServerContext* context, const v1::RevokeKeyRequest* request,
                      v1::KeyList* response) override {
    Caller caller;
    if (grpc::Status a = d_.gate.Admit(*context, access::Method::kKeyRevoke, &caller); !a.ok()) {
      return a;
    }
    if (grpc::Status s = CheckReason(request->reason()); !s.ok()) return s;
    std::string node = request->node().empty() ? d_.node : request->node();
    if (request->key_id().empty()) {
      return ToGrpc(absl::InvalidArgumentError("revoke: a key id is required"));
    }
    if (request->from_unix_ms() <= 0) {
      return ToGrpc(absl::InvalidArgumentError(
          "revoke: --from must be a time after 1970-01-01T00:00Z (when the key may first have "
          "been in other hands)"));
    }
    if (!d_.trust.Knows(node)) {
      return ToGrpc(absl::NotFoundError(base::StrCat("revoke: ", node, " is not a trusted node")));
    }
    std::lock_guard<std::mutex> lock(mu_);
    if (absl::Status s = d_.writer.RevokeKey(node, request->key_id(), request->from_unix_ms());
        !s.ok()) {
      return ToGrpc(s);
    }
    absl::Status history = node == d_.node ? WriteHistory() : absl::OkStatus();
    if (grpc::Status a = d_.gate.Record(caller, access::Method::kKeyRevoke,
                                        base::StrCat("node=", node, " key=", request->key_id(),
                                                     " from_ms=", request->from_unix_ms()),
                                        request->reason());
        !a.ok()) {
      return a;
    }
    if (!history.ok()) return ToGrpc(history);
    List(node, response);
    return grpc::Status::OK;
  }

  grpc::Status List(grpc::ServerContext* context, const v1::ListKeysRequest* request,
                    v1::KeyList* response) override {
    Caller caller;
    if (grpc::Status a = d_.gate.Admit(*context, access::Method::kKeyList, &caller); !a.ok()) {
      return a;
    }
    if (!request->node().empty() && !d_.trust.Knows(request->node())) {
      return ToGrpc(absl::NotFoundError(base::StrCat(
          "keys: ", request->node(), " is not a trusted node (see `wlsync key list`)")));
    }
    List(request->node(), response);
    return grpc::Status::OK;
  }

  grpc::Status Report(grpc::ServerContext* context, const v1::KeyReportRequest* request,
                      v1::KeyReport* response) override {
    Caller caller;
    if (grpc::Status a = d_.gate.Admit(*context, access::Method::kKeyReport, &caller); !a.ok()) {
      return a;
    }
    std::string node = request->node().empty() ? d_.node : request->node();
    std::optional<sync::KeyRecord> key = d_.trust.Find(node, request->key_id());
    if (!key.has_value()) {
      return ToGrpc(absl::NotFoundError(
          base::StrCat("report: ", request->key_id(), " is not a known key of ", node)));
    }
    absl::StatusOr<sync::KeyUsage> usage = sync::AcceptedUnderKey(d_.store, *key);
    if (!usage.ok()) return ToGrpc(usage.status());
    Fill(*usage, response);
    return d_.gate.Record(
        caller, access::Method::kKeyReport,
        base::StrCat("node=", node, " key=", key->key_id, " deltas=", response->deltas(),
                     " after_revocation=", response->deltas_after_revocation()));
  }

 private:
  void List(const std::string& node, v1::KeyList* response) const {
    std::string current = d_.key.current()->key_id();
    for (const sync::KeyRecord& k : d_.trust.Keys(node)) {
      *response->add_keys() = Describe(k, k.node == d_.node ? current : "");
    }
  }

  absl::Status WriteHistory() const {
    return sync::WriteKeyHistory(sync::KeyHistoryPath(d_.signing_key_path), d_.trust.Keys(d_.node));
  }

  void Fill(const sync::KeyUsage& usage, v1::KeyReport* report) const {
    *report->mutable_key() = Describe(usage.key, d_.key.current()->key_id());
    std::set<std::string> after;
    for (const sync::AcceptedDelta& a : usage.deltas) {
      report->set_deltas(report->deltas() + 1);
      report->set_events(report->events() + a.events);
      v1::AcceptedDelta* out = report->add_accepted();
      out->set_epoch_hex(a.epoch_hex);
      out->set_seq(a.seq);
      out->set_created_unix_ms(a.created_unix_ms);
      out->set_hlc_unix_ms(a.hlc_unix_ms);
      out->set_events(a.events);
      out->set_people(a.pids.size());
      out->set_after_revocation(a.after_revocation);
      out->set_vouched(a.vouched);
      for (const std::string& pid : a.pids) out->add_pids(pid);
      if (a.after_revocation) after.insert(a.pids.begin(), a.pids.end());
    }
    report->set_deltas_after_revocation(usage.deltas_after_revocation);
    for (const sync::AcceptedDelta& a : usage.deltas) {
      if (a.after_revocation && a.vouched) {
        report->set_vouched_after_revocation(report->vouched_after_revocation() + 1);
      }
    }
    report->set_people_after_revocation(after.size());
    for (const std::string& pid : after) report->add_pids_after_revocation(pid);
  }

  KeysDeps d_;
  std::mutex mu_;  // one key change at a time, so key files and history stay in step
};

}  // namespace

std::unique_ptr<grpc::Service> NewKeysService(KeysDeps deps) {
  return std::make_unique<KeysServiceImpl>(std::move(deps));
}

absl::Status Node::Impl::LoadTrust() {
  auto log = base::Logger("node");
  absl::StatusOr<std::vector<sync::KeyRecord>> history =
      sync::ReadKeyHistory(sync::KeyHistoryPath(config.signing_key), config.name);
  if (!history.ok()) return history.status();
  absl::StatusOr<std::vector<sync::KeyRecord>> learnt = sync::LoadTrustEntries(*store);
  if (!learnt.ok()) return learnt.status();
  // The store knows best; the history file restores the own keys of a wiped data dir, and the
  // peers' history files (key_history in the config) their keys before a rotation.
  trust.Apply(*history);
  for (const auto& [peer, path] : config.key_histories) {
    absl::StatusOr<std::vector<sync::KeyRecord>> theirs = sync::ReadKeyHistory(path, peer);
    if (!theirs.ok()) return theirs.status();
    if (theirs->empty()) {
      return absl::NotFoundError(
          base::StrCat("key_history of ", peer, ": ", path, " is missing or lists no key"));
    }
    trust.Apply(*theirs);
  }
  trust.Apply(*learnt);

  // A rotation that committed its notice but crashed before the key files changed.
  std::string next_path = NextKeyPath(config.signing_key);
  if (fs::exists(next_path)) {
    absl::StatusOr<sync::SigningKey> next = sync::SigningKey::LoadFile(next_path);
    std::optional<sync::KeyRecord> announced =
        next.ok() ? trust.Find(config.name, next->key_id()) : std::nullopt;
    if (announced.has_value()) {
      if (absl::Status s = InstallNextKey(config.signing_key); !s.ok()) return s;
      signing_key->Replace(*next);
      log->warn(
          "node={} finished an interrupted key rotation: now signing "
          "with key={}",
          config.name, next->key_id());
    } else {
      RemoveNextKey(config.signing_key);
      log->warn("node={} discarded a new signing key whose rotation never committed", config.name);
    }
  }

  // Once the node has rotated, it may sign only with the key it rotated to last: peers refuse
  // an older one, and a key they never heard of, for good.
  std::string own_id = signing_key->current()->key_id();
  std::set<std::string> own_known;
  for (const sync::KeyRecord& r : *history) own_known.insert(r.key_id);
  for (const sync::KeyRecord& r : *learnt) {
    if (r.node == config.name) own_known.insert(r.key_id);
  }
  const std::string where = base::StrCat(
      "Put back the node's current key file: its id is the key without an end in ",
      sync::KeyHistoryPath(config.signing_key), ", or the one `wlsync key list --node ",
      config.name, "` shows as valid at a peer");
  std::optional<sync::KeyRecord> own = trust.Find(config.name, own_id);
  if (own.has_value() && own->valid_until_hlc != 0) {
    return absl::FailedPreconditionError(
        base::StrCat("node.signing_key: key ", own_id,
                     " was retired by a key rotation; peers refuse what it signs now. ", where));
  }
  if (!own_known.empty() && !own_known.contains(own_id)) {
    return absl::FailedPreconditionError(base::StrCat(
        "node.signing_key: key ", own_id, " is not a key this node has signed with (it has had ",
        own_known.size(), "); peers would refuse everything it signs. ", where));
  }
  // Never rotated: the key must be the one its latest delta was signed with.
  absl::StatusOr<std::string> last_key = LastOwnKeyId(*store, config.name);
  if (!last_key.ok()) return last_key.status();
  if (own_known.empty() && !last_key->empty() && *last_key != own_id) {
    return absl::FailedPreconditionError(base::StrCat(
        "node.signing_key: key ", own_id, " is not the key this node signed its deltas with (",
        *last_key,
        ") and no rotation to it was made; peers would refuse everything it signs. "
        "Put back the node's key file (the key whose id `wlsync key list --node ",
        config.name, "` shows at a peer), then use `wlsync key rotate` to change keys"));
  }
  if (!own_known.empty()) HealHistory(*history);
  log->info("node={} trusted keys={} own_key={}", config.name, trust.Keys().size(), own_id);
  return absl::OkStatus();
}

void Node::Impl::HealHistory(const std::vector<sync::KeyRecord>& on_disk) {
  std::vector<sync::KeyRecord> own = trust.Keys(config.name);
  auto same = [](const sync::KeyRecord& a, const sync::KeyRecord& b) {
    return a.key_id == b.key_id && a.valid_after_hlc == b.valid_after_hlc &&
           a.valid_until_hlc == b.valid_until_hlc;
  };
  if (std::equal(own.begin(), own.end(), on_disk.begin(), on_disk.end(), same)) return;
  std::string path = sync::KeyHistoryPath(config.signing_key);
  if (absl::Status s = sync::WriteKeyHistory(path, own); !s.ok()) {
    base::Logger("node")->error("node={} the key history is out of date and cannot be written: {}",
                                config.name, s.message());
    return;
  }
  base::Logger("node")->warn("node={} rewrote the out-of-date key history {} (keys={})",
                             config.name, path, own.size());
}

}  // namespace wlsync::daemon
