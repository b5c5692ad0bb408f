// wlsync-bench-latency: propagation latency between two running nodes. Registers people
// one per Register call at node A at a fixed rate and measures, for each, the time from
// the call returning at A to the first Get at node B that finds the person.
//
//   wlsync-bench-latency --a HOST:PORT --b HOST:PORT --a-token-file F --b-token-file F
//                        --csv FILE [--rate 500] [--seconds 20]
//
// The token files hold operator tokens of A and B (bench/lib.sh start_node makes them).
//
// Method: sender threads share one schedule (call i starts at t0 + i / rate, so a slow call
// does not slow the schedule until every sender is busy); each acknowledged pid is queued
// with its acknowledgement time. One watcher thread takes the queue in order and calls Get
// at B until the person is found (replication applies A's deltas in order, so the queue
// order is the arrival order). All times are from one steady clock in this process. The
// watcher's Get round trip bounds the resolution and is reported as get_rtt.
//
// Prints one line of key=value figures; see bench/latency_bench.sh and docs/benchmarks.md.
#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <deque>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "CLI/CLI.hpp"
#include "bench/transport.h"
#include "bench/bench_token.h"
#include "model/csv.h"
#include "model/fields.h"
#include "model/validate.h"
#include "wlsync/v1/registry.grpc.pb.h"

namespace wlsync::bench {
namespace {

using Clock = std::chrono::steady_clock;

struct Args {
  std::string a;
  std::string b;
  std::string a_token_file;
  std::string b_token_file;
  std::string a_token;  // read from the files by main
  std::string b_token;
  std::string csv;
  double rate = 500;
  double seconds = 20;
  int senders = 16;
  double timeout_s = 10;  // a person not at B this long after its ack counts as lost
};

struct Acked {
  std::string pid;
  Clock::time_point acked;
};

// Acknowledged writes waiting to be seen at B. Thread safe.
class AckQueue {
 public:
  void Push(Acked a) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      queue_.push_back(std::move(a));
    }
    cv_.notify_one();
  }
  // Blocks for the next entry; false once closed and drained.
  bool Pop(Acked* out) {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait(lock, [&] { return closed_ || !queue_.empty(); });
    if (queue_.empty()) return false;
    *out = std::move(queue_.front());
    queue_.pop_front();
    return true;
  }
  void Close() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      closed_ = true;
    }
    cv_.notify_all();
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Acked> queue_;
  bool closed_ = false;
};

double Ms(Clock::duration d) { return std::chrono::duration<double, std::milli>(d).count(); }

double Percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  size_t i = static_cast<size_t>(p / 100.0 * static_cast<double>(v.size() - 1) + 0.5);
  return v[std::min(i, v.size() - 1)];
}

std::shared_ptr<grpc::ChannelCredentials> credentials;  // set by main before Run

std::unique_ptr<v1::Registry::Stub> Connect(const std::string& address) {
  return v1::Registry::NewStub(grpc::CreateChannel(address, credentials));
}

// The first `n` data rows of a commuters CSV as Register requests.
std::vector<v1::RegisterRequest> LoadPeople(const std::string& path, size_t n) {
  std::vector<v1::RegisterRequest> out;
  auto reader = model::CsvReader::Open(path, model::Encoding::kUtf8);
  if (!reader.ok()) return out;
  model::CsvRow row;
  if (auto header = (*reader)->Next(&row); !header.ok() || !*header) return out;
  while (out.size() < n) {
    absl::StatusOr<bool> more = (*reader)->Next(&row);
    if (!more.ok() || !*more) break;
    if (row.cells.size() != model::DataColumns().size()) continue;
    v1::RegisterRequest r;
    for (size_t c = 0; c < row.cells.size(); ++c) {
      *model::MutableField(r.mutable_person(), model::DataColumns()[c]) = row.cells[c];
    }
    out.push_back(std::move(r));
  }
  return out;
}

void Sender(const Args& args, const std::vector<v1::RegisterRequest>& people,
            Clock::time_point t0, std::atomic<size_t>& next, AckQueue& acks,
            std::vector<double>* register_ms, std::atomic<uint64_t>& failed) {
  auto stub = Connect(args.a);
  for (;;) {
    size_t i = next.fetch_add(1);
    if (i >= people.size()) return;
    std::this_thread::sleep_until(
        t0 + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(i / args.rate)));
    grpc::ClientContext context;
    Authorize(&context, args.a_token);
    v1::WriteResponse response;
    Clock::time_point sent = Clock::now();
    grpc::Status s = stub->Register(&context, people[i], &response);
    Clock::time_point acked = Clock::now();
    if (!s.ok()) {
      if (failed.fetch_add(1) == 0) {
        std::fprintf(stderr, "register: %s\n", s.error_message().c_str());
      }
      continue;
    }
    register_ms->push_back(Ms(acked - sent));
    acks.Push({response.pid(), acked});
  }
}

struct WatchResult {
  std::vector<double> latency_ms;
  uint64_t gets = 0;
  double get_seconds = 0;
  uint64_t lost = 0;
};

void Watcher(const Args& args, AckQueue& acks, WatchResult* out) {
  auto stub = Connect(args.b);
  Acked a;
  while (acks.Pop(&a)) {
    v1::GetRequest request;
    request.mutable_person()->set_pid(a.pid);
    for (;;) {
      grpc::ClientContext context;
      Authorize(&context, args.b_token);
      v1::Person person;
      Clock::time_point sent = Clock::now();
      grpc::Status s = stub->Get(&context, request, &person);
      Clock::time_point now = Clock::now();
      ++out->gets;
      out->get_seconds += std::chrono::duration<double>(now - sent).count();
      if (s.ok()) {
        out->latency_ms.push_back(Ms(now - a.acked));
        break;
      }
      if (now - a.acked > std::chrono::duration<double>(args.timeout_s)) {
        ++out->lost;
        break;
      }
    }
  }
}

int Run(const Args& args) {
  size_t n = static_cast<size_t>(args.rate * args.seconds);
  std::vector<v1::RegisterRequest> people = LoadPeople(args.csv, n);
  if (people.size() < n) {
    std::fprintf(stderr, "wlsync-bench-latency: %s holds fewer than %zu rows\n", args.csv.c_str(), n);
    return 1;
  }

  AckQueue acks;
  WatchResult watch;
  std::thread watcher([&] { Watcher(args, acks, &watch); });
  std::atomic<size_t> next{0};
  std::atomic<uint64_t> failed{0};
  std::vector<std::vector<double>> register_ms(args.senders);
  Clock::time_point t0 = Clock::now() + std::chrono::milliseconds(200);
  std::vector<std::thread> senders;
  for (int s = 0; s < args.senders; ++s) {
    senders.emplace_back([&, s] { Sender(args, people, t0, next, acks, &register_ms[s], failed); });
  }
  for (std::thread& t : senders) t.join();
  double send_seconds = std::chrono::duration<double>(Clock::now() - t0).count();
  acks.Close();
  watcher.join();

  std::vector<double> reg;
  for (const auto& v : register_ms) reg.insert(reg.end(), v.begin(), v.end());
  const std::vector<double>& lat = watch.latency_ms;
  std::printf(
      "writes=%zu failed=%llu lost=%llu achieved_rate=%.0f p50_ms=%.2f p90_ms=%.2f "
      "p99_ms=%.2f max_ms=%.2f register_p50_ms=%.2f register_p99_ms=%.2f get_rtt_ms=%.3f "
      "gets=%llu\n",
      lat.size(), static_cast<unsigned long long>(failed.load()),
      static_cast<unsigned long long>(watch.lost), reg.size() / send_seconds,
      Percentile(lat, 50), Percentile(lat, 90), Percentile(lat, 99),
      lat.empty() ? 0 : *std::max_element(lat.begin(), lat.end()), Percentile(reg, 50),
      Percentile(reg, 99), watch.gets ? 1000 * watch.get_seconds / watch.gets : 0,
      static_cast<unsigned long long>(watch.gets));
  return failed.load() == 0 && watch.lost == 0 ? 0 : 1;
}

}  // namespace
}  // namespace wlsync::bench

int main(int argc, char** argv) {
  wlsync::bench::Args args;
  CLI::App app{"Propagation latency from a Register at node A to a Get at node B"};
  app.add_option("--a", args.a, "address of the node written to")->required();
  app.add_option("--b", args.b, "address of the node read from")->required();
  app.add_option("--a-token-file", args.a_token_file, "operator token of A")->required();
  app.add_option("--b-token-file", args.b_token_file, "operator token of B")->required();
  app.add_option("--csv", args.csv, "commuters CSV with at least rate * seconds new people")
      ->required();
  app.add_option("--rate", args.rate, "Register calls per second")->check(CLI::PositiveNumber);
  app.add_option("--seconds", args.seconds, "how long to write")->check(CLI::PositiveNumber);
  app.add_option("--senders", args.senders, "concurrent Register callers")
      ->check(CLI::PositiveNumber);
  wlsync::bench::Transport transport;
  wlsync::bench::AddTransportOptions(app, &transport);
  CLI11_PARSE(app, argc, argv);
  std::string error;
  wlsync::bench::credentials = wlsync::bench::Credentials(transport, &error);
  if (wlsync::bench::credentials == nullptr) {
    std::fprintf(stderr, "%s: %s\n", "wlsync-bench-latency", error.c_str());
    return 2;
  }
  for (auto [file, token] : {std::pair{&args.a_token_file, &args.a_token},
                             std::pair{&args.b_token_file, &args.b_token}}) {
    absl::StatusOr<std::string> t = wlsync::bench::ReadTokenFile(*file);
    if (!t.ok()) {
      std::fprintf(stderr, "wlsync-bench-latency: %s\n", std::string(t.status().message()).c_str());
      return 1;
    }
    *token = *t;
  }
  return wlsync::bench::Run(args);
}
