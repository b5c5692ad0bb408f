#include "daemon/registry_service.h"

#include <grpcpp/grpcpp.h>

#include <array>
#include <deque>
#include <future>

#include "absl/container/flat_hash_map.h"
#include "base/strings.h"
#include "base/logging.h"
#include "daemon/gate.h"
#include "model/fields.h"
#include "model/merge.h"
#include "model/pid.h"
#include "wlsync/v1/registry.grpc.pb.h"

namespace wlsync::daemon {

v1::Person ToPerson(const v1::Record& record, bool tombstone_only) {
  v1::Person p;
  p.set_pid(record.pid());
  p.set_updated_hlc(model::UpdatedHlc(record));
  v1::PersonFields flat = model::Flatten(record);
  if (tombstone_only && !model::IsRegistered(record)) {
    p.mutable_fields()->set_home(flat.home());
    p.mutable_fields()->set_status(flat.status());
  } else {
    *p.mutable_fields() = std::move(flat);
  }
  return p;
}

namespace {

using sync::LocalResult;
using sync::LocalWrite;

// Import keeps this many batches of rows in the writer at once.
constexpr size_t kImportInFlight = 8;

v1::Outcome ToOutcome(model::WriteOutcome o) {
  switch (o) {
    case model::WriteOutcome::kCreated: return v1::CREATED;
    case model::WriteOutcome::kUpdated: return v1::UPDATED;
    case model::WriteOutcome::kUnchanged: return v1::UNCHANGED;
  }
  return v1::OUTCOME_UNSPECIFIED;
}


// The pids an import has seen, with the line of each, to name duplicated people. Keys are
// the 26 pid characters inline (no heap string per row): about 40 bytes a row.
using PidKey = std::array<char, model::kPidLength>;
using SeenPids = absl::flat_hash_map<PidKey, int64_t>;

PidKey ToPidKey(const std::string& pid) {
  PidKey key{};
  std::copy_n(pid.begin(), std::min(pid.size(), key.size()), key.begin());
  return key;
}

// One ImportRequest on its way through the writer.
struct PendingBatch {
  std::vector<v1::RowResult> results;  // one per row; rows still to write have no outcome
  std::vector<size_t> written;         // indexes of rows sent to the writer
  std::future<std::vector<LocalResult>> future;
};

class RegistryServiceImpl final : public v1::Registry::Service {
 public:
  explicit RegistryServiceImpl(RegistryDeps deps) : d_(std::move(deps)) {}

  grpc::Status Register(grpc::ServerContext* context, const v1::RegisterRequest* request,
                        v1::WriteResponse* response) override {
    Caller caller;
    if (grpc::Status a = d_.gate.Admit(*context, access::Method::kRegister, &caller); !a.ok()) return a;
    LocalWrite w;
    w.kind = LocalWrite::Kind::kRegister;
    w.fields = request->person();
    absl::StatusOr<std::string> pid = d_.planner.PrepareUpsert(&w.fields);
    if (!pid.ok()) return ToGrpc(pid.status());
    w.pid = *pid;
    return WriteOne(std::move(w), response);
  }

  grpc::Status Update(grpc::ServerContext* context, const v1::UpdateRequest* request,
                      v1::WriteResponse* response) override {
    Caller caller;
    if (grpc::Status a = d_.gate.Admit(*context, access::Method::kUpdate, &caller); !a.ok()) return a;
    LocalWrite w;
    w.kind = LocalWrite::Kind::kUpdate;
    absl::StatusOr<std::string> pid = Resolve(request->person());
    if (!pid.ok()) return ToGrpc(pid.status());
    w.pid = *pid;
    if (request->changes().empty()) {
      return ToGrpc(absl::InvalidArgumentError("changes: at least one field change is needed"));
    }
    for (const v1::FieldChange& c : request->changes()) {
      model::FieldEdit edit{c.field(), c.value()};
      if (absl::Status s = d_.planner.PrepareEdit(&edit); !s.ok()) return ToGrpc(s);
      w.edits.push_back(std::move(edit));
    }
    return WriteOne(std::move(w), response);
  }

  grpc::Status Deregister(grpc::ServerContext* context, const v1::DeregisterRequest* request,
                          v1::WriteResponse* response) override {
    Caller caller;
    if (grpc::Status a = d_.gate.Admit(*context, access::Method::kDeregister, &caller); !a.ok()) return a;
    LocalWrite w;
    w.kind = LocalWrite::Kind::kDeregister;
    absl::StatusOr<std::string> pid = Resolve(request->person());
    if (!pid.ok()) return ToGrpc(pid.status());
    w.pid = *pid;
    return WriteOne(std::move(w), response);
  }

  grpc::Status Get(grpc::ServerContext* context, const v1::GetRequest* request,
                   v1::Person* response) override {
    Caller caller;
    if (grpc::Status a = d_.gate.Admit(*context, access::Method::kGet, &caller); !a.ok()) return a;
    absl::StatusOr<std::string> pid = Resolve(request->person());
    if (!pid.ok()) return ToGrpc(pid.status());
    absl::StatusOr<std::optional<v1::Record>> record = d_.store.GetRecord(*pid);
    if (!record.ok()) return ToGrpc(record.status());
    if (!record->has_value() || !model::Exists(**record)) {
      return ToGrpc(absl::NotFoundError(base::StrCat("person: no record for pid ", *pid)));
    }
    std::string filter = request->person().ref_case() == v1::PersonRef::kPid
                             ? base::StrCat("pid=", *pid)
                             : base::StrCat("id_doc=pid:", *pid);
    if (grpc::Status a = d_.gate.Disclose(caller, access::Method::kGet, std::move(filter), "",
                                          {*pid}, 1);
        !a.ok()) {
      return a;
    }
    *response = ToPerson(**record, /*tombstone_only=*/false);
    return grpc::Status::OK;
  }

  grpc::Status Import(grpc::ServerContext* context,
                      grpc::ServerReaderWriter<v1::ImportResponse, v1::ImportRequest>* stream)
      override;

  grpc::Status Export(grpc::ServerContext* context, const v1::ExportRequest*,
                      grpc::ServerWriter<v1::Person>* writer) override {
    Caller caller;
    if (grpc::Status a = d_.gate.Admit(*context, access::Method::kExport, &caller); !a.ok()) return a;
    // Recorded before the first record leaves: an export shows every record.
    uint64_t records = static_cast<uint64_t>(d_.store.counts().records);
    if (grpc::Status a = d_.gate.Disclose(caller, access::Method::kExport, "all", "", {}, records,
                                          /*full_export=*/true);
        !a.ok()) {
      return a;
    }
    std::unique_ptr<storage::RecordCursor> cursor = d_.store.ScanRecords();
    for (; cursor->Valid(); cursor->Next()) {
      if (context->IsCancelled()) return grpc::Status::CANCELLED;
      absl::StatusOr<v1::Record> record = cursor->record();
      if (!record.ok()) return ToGrpc(record.status());
      if (!model::Exists(*record)) continue;  // only partial remote state so far
      if (!writer->Write(ToPerson(*record, /*tombstone_only=*/true))) {
        return grpc::Status::CANCELLED;
      }
    }
    return ToGrpc(cursor->status());
  }

  grpc::Status Status(grpc::ServerContext*, const v1::StatusRequest*,
                      v1::StatusResponse* response) override;

  grpc::Status Reconcile(grpc::ServerContext* context, const v1::ReconcileRequest* request,
                         v1::ReconcileReport* response) override {
    Caller caller;
    if (grpc::Status a = d_.gate.Admit(*context, access::Method::kReconcile, &caller); !a.ok()) return a;
    absl::StatusOr<v1::ReconcileReport> report = d_.reconcile(request->peer());
    if (!report.ok()) return ToGrpc(report.status());
    *response = std::move(*report);
    return grpc::Status::OK;
  }

  grpc::Status ListQuarantine(grpc::ServerContext* context,
                              const v1::ListQuarantineRequest* request,
                              v1::ListQuarantineResponse* response) override {
    Caller caller;
    if (grpc::Status a = d_.gate.Admit(*context, access::Method::kListQuarantine, &caller); !a.ok()) return a;
    size_t limit = request->limit() == 0 ? 100 : std::min<uint32_t>(request->limit(), 10000);
    absl::StatusOr<std::vector<storage::QuarantineEntry>> entries = d_.store.ReadQuarantine(limit);
    if (!entries.ok()) return ToGrpc(entries.status());
    for (const storage::QuarantineEntry& q : *entries) {
      v1::QuarantinedEvent* e = response->add_events();
      e->set_origin(q.stream.origin);
      e->set_epoch(model::HexEncode(q.stream.epoch));
      e->set_seq(q.seq);
      e->set_index(static_cast<uint32_t>(q.index));
      e->set_pid(q.pid);
      e->set_reason(q.reason);
      e->set_unix_ms(q.unix_ms);
    }
    response->set_total(d_.store.quarantined());
    return grpc::Status::OK;
  }

  grpc::Status ListReports(grpc::ServerContext* context, const v1::ListReportsRequest* request,
                           v1::ListReportsResponse* response) override {
    Caller caller;
    if (grpc::Status a = d_.gate.Admit(*context, access::Method::kListReports, &caller); !a.ok()) return a;
    size_t last = request->last() == 0 ? 10 : std::min<uint32_t>(request->last(), 1000);
    absl::StatusOr<std::vector<std::string>> reports = d_.store.ListReports(last);
    if (!reports.ok()) return ToGrpc(reports.status());
    for (const std::string& bytes : *reports) {
      if (!response->add_reports()->ParseFromString(bytes)) {
        return ToGrpc(absl::DataLossError("reports: a stored report does not parse"));
      }
    }
    return grpc::Status::OK;
  }

 private:
  absl::StatusOr<std::string> Resolve(const v1::PersonRef& ref) const {
    switch (ref.ref_case()) {
      case v1::PersonRef::kPid:
        if (!model::IsValidPid(ref.pid())) {
          return absl::InvalidArgumentError("pid: must be 26 lowercase base32 characters");
        }
        return ref.pid();
      case v1::PersonRef::kIdDoc:
        return d_.planner.PidOf(ref.id_doc());
      default:
        return absl::InvalidArgumentError("person: give a pid or an id_doc");
    }
  }

  grpc::Status WriteOne(LocalWrite w, v1::WriteResponse* response) {
    std::vector<LocalWrite> writes;
    writes.push_back(std::move(w));
    LocalResult r = d_.writer.WriteLocal(std::move(writes)).front();
    if (!r.status.ok()) return ToGrpc(r.status);
    response->set_pid(r.pid);
    response->set_outcome(ToOutcome(r.outcome));
    response->set_hlc(r.hlc);
    return grpc::Status::OK;
  }

  // Validates one row; returns a write, or fills `result` with the refusal. The row's
  // fields are moved into the write, not copied: the caller reads its next request over it.
  std::optional<LocalWrite> PrepareRow(v1::ImportRow* row, SeenPids* seen,
                                       v1::RowResult* result) const;
  PendingBatch Submit(v1::ImportRequest* request, SeenPids* seen);
  static void Finish(PendingBatch* batch, v1::ImportSummary* summary, v1::ImportResponse* out);

  void CountRows(const v1::ImportSummary& before, const v1::ImportSummary& after) const {
    if (d_.import_rows == nullptr) return;
    d_.import_rows->Add({"created"}, after.imported() - before.imported());
    d_.import_rows->Add({"updated"}, after.updated() - before.updated());
    d_.import_rows->Add({"unchanged"}, after.unchanged() - before.unchanged());
    d_.import_rows->Add({"rejected"}, after.rejected() - before.rejected());
  }

  RegistryDeps d_;
};

std::optional<LocalWrite> RegistryServiceImpl::PrepareRow(v1::ImportRow* row, SeenPids* seen,
                                                          v1::RowResult* result) const {
  auto refuse = [&](const absl::Status& s) -> std::optional<LocalWrite> {
    result->set_outcome(v1::REJECTED);
    result->set_reason(std::string(s.message()));
    return std::nullopt;
  };
  LocalWrite w;
  if (row->has_upsert()) {
    w.kind = LocalWrite::Kind::kUpsert;
    w.fields.Swap(row->mutable_upsert());
    absl::StatusOr<std::string> pid = d_.planner.PrepareUpsert(&w.fields);
    if (!pid.ok()) return refuse(pid.status());
    auto [it, inserted] = seen->emplace(ToPidKey(*pid), row->line());
    if (!inserted) {
      return refuse(absl::AlreadyExistsError(
          base::StrCat("id_doc: duplicated person (same identity number as line ", it->second,
                       ")")));
    }
    w.pid = *pid;
  } else if (row->has_change()) {
    const v1::ChangeRow& c = row->change();
    absl::StatusOr<std::string> pid = d_.planner.PidOf(c.id_doc());
    if (!pid.ok()) return refuse(pid.status());
    w.pid = *pid;
    if (c.op() == "set") {
      w.kind = LocalWrite::Kind::kUpdate;
      model::FieldEdit edit{c.field(), c.value()};
      if (absl::Status s = d_.planner.PrepareEdit(&edit); !s.ok()) return refuse(s);
      w.edits.push_back(std::move(edit));
    } else if (c.op() == "deregister") {
      if (!c.field().empty() || !c.value().empty()) {
        return refuse(absl::InvalidArgumentError("deregister: field and value must be empty"));
      }
      w.kind = LocalWrite::Kind::kDeregister;
    } else {
      return refuse(absl::InvalidArgumentError("op: must be \"set\" or \"deregister\""));
    }
  } else {
    return refuse(absl::InvalidArgumentError("row: empty"));
  }
  result->set_pid(w.pid);
  return w;
}

PendingBatch RegistryServiceImpl::Submit(v1::ImportRequest* request, SeenPids* seen) {
  PendingBatch batch;
  std::vector<LocalWrite> writes;
  writes.reserve(request->rows_size());
  batch.written.reserve(request->rows_size());
  batch.results.resize(request->rows_size());
  for (int i = 0; i < request->rows_size(); ++i) {
    batch.results[i].set_line(request->rows(i).line());
    std::optional<LocalWrite> w = PrepareRow(request->mutable_rows(i), seen, &batch.results[i]);
    if (!w) continue;
    writes.push_back(std::move(*w));
    batch.written.push_back(static_cast<size_t>(i));
  }
  batch.future = d_.writer.SubmitLocal(std::move(writes));
  return batch;
}

void RegistryServiceImpl::Finish(PendingBatch* batch, v1::ImportSummary* summary,
                                 v1::ImportResponse* out) {
  std::vector<LocalResult> written = batch->future.get();
  for (size_t k = 0; k < written.size(); ++k) {
    v1::RowResult& r = batch->results[batch->written[k]];
    if (written[k].status.ok()) {
      r.set_outcome(ToOutcome(written[k].outcome));
    } else {
      r.set_outcome(v1::REJECTED);
      r.set_reason(std::string(written[k].status.message()));
    }
  }
  for (v1::RowResult& r : batch->results) {
    switch (r.outcome()) {
      case v1::CREATED: summary->set_imported(summary->imported() + 1); break;
      case v1::UPDATED: summary->set_updated(summary->updated() + 1); break;
      case v1::UNCHANGED: summary->set_unchanged(summary->unchanged() + 1); break;
      default: summary->set_rejected(summary->rejected() + 1); break;
    }
    *out->add_results() = std::move(r);
  }
}

grpc::Status RegistryServiceImpl::Import(
    grpc::ServerContext* context,
    grpc::ServerReaderWriter<v1::ImportResponse, v1::ImportRequest>* stream) {
  Caller caller;
  if (grpc::Status a = d_.gate.Admit(*context, access::Method::kImport, &caller); !a.ok()) return a;
  SeenPids seen;
  std::deque<PendingBatch> in_flight;
  v1::ImportSummary summary;
  v1::ImportRequest request;

  auto drain_one = [&]() -> bool {
    v1::ImportResponse response;
    v1::ImportSummary before = summary;
    Finish(&in_flight.front(), &summary, &response);
    in_flight.pop_front();
    CountRows(before, summary);
    return stream->Write(response);
  };

  while (!context->IsCancelled() && stream->Read(&request)) {
    if (static_cast<size_t>(request.rows_size()) > d_.max_rows_per_request) {
      while (!in_flight.empty()) drain_one();
      return ToGrpc(absl::InvalidArgumentError(base::StrCat(
          "rows: at most ", d_.max_rows_per_request, " rows per ImportRequest")));
    }
    in_flight.push_back(Submit(&request, &seen));
    if (in_flight.size() >= kImportInFlight && !drain_one()) break;
  }
  // Every submitted batch is awaited, even if the client went away: a write in the writer
  // completes either way, and its results must not be left dangling.
  bool ok = true;
  while (!in_flight.empty()) ok = drain_one() && ok;
  if (!ok || context->IsCancelled()) {
    base::Logger("rpc")->warn(
        "import cancelled by the client imported={} updated={} unchanged={} rejected={} (all "
        "acknowledged rows are stored)",
        summary.imported(), summary.updated(), summary.unchanged(), summary.rejected());
    return grpc::Status::CANCELLED;
  }

  v1::ImportResponse last;
  *last.mutable_summary() = summary;
  stream->Write(last);
  base::Logger("rpc")->info("import done imported={} updated={} unchanged={} rejected={}",
                            summary.imported(), summary.updated(), summary.unchanged(),
                            summary.rejected());
  return grpc::Status::OK;
}

grpc::Status RegistryServiceImpl::Status(grpc::ServerContext* context, const v1::StatusRequest*,
                                         v1::StatusResponse* response) {
  Caller caller;
  if (grpc::Status a = d_.gate.Admit(*context, access::Method::kStatus, &caller); !a.ok()) return a;
  response->set_node(d_.planner.node());
  response->set_epoch(model::HexEncode(d_.store.epoch()));
  storage::Counts c = d_.store.counts();
  v1::Counts* counts = response->mutable_counts();
  counts->set_records(c.records);
  counts->set_registered_white(c.registered_white);
  counts->set_registered_grey(c.registered_grey);
  counts->set_deregistered(c.deregistered);
  response->set_hlc(d_.clock.Current());
  response->set_own_seq(d_.writer.own_seq());
  response->set_quarantined_events(d_.store.quarantined());
  if (absl::Status err = d_.store.write_error(); !err.ok()) {
    response->set_write_error(std::string(err.message()));
  }

  absl::StatusOr<std::vector<std::pair<storage::StreamId, storage::StreamState>>> streams =
      d_.store.Streams();
  if (!streams.ok()) return ToGrpc(streams.status());
  for (const auto& [id, state] : *streams) {
    v1::StreamCursor* s = response->add_streams();
    s->set_origin(id.origin);
    s->set_epoch(model::HexEncode(id.epoch));
    s->set_seq(state.seq);
    s->set_events(state.events);
  }
  std::vector<std::string> forked = d_.writer.forked_streams();
  for (v1::PeerStatus& p : d_.peers()) {
    for (const std::string& f : forked) p.add_forked_origins(f);
    *p.mutable_cursors() = response->streams();
    *response->add_peers() = std::move(p);
  }
  if (d_.describe) d_.describe(response);
  return grpc::Status::OK;
}

}  // namespace

std::unique_ptr<grpc::Service> NewRegistryService(RegistryDeps deps) {
  return std::make_unique<RegistryServiceImpl>(std::move(deps));
}

}  // namespace wlsync::daemon
