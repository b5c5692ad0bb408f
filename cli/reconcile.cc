// `wlsync reconcile`, `reconcile-report` and `verify-cert`: run and read reconciliations,
// and check an agreement certificate offline.
#include <google/protobuf/util/json_util.h>

#include <condition_variable>
#include <cstdio>
#include <mutex>
#include <thread>

#include "base/strings.h"
#include "cli/client.h"
#include "cli/commands.h"
#include "cli/progress.h"
#include "daemon/config.h"
#include "model/pid.h"
#include "sync/key_lifecycle.h"
#include "sync/reconciler.h"
#include "sync/signer.h"
#include "wlsync/v1/peer.pb.h"

namespace wlsync::cli {
namespace {

std::string ToJson(const google::protobuf::Message& m, bool pretty) {
  std::string json;
  google::protobuf::util::JsonPrintOptions options;
  options.preserve_proto_field_names = true;
  options.always_print_primitive_fields = true;
  options.add_whitespace = pretty;
  (void)google::protobuf::util::MessageToJsonString(m, &json, options);
  while (!json.empty() && json.back() == '\n') json.pop_back();
  return json;
}

int Fail(const std::string& what, const std::string& message) {
  std::fprintf(stderr, "wlsync: %s: %s\n", what.c_str(), message.c_str());
  return kExitFailure;
}

// On a terminal, polls the node's status twice a second while a reconciliation runs and
// draws its progress; stops when `done` is set.
class ReconcileWatcher {
 public:
  ReconcileWatcher(const std::string& node, const std::string& peer)
      : progress_("reconcile with " + peer, "", 0) {
    if (!progress_.enabled()) return;
    thread_ = std::thread([this, node] { Watch(node); });
  }
  ~ReconcileWatcher() { Stop(); }

  void Stop() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      done_ = true;
    }
    cv_.notify_all();
    if (thread_.joinable()) thread_.join();
    progress_.Finish();
  }

 private:
  void Watch(const std::string& node) {
    auto stub = Connect(node);
    std::unique_lock<std::mutex> lock(mu_);
    while (!cv_.wait_for(lock, std::chrono::milliseconds(500), [&] { return done_; })) {
      v1::StatusResponse st;
      grpc::ClientContext context;
      context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(2));
      if (!stub->Status(&context, v1::StatusRequest(), &st).ok()) continue;
      if (!st.has_reconcile_running()) continue;
      const v1::ReconcileProgress& p = st.reconcile_running();
      progress_.set_total(p.total());
      progress_.Update(p.done(), p.phase());
    }
  }

  Progress progress_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool done_ = false;  // guarded by mu_
  std::thread thread_;
};

}  // namespace

int RunReconcile(const std::string& node, const std::string& peer, const std::string& cert_out) {
  v1::ReconcileRequest request;
  request.set_peer(peer);
  v1::ReconcileReport report;
  grpc::ClientContext context;
  ReconcileWatcher watcher(node, peer);
  grpc::Status status = Connect(node)->Reconcile(&context, request, &report);
  watcher.Stop();
  if (!status.ok()) return ReportRpcError("reconcile", status);
  std::printf("%s\n", ToJson(report, /*pretty=*/true).c_str());
  if (!report.error().empty()) return Fail("reconcile", report.error());

  if (!cert_out.empty()) {
    if (report.certificate().signatures_size() < 2) {
      return Fail("reconcile", "no agreement certificate: the nodes did not end equal");
    }
    absl::Status s = model::WriteFileAtomic(cert_out, ToJson(report.certificate(), true) + "\n", 0644);
    if (!s.ok()) return Fail("reconcile", std::string(s.message()));
  }
  bool clean = report.equal() && report.unrepairable_size() == 0 && report.in_flight() == 0;
  return clean ? kExitOk : kExitPartial;
}

int RunQuarantine(const std::string& node, int limit) {
  v1::ListQuarantineRequest request;
  request.set_limit(static_cast<uint32_t>(limit));
  v1::ListQuarantineResponse response;
  grpc::ClientContext context;
  grpc::Status status = Connect(node)->ListQuarantine(&context, request, &response);
  if (!status.ok()) return ReportRpcError("quarantine", status);
  std::printf("%s\n", ToJson(response, /*pretty=*/true).c_str());
  return kExitOk;
}

int RunReconcileReport(const std::string& node, int last) {
  v1::ListReportsRequest request;
  request.set_last(static_cast<uint32_t>(last));
  v1::ListReportsResponse response;
  grpc::ClientContext context;
  grpc::Status status = Connect(node)->ListReports(&context, request, &response);
  if (!status.ok()) return ReportRpcError("reconcile-report", status);
  std::printf("[");
  for (int i = 0; i < response.reports_size(); ++i) {
    std::printf("%s%s", i == 0 ? "\n" : ",\n", ToJson(response.reports(i), false).c_str());
  }
  std::printf("\n]\n");
  return kExitOk;
}

int RunVerifyCert(const std::string& file, const std::string& config_path,
                  const std::vector<std::string>& keys) {
  sync::TrustStore trust;
  if (!config_path.empty()) {
    absl::StatusOr<daemon::Config> config = daemon::LoadConfig(config_path);
    if (!config.ok()) return Fail("verify-cert", std::string(config.status().message()));
    absl::StatusOr<std::string> own = model::ReadSmallFile(config->signing_key + ".pub");
    if (own.ok()) {
      absl::StatusOr<std::string> key = sync::ParsePublicKeyHex(*own, "own public key");
      if (key.ok()) (void)trust.Add(config->name, *key);
    }
    for (const daemon::PeerConfig& p : config->peers) (void)trust.Add(p.name, p.public_key);
    for (const daemon::TrustedConfig& t : config->trusted) (void)trust.Add(t.name, t.public_key);
    // The node's earlier keys, for certificates it signed before a rotation.
    absl::StatusOr<std::vector<sync::KeyRecord>> history =
        sync::ReadKeyHistory(sync::KeyHistoryPath(config->signing_key), config->name);
    if (history.ok()) trust.Apply(*history);
  }
  for (const std::string& entry : keys) {
    size_t eq = entry.find('=');
    if (eq == std::string::npos) return Fail("verify-cert", "--key must be NAME=HEX");
    absl::StatusOr<std::string> key = sync::ParsePublicKeyHex(entry.substr(eq + 1), "--key");
    if (!key.ok()) return Fail("verify-cert", std::string(key.status().message()));
    // A node may be given several times: one --key for each key it has had.
    if (absl::Status s = trust.Add(entry.substr(0, eq), *key); absl::IsAlreadyExists(s)) {
      sync::KeyRecord extra;
      extra.node = entry.substr(0, eq);
      extra.key_id = sync::KeyIdOf(*key);
      extra.public_key = *key;
      extra.source = "--key";
      trust.Apply({extra});
    } else if (!s.ok()) {
      return Fail("verify-cert", std::string(s.message()));
    }
  }

  absl::StatusOr<std::string> text = model::ReadSmallFile(file);
  if (!text.ok()) return Fail("verify-cert", std::string(text.status().message()));
  v1::AgreementCertificate cert;
  if (!google::protobuf::util::JsonStringToMessage(*text, &cert).ok()) {
    return Fail("verify-cert", base::StrCat(file, ": not a certificate (JSON)"));
  }
  absl::StatusOr<std::string> statement_bytes = sync::VerifyCertificate(cert, trust);
  if (!statement_bytes.ok()) return Fail("verify-cert", std::string(statement_bytes.status().message()));
  v1::AgreementStatement statement;
  statement.ParseFromString(*statement_bytes);
  std::printf("valid: %s and %s held the same %llu records (root %s) at %lld ms\n",
              statement.node_a().c_str(), statement.node_b().c_str(),
              static_cast<unsigned long long>(statement.record_count()),
              model::HexEncode(statement.root_digest()).c_str(),
              static_cast<long long>(statement.unix_ms()));
  std::printf("%s\n", ToJson(statement, /*pretty=*/false).c_str());
  return kExitOk;
}

}  // namespace wlsync::cli
