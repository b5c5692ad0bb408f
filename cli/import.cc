// `wlsync import` and `wlsync apply`: stream CSV rows to the node and report each refusal
// as "line N: reason" on stderr, then one summary line on stdout. On a terminal, a progress
// line (rows answered, rate, time left) is drawn on stderr between the refusals.
#include <algorithm>
#include <atomic>
#include <cstdio>
#include <fstream>
#include <mutex>
#include <thread>

#include "base/strings.h"
#include "cli/client.h"
#include "cli/commands.h"
#include "cli/import_rows.h"
#include "cli/progress.h"
#include "model/csv.h"
#include "model/validate.h"

namespace wlsync::cli {
namespace {

struct Tally {
  std::atomic<uint64_t> local_rejected{0};
  std::atomic<bool> read_failed{false};
  std::string read_error;  // written by the sender before it finishes
  std::mutex stderr_mu;    // refusal lines of both threads and the progress line
  Progress* progress = nullptr;
};

// Prints one refusal, clearing the progress line first so that the two do not mix.
void PrintRefusal(Tally& tally, int64_t line, const std::string& reason) {
  std::lock_guard<std::mutex> lock(tally.stderr_mu);
  if (tally.progress != nullptr) tally.progress->Finish();
  std::fprintf(stderr, "line %lld: %s\n", static_cast<long long>(line), reason.c_str());
}

// Data rows in `file`, estimated by its line breaks (a quoted cell may hold one more).
uint64_t EstimateRows(const std::string& file) {
  std::ifstream in(file, std::ios::binary);
  uint64_t lines = 0;
  char buf[1 << 16];
  while (in.read(buf, sizeof(buf)) || in.gcount() > 0) {
    lines += std::count(buf, buf + in.gcount(), '\n');
  }
  return lines > 0 ? lines - 1 : 0;
}

// Reads the file and sends rows in batches. Runs on its own thread.
void SendRows(model::CsvReader& reader, const ImportArgs& args, const std::vector<int>& index,
              size_t header_cells,
              grpc::ClientReaderWriter<v1::ImportRequest, v1::ImportResponse>& stream,
              Tally& tally) {
  v1::ImportRequest request;
  model::CsvRow row;
  for (;;) {
    absl::StatusOr<bool> more = reader.Next(&row);
    if (!more.ok() && !reader.skipped_reason().empty()) {
      // Only this record is unreadable (characters after a closing quote): refused like a
      // bad row, and the reader goes on after it.
      PrintRefusal(tally, row.line, std::string(reader.skipped_reason()));
      ++tally.local_rejected;
      continue;
    }
    if (!more.ok()) {
      tally.read_error = std::string(more.status().message());
      tally.read_failed = true;
      break;
    }
    if (!*more) break;
    absl::StatusOr<v1::ImportRow> r = ToRow(row, index, header_cells, args.changes);
    if (!r.ok()) {
      PrintRefusal(tally, row.line, std::string(r.status().message()));
      ++tally.local_rejected;
      continue;
    }
    *request.add_rows() = std::move(*r);
    if (request.rows_size() >= args.batch_rows) {
      if (!stream.Write(request)) return;
      request.Clear();
    }
  }
  if (request.rows_size() > 0) stream.Write(request);
  stream.WritesDone();
}

}  // namespace

int RunImport(const ImportArgs& args) {
  absl::StatusOr<model::Encoding> encoding = model::ParseEncoding(args.encoding);
  if (!encoding.ok()) {
    std::fprintf(stderr, "wlsync: --encoding: %s\n", std::string(encoding.status().message()).c_str());
    return kExitUsage;
  }
  absl::StatusOr<std::unique_ptr<model::CsvReader>> reader =
      model::CsvReader::Open(args.file, *encoding);
  if (!reader.ok()) {
    std::fprintf(stderr, "wlsync: %s\n", std::string(reader.status().message()).c_str());
    return kExitFailure;
  }
  model::CsvRow header;
  absl::StatusOr<bool> has_header = (*reader)->Next(&header);
  if (!has_header.ok() || !*has_header) {
    std::fprintf(stderr, "wlsync: %s: no header row\n", args.file.c_str());
    return kExitFailure;
  }
  absl::StatusOr<std::vector<int>> index =
      MapHeader(header, args.changes ? ChangeColumns() : model::DataColumns(), args.file);
  if (!index.ok()) {
    std::fprintf(stderr, "wlsync: %s\n", std::string(index.status().message()).c_str());
    return kExitFailure;
  }

  auto stub = Connect(args.node);
  grpc::ClientContext context;
  auto stream = stub->Import(&context);
  Tally tally;
  Progress progress(std::string(args.changes ? "apply " : "import ") + args.file, "rows", 0);
  if (progress.enabled()) progress.set_total(EstimateRows(args.file));
  tally.progress = &progress;
  std::thread sender([&] { SendRows(**reader, args, *index, header.cells.size(), *stream, tally); });

  v1::ImportResponse response;
  v1::ImportSummary summary;
  uint64_t answered = 0;
  while (stream->Read(&response)) {
    for (const v1::RowResult& r : response.results()) {
      if (r.outcome() == v1::REJECTED) PrintRefusal(tally, r.line(), r.reason());
    }
    answered += response.results_size();
    if (response.has_summary()) summary = response.summary();
    std::lock_guard<std::mutex> lock(tally.stderr_mu);
    progress.Update(answered + tally.local_rejected.load());
  }
  sender.join();
  {
    std::lock_guard<std::mutex> lock(tally.stderr_mu);
    progress.Finish();
  }
  grpc::Status status = stream->Finish();
  if (!status.ok()) return ReportRpcError(args.changes ? "apply" : "import", status);

  uint64_t rejected = summary.rejected() + tally.local_rejected;
  std::printf("imported=%llu updated=%llu unchanged=%llu rejected=%llu\n",
              static_cast<unsigned long long>(summary.imported()),
              static_cast<unsigned long long>(summary.updated()),
              static_cast<unsigned long long>(summary.unchanged()),
              static_cast<unsigned long long>(rejected));
  if (tally.read_failed) {
    std::fprintf(stderr, "wlsync: %s: stopped reading: %s\n", args.file.c_str(),
                 tally.read_error.c_str());
    return kExitFailure;
  }
  if (rejected == 0) return kExitOk;
  bool any_good = summary.imported() + summary.updated() + summary.unchanged() > 0;
  return any_good ? kExitPartial : kExitFailure;
}

}  // namespace wlsync::cli
