// The CLI's single-request commands: get, set, deregister, health and export.

#include <cstdio>

#include "cli/client.h"
#include "cli/progress.h"
#include "cli/commands.h"
#include "cli/output.h"
#include "model/validate.h"
#include "grpc/health/v1/health.grpc.pb.h"

namespace wlsync::cli {
namespace {

const char* OutcomeName(v1::Outcome o) {
  switch (o) {
    case v1::CREATED: return "created";
    case v1::UPDATED: return "updated";
    case v1::UNCHANGED: return "unchanged";
    default: return "rejected";
  }
}

int PrintWrite(const v1::WriteResponse& r) {
  std::printf("{\"pid\":%s,\"outcome\":\"%s\",\"hlc\":%llu}\n", JsonString(r.pid()).c_str(),
              OutcomeName(r.outcome()), static_cast<unsigned long long>(r.hlc()));
  return kExitOk;
}

}  // namespace

int RunGet(const std::string& node, const std::string& who) {
  v1::GetRequest request;
  *request.mutable_person() = PersonRefOf(who);
  v1::Person person;
  grpc::ClientContext context;
  grpc::Status status = Connect(node)->Get(&context, request, &person);
  if (!status.ok()) return ReportRpcError("get", status);
  std::printf("%s\n", PersonJson(person, /*tombstone_only=*/false).c_str());
  return kExitOk;
}

int RunSet(const std::string& node, const std::string& who, const std::string& field,
           const std::string& value) {
  if (!model::IsValidUtf8(value) || !model::IsValidUtf8(field)) {
    std::fprintf(stderr, "wlsync: set: the field name and value must be valid UTF-8\n");
    return kExitUsage;
  }
  v1::UpdateRequest request;
  *request.mutable_person() = PersonRefOf(who);
  v1::FieldChange* change = request.add_changes();
  change->set_field(field);
  change->set_value(value);
  v1::WriteResponse response;
  grpc::ClientContext context;
  grpc::Status status = Connect(node)->Update(&context, request, &response);
  if (!status.ok()) return ReportRpcError("set", status);
  return PrintWrite(response);
}

int RunDeregister(const std::string& node, const std::string& who) {
  v1::DeregisterRequest request;
  *request.mutable_person() = PersonRefOf(who);
  v1::WriteResponse response;
  grpc::ClientContext context;
  grpc::Status status = Connect(node)->Deregister(&context, request, &response);
  if (!status.ok()) return ReportRpcError("deregister", status);
  return PrintWrite(response);
}

int RunHealth(const std::string& node) {
  auto stub = grpc::health::v1::Health::NewStub(ChannelTo(node));
  grpc::health::v1::HealthCheckRequest request;
  grpc::health::v1::HealthCheckResponse response;
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
  grpc::Status status = stub->Check(&context, request, &response);
  if (!status.ok()) return ReportRpcError("health", status);
  bool serving = response.status() == grpc::health::v1::HealthCheckResponse::SERVING;
  std::printf("%s\n", serving ? "SERVING" : "NOT_SERVING");
  return serving ? kExitOk : kExitFailure;
}

int RunExport(const std::string& node, const std::string& format) {
  Progress progress("export", "records", 0);
  if (progress.enabled()) {
    v1::StatusResponse st;
    grpc::ClientContext status_context;
    if (Connect(node)->Status(&status_context, v1::StatusRequest(), &st).ok()) {
      progress.set_total(st.counts().records());
    }
  }
  grpc::ClientContext context;
  auto reader = Connect(node)->Export(&context, v1::ExportRequest());
  bool csv = format == "csv";
  if (csv) std::printf("%s\n", PersonCsvHeader().c_str());
  v1::Person person;
  uint64_t written = 0;
  while (reader->Read(&person)) {
    std::string line = csv ? PersonCsvRow(person) : PersonJson(person, /*tombstone_only=*/true);
    std::fwrite(line.data(), 1, line.size(), stdout);
    std::fputc('\n', stdout);
    progress.Update(++written);
  }
  progress.Finish();
  grpc::Status status = reader->Finish();
  if (!status.ok()) return ReportRpcError("export", status);
  return std::fflush(stdout) == 0 ? kExitOk : kExitFailure;
}

}  // namespace wlsync::cli
