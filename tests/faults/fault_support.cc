#include "tests/faults/fault_support.h"

#include <google/protobuf/util/json_util.h>
#include <grpcpp/grpcpp.h>

#include <sstream>
#include <thread>

#include "cli/import_rows.h"
#include "model/csv.h"
#include "model/validate.h"
#include "net/credentials.h"
#include "wlsync/v1/registry.grpc.pb.h"

namespace wlsync::testing {

std::vector<v1::ImportRow> GeneratedRows(const std::string& dir, int rows, int seed) {
  std::string file = dir + "/generated.csv";
  CommandResult made = Run({std::string(WLSYNC_BIN_DIR) + "/wlsync-gen", "--rows",
                            std::to_string(rows), "--seed", std::to_string(seed), "--out", file,
                            "--grids", SampleFile("grids.csv")});
  std::vector<v1::ImportRow> out;
  if (made.exit_code != 0) return out;
  auto reader = model::CsvReader::Open(file, model::Encoding::kUtf8);
  if (!reader.ok()) return out;
  model::CsvRow header;
  if (!(*reader)->Next(&header).value_or(false)) return out;
  auto index = cli::MapHeader(header, model::DataColumns(), file);
  if (!index.ok()) return out;
  model::CsvRow row;
  while ((*reader)->Next(&row).value_or(false)) {
    auto r = cli::ToRow(row, *index, header.cells.size(), /*changes=*/false);
    if (r.ok()) out.push_back(std::move(*r));
  }
  return out;
}

AckingImporter::AckingImporter(const Node& node, const std::vector<v1::ImportRow>& rows,
                               size_t begin, size_t end, size_t batch_rows,
                               std::chrono::milliseconds pause)
    : node_(node), rows_(rows), next_(begin), end_(end), batch_rows_(batch_rows), pause_(pause) {}

void AckingImporter::Run(const std::atomic<bool>& stop) {
  auto channel = grpc::CreateChannel(node_.address(),
                                     net::ClientChannelCredentials(ReadFile(node_.ca())));
  auto stub = v1::Registry::NewStub(channel);
  grpc::ClientContext context;
  context.AddMetadata("authorization", "Bearer " + TokenOf(node_, "operator"));
  auto stream = stub->Import(&context);

  // The node answers batches as they become durable, with several in flight: send on one
  // thread, read the answers on this one, as `wlsync import` does.
  std::thread sender([&] {
    while (!stop.load() && next_ < end_) {
      v1::ImportRequest request;
      for (; next_ < end_ && static_cast<size_t>(request.rows_size()) < batch_rows_; ++next_) {
        *request.add_rows() = rows_[next_];
      }
      if (!stream->Write(request)) break;
      std::this_thread::sleep_for(pause_);
    }
    stream->WritesDone();
  });
  v1::ImportResponse response;
  while (stream->Read(&response)) {
    for (const v1::RowResult& r : response.results()) {
      if (r.outcome() == v1::CREATED || r.outcome() == v1::UPDATED ||
          r.outcome() == v1::UNCHANGED) {
        acked_.insert(r.pid());
      } else {
        refusals_.push_back(r.reason());
      }
    }
  }
  sender.join();
  (void)stream->Finish();
}

std::string TokenOf(const Node& node, const std::string& role) {
  std::string token = ReadFile(node.token_file(role));
  while (!token.empty() && (token.back() == '\n' || token.back() == '\r')) token.pop_back();
  return token;
}

std::optional<v1::StatusResponse> Status(const Node& node) {
  CommandResult r = node.Cli({"status", "--json"});
  if (r.exit_code != 0) return std::nullopt;
  v1::StatusResponse s;
  google::protobuf::util::JsonParseOptions options;
  options.ignore_unknown_fields = true;
  if (!google::protobuf::util::JsonStringToMessage(r.out, &s, options).ok()) return std::nullopt;
  return s;
}

std::map<std::string, std::pair<uint64_t, uint64_t>> Streams(const v1::StatusResponse& status) {
  std::map<std::string, std::pair<uint64_t, uint64_t>> out;
  for (const v1::StreamCursor& c : status.streams()) {
    out[c.origin() + "/" + c.epoch()] = {c.seq(), c.events()};
  }
  return out;
}

std::set<std::string> ExportedPids(const std::string& jsonl) {
  std::set<std::string> out;
  std::istringstream lines(jsonl);
  for (std::string line; std::getline(lines, line);) {
    size_t at = line.find("\"pid\":\"");
    if (at == std::string::npos) continue;
    size_t end = line.find('"', at + 7);
    if (end != std::string::npos) out.insert(line.substr(at + 7, end - at - 7));
  }
  return out;
}

}  // namespace wlsync::testing
