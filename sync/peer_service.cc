#include "sync/peer_service.h"

#include <grpcpp/grpcpp.h>

#include <map>

#include "base/strings.h"
#include "base/logging.h"
#include "model/pid.h"
#include "wlsync/v1/peer.grpc.pb.h"

namespace wlsync::sync {
namespace {

constexpr size_t kLogBatch = 64;
constexpr int kIdleWaitMs = 1000;

class PeerServiceImpl final : public v1::Peer::Service {
 public:
  PeerServiceImpl(const storage::Store& store, const model::HybridClock& clock,
                  const TrustStore& trust)
      : store_(store), clock_(clock), trust_(trust) {}

  grpc::Status Pull(grpc::ServerContext* context, const v1::PullRequest* request,
                    grpc::ServerWriter<v1::PullResponse>* writer) override {
    if (!trust_.Knows(request->node())) {
      return grpc::Status(grpc::StatusCode::PERMISSION_DENIED,
                          "pull: the calling node is not in this node's trust store");
    }
    std::map<storage::StreamId, uint64_t> cursors;
    for (const v1::Cursor& c : request->cursors()) {
      cursors[storage::StreamId{c.origin(), c.epoch()}] = c.seq();
    }
    auto log = base::Logger("peer");
    log->info("peer={} pull started streams={}", request->node(), cursors.size());

    uint64_t generation = 0;
    while (!context->IsCancelled() && !store_.closing()) {
      generation = store_.generation();
      absl::StatusOr<std::vector<std::pair<storage::StreamId, storage::StreamState>>> streams =
          store_.Streams();
      if (!streams.ok()) {
        return grpc::Status(grpc::StatusCode::UNAVAILABLE, std::string(streams.status().message()));
      }
      bool more = false;
      for (const auto& [id, state] : *streams) {
        uint64_t& after = cursors[id];
        if (state.seq <= after) continue;
        absl::StatusOr<std::vector<std::pair<uint64_t, std::string>>> entries =
            store_.ReadLog(id, after, kLogBatch);
        if (!entries.ok()) {
          return grpc::Status(grpc::StatusCode::UNAVAILABLE,
                              std::string(entries.status().message()));
        }
        for (auto& [seq, bytes] : *entries) {
          v1::PullResponse response;
          response.set_signed_delta(std::move(bytes));
          if (!writer->Write(response)) return grpc::Status::CANCELLED;
          after = seq;
        }
        if (after < state.seq) more = true;
      }
      if (more) continue;

      if (!writer->Write(Heartbeat(*streams))) return grpc::Status::CANCELLED;
      store_.WaitForCommit(generation, kIdleWaitMs);
    }
    log->info("peer={} pull ended", request->node());
    return grpc::Status::OK;
  }

 private:
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

  const storage::Store& store_;
  const model::HybridClock& clock_;
  const TrustStore& trust_;
};

}  // namespace

std::unique_ptr<grpc::Service> NewPeerService(const storage::Store& store,
                                              const model::HybridClock& clock,
                                              const TrustStore& trust) {
  return std::make_unique<PeerServiceImpl>(store, clock, trust);
}

}  // namespace wlsync::sync
