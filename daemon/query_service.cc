#include <grpcpp/grpcpp.h>

#include "access/masking.h"
#include "daemon/gate.h"
#include "daemon/registry_service.h"
#include "daemon/services.h"
#include "wlsync/v1/query.grpc.pb.h"

namespace wlsync::daemon {
namespace {

class QueryServiceImpl final : public v1::Query::Service {
 public:
  QueryServiceImpl(Gate& gate, const query::QueryEngine& engine, std::string audit_key)
      : gate_(gate), engine_(engine), audit_key_(std::move(audit_key)) {}

  grpc::Status Search(grpc::ServerContext* context, const v1::SearchRequest* request,
                      v1::SearchResponse* response) override {
    Caller caller;
    if (grpc::Status a = gate_.Admit(*context, access::Method::kSearch, &caller); !a.ok()) {
      return a;
    }
    if (!request->case_id().empty() && !access::IsValidCaseId(request->case_id())) {
      return ToGrpc(absl::InvalidArgumentError(
          "case_id: 1-64 of letters, digits, '-' and '_'"));
    }
    if (!request->case_id().empty()) {
      if (grpc::Status a = gate_.CheckUnmask(caller, access::Method::kSearch); !a.ok()) return a;
    }
    absl::StatusOr<query::Page> page =
        engine_.Search(request->filter(), request->limit(), request->page_token());
    if (!page.ok()) return ToGrpc(page.status());

    std::vector<std::string> pids;
    for (const v1::Record& r : page->records) pids.push_back(r.pid());
    uint64_t count = pids.size();
    if (grpc::Status a = gate_.Disclose(caller, access::Method::kSearch,
                                        query::DescribeFilter(request->filter(), audit_key_),
                                        request->case_id(), std::move(pids), count);
        !a.ok()) {
      return a;
    }

    bool mask = caller.role == access::Role::kTracer && request->case_id().empty();
    for (const v1::Record& r : page->records) {
      v1::Person* p = response->add_people();
      *p = ToPerson(r, /*tombstone_only=*/false);
      if (mask) access::MaskFields(p->mutable_fields());
    }
    response->set_next_page_token(page->next_page_token);
    response->set_index(page->index);
    response->set_masked(mask);
    return grpc::Status::OK;
  }

 private:
  Gate& gate_;
  const query::QueryEngine& engine_;
  const std::string audit_key_;
};

}  // namespace

std::unique_ptr<grpc::Service> NewQueryService(Gate& gate, const query::QueryEngine& engine,
                                               std::string audit_key) {
  return std::make_unique<QueryServiceImpl>(gate, engine, std::move(audit_key));
}

}  // namespace wlsync::daemon
