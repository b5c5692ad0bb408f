// wlsync-bench-query: the load client of bench/query_bench.sh and its baseline. Both run
// the same lookups with the same number of concurrent clients, chosen from the same keys:
//
//   rpc --node HOST:PORT --token-file F --csv FILE --kind phone|grid [load options]
//       Query.Search at a running node, one gRPC channel (own TCP connection) per thread.
//   raw --node-dir DIR --csv FILE --kind phone|grid [load options]
//       what a Search does inside RocksDB, without gRPC, auth and audit: the stopped
//       node's data dir opened read-only with the options it was written with, a prefix
//       seek in the `index` column family and a Get from `records` per entry found.
//   settle --node-dir DIR
//       opens the stopped node's data dir and waits until RocksDB has no flush or
//       compaction pending or running, so that the compactions an import leaves behind
//       do not run during the measurement (a node that has been up a while is settled).
//
//   load options: [--threads 16] [--seconds 20] [--warmup 3] [--limit 100] [--keys 20000]
//                 [--seed 1]
//
// Keys come from the commuters CSV the node was filled from: phone queries use phones that
// occur in exactly one row (each must find one person); grid queries use the residence
// grid of randomly drawn rows (so grids are asked for as often as people live there) and
// must find min(limit, people in the grid). Threads are closed loops: each sends its next
// query when the last one returned. Latencies are of the calls that start and end within
// the measurement window, after the warm-up. Prints one line of key=value figures; no
// phone or other personal value is ever printed.
#include <grpcpp/grpcpp.h>
#include <rocksdb/cache.h>
#include <rocksdb/convenience.h>
#include <rocksdb/db.h>
#include <rocksdb/table.h>
#include <rocksdb/utilities/options_util.h>
#include <sys/resource.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <functional>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "CLI/CLI.hpp"
#include "absl/container/flat_hash_map.h"
#include "absl/strings/string_view.h"
#include "bench/bench_token.h"
#include "bench/transport.h"
#include "model/csv.h"
#include "model/pid.h"
#include "storage/index.h"
#include "storage/keys.h"
#include "wlsync/v1/query.grpc.pb.h"

namespace wlsync::bench {
namespace {

using Clock = std::chrono::steady_clock;
using storage::Indexer;
using storage::IndexKind;

struct LoadOptions {
  int threads = 16;
  double seconds = 20;
  double warmup = 3;
  int limit = 100;
  size_t keys = 20000;
  uint64_t seed = 1;
  std::string kind = "phone";
};

// One lookup to run: a phone or a residence grid, and how many people it must find.
struct Key {
  std::string term;
  int expect = 0;
};

// What one call found: false `ok` for a failed call.
struct Outcome {
  bool ok = false;
  int found = 0;
};

int Fail(absl::string_view message) {
  std::fprintf(stderr, "wlsync-bench-query: %.*s\n", static_cast<int>(message.size()),
               message.data());
  return 1;
}

int ColumnOf(const model::CsvRow& header, std::string_view name) {
  for (size_t i = 0; i < header.cells.size(); ++i) {
    if (header.cells[i] == name) return static_cast<int>(i);
  }
  return -1;
}

// The keys of `options.kind`, drawn with `options.seed` from the CSV's rows.
absl::StatusOr<std::vector<Key>> LoadKeys(const std::string& csv, const LoadOptions& options) {
  auto reader = model::CsvReader::Open(csv, model::Encoding::kUtf8);
  if (!reader.ok()) return reader.status();
  model::CsvRow row;
  absl::StatusOr<bool> more = (*reader)->Next(&row);
  if (!more.ok()) return more.status();
  int phone_col = ColumnOf(row, "phone"), grid_col = ColumnOf(row, "residence_grid");
  if (!*more || phone_col < 0 || grid_col < 0) {
    return absl::InvalidArgumentError(csv + ": no phone and residence_grid columns");
  }
  std::vector<std::string> phones, grids;
  absl::flat_hash_map<std::string, int> phone_rows, grid_rows;
  while (true) {
    more = (*reader)->Next(&row);
    if (!more.ok()) return more.status();
    if (!*more) break;
    if (row.cells.size() <= static_cast<size_t>(std::max(phone_col, grid_col))) continue;
    ++phone_rows[row.cells[phone_col]];
    ++grid_rows[row.cells[grid_col]];
    phones.push_back(std::move(row.cells[phone_col]));
    grids.push_back(std::move(row.cells[grid_col]));
  }
  if (phones.empty()) return absl::InvalidArgumentError(csv + ": no data rows");

  std::mt19937_64 rng(options.seed);
  std::vector<Key> keys;
  for (size_t tries = 0; keys.size() < options.keys && tries < options.keys * 10; ++tries) {
    size_t i = rng() % phones.size();
    if (options.kind == "phone") {
      if (phone_rows[phones[i]] == 1) keys.push_back({phones[i], 1});
    } else {
      keys.push_back({grids[i], std::min(options.limit, grid_rows[grids[i]])});
    }
  }
  if (keys.empty()) return absl::InvalidArgumentError(csv + ": no usable key");
  return keys;
}

double CpuSeconds() {
  rusage u;
  getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
         static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}

double Percentile(const std::vector<double>& sorted, double p) {
  if (sorted.empty()) return 0;
  size_t i = static_cast<size_t>(p / 100.0 * static_cast<double>(sorted.size() - 1) + 0.5);
  return sorted[std::min(i, sorted.size() - 1)];
}

// Runs `one(thread, key)` in `threads` closed loops over the keys (thread t starts at key
// t * n / threads) for warm-up plus measurement, and prints the figures of the window.
int Measure(const LoadOptions& o, const std::vector<Key>& keys,
            const std::function<Outcome(int thread, const Key& key)>& one) {
  struct PerThread {
    std::vector<double> ms;
    uint64_t errors = 0, wrong = 0, found = 0;
  };
  std::vector<PerThread> per(o.threads);
  Clock::time_point start = Clock::now();
  Clock::time_point from =
      start + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(o.warmup));
  Clock::time_point until =
      from + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(o.seconds));
  double cpu_from = 0;
  std::atomic<bool> cpu_taken{false};
  std::vector<std::thread> threads;
  for (int t = 0; t < o.threads; ++t) {
    threads.emplace_back([&, t] {
      PerThread& mine = per[t];
      mine.ms.reserve(1 << 16);
      for (size_t i = keys.size() * t / o.threads;; ++i) {
        Clock::time_point sent = Clock::now();
        if (sent >= until) return;
        if (sent >= from && !cpu_taken.exchange(true)) cpu_from = CpuSeconds();
        const Key& key = keys[i % keys.size()];
        Outcome r = one(t, key);
        Clock::time_point done = Clock::now();
        if (sent < from || done > until) continue;
        mine.ms.push_back(std::chrono::duration<double, std::milli>(done - sent).count());
        if (!r.ok) {
          ++mine.errors;
        } else {
          mine.found += r.found;
          if (r.found != key.expect) ++mine.wrong;
        }
      }
    });
  }
  for (std::thread& t : threads) t.join();
  double cpu = CpuSeconds() - cpu_from;

  std::vector<double> ms;
  uint64_t errors = 0, wrong = 0, found = 0;
  for (const PerThread& p : per) {
    ms.insert(ms.end(), p.ms.begin(), p.ms.end());
    errors += p.errors;
    wrong += p.wrong;
    found += p.found;
  }
  std::sort(ms.begin(), ms.end());
  double calls = static_cast<double>(ms.size());
  std::printf(
      "kind=%s threads=%d seconds=%.0f limit=%d keys=%zu calls=%zu qps=%.0f p50_ms=%.3f "
      "p90_ms=%.3f p99_ms=%.3f max_ms=%.3f found_per_call=%.1f errors=%llu wrong=%llu "
      "cpu_s=%.1f\n",
      o.kind.c_str(), o.threads, o.seconds, o.limit, keys.size(), ms.size(), calls / o.seconds,
      Percentile(ms, 50), Percentile(ms, 90), Percentile(ms, 99), ms.empty() ? 0 : ms.back(),
      calls > 0 ? static_cast<double>(found) / calls : 0, static_cast<unsigned long long>(errors),
      static_cast<unsigned long long>(wrong), cpu);
  return errors == 0 && wrong == 0 && !ms.empty() ? 0 : 1;
}

int RunRpc(const std::string& node, const std::string& token_file, const std::string& csv,
           const Transport& transport, const LoadOptions& o) {
  std::string error;
  std::shared_ptr<grpc::ChannelCredentials> credentials = Credentials(transport, &error);
  if (credentials == nullptr) return Fail(error);
  absl::StatusOr<std::string> token = ReadTokenFile(token_file);
  if (!token.ok()) return Fail(token.status().message());
  absl::StatusOr<std::vector<Key>> keys = LoadKeys(csv, o);
  if (!keys.ok()) return Fail(keys.status().message());

  // One channel per thread, each with its own subchannel pool: 16 TCP connections, as 16
  // separate clients would have (channels with equal arguments otherwise share one).
  std::vector<std::unique_ptr<v1::Query::Stub>> stubs;
  for (int t = 0; t < o.threads; ++t) {
    grpc::ChannelArguments args;
    args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
    args.SetMaxReceiveMessageSize(64 << 20);
    auto channel = grpc::CreateCustomChannel(node, credentials, args);
    if (!channel->WaitForConnected(std::chrono::system_clock::now() + std::chrono::seconds(5))) {
      return Fail(base::StrCat("cannot connect to ", node));
    }
    stubs.push_back(v1::Query::NewStub(channel));
  }
  std::atomic<bool> reported{false};
  return Measure(o, *keys, [&](int t, const Key& key) {
    v1::SearchRequest request;
    if (o.kind == "phone") {
      request.mutable_filter()->set_phone(key.term);
    } else {
      request.mutable_filter()->set_residence_grid(key.term);
    }
    request.set_limit(o.limit);
    grpc::ClientContext context;
    Authorize(&context, *token);
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    v1::SearchResponse response;
    grpc::Status s = stubs[t]->Search(&context, request, &response);
    if (!s.ok()) {
      // Server messages name the condition, never its value.
      if (!reported.exchange(true)) {
        std::fprintf(stderr, "wlsync-bench-query: search: code=%d %s\n",
                     static_cast<int>(s.error_code()), s.error_message().c_str());
      }
      return Outcome{};
    }
    return Outcome{true, response.people_size()};
  });
}

// A read-only RocksDB of a stopped node's data dir, opened with the options in its OPTIONS
// file and one block cache of the store's default size for all column families.
struct RawDb {
  std::unique_ptr<rocksdb::DB> db;
  std::vector<rocksdb::ColumnFamilyHandle*> cfs;
  rocksdb::ColumnFamilyHandle* index = nullptr;
  rocksdb::ColumnFamilyHandle* records = nullptr;
  bool records_bloom = false;

  ~RawDb() {
    for (auto* cf : cfs) db->DestroyColumnFamilyHandle(cf);
  }
};

absl::Status OpenRaw(const std::string& data_dir, RawDb* raw) {
  rocksdb::ConfigOptions config;
  rocksdb::DBOptions db_options;
  std::vector<rocksdb::ColumnFamilyDescriptor> descriptors;
  std::shared_ptr<rocksdb::Cache> cache = rocksdb::NewLRUCache(32 << 20);  // StoreOptions
  rocksdb::Status s =
      rocksdb::LoadLatestOptions(config, data_dir, &db_options, &descriptors, &cache);
  if (!s.ok()) {
    return absl::UnavailableError(base::StrCat("options of ", data_dir, ": ", s.ToString()));
  }
  db_options.info_log_level = rocksdb::WARN_LEVEL;
  rocksdb::DB* db = nullptr;
  s = rocksdb::DB::OpenForReadOnly(db_options, data_dir, descriptors, &raw->cfs, &db);
  if (!s.ok()) return absl::UnavailableError(base::StrCat("open ", data_dir, ": ", s.ToString()));
  raw->db.reset(db);
  for (size_t i = 0; i < descriptors.size(); ++i) {
    if (descriptors[i].name == storage::keys::kIndexCf) raw->index = raw->cfs[i];
    if (descriptors[i].name == storage::keys::kRecordsCf) {
      raw->records = raw->cfs[i];
      auto* table =
          descriptors[i].options.table_factory->GetOptions<rocksdb::BlockBasedTableOptions>();
      raw->records_bloom = table != nullptr && table->filter_policy != nullptr;
    }
  }
  if (raw->index == nullptr || raw->records == nullptr) {
    return absl::NotFoundError(base::StrCat(data_dir, ": no index or records column family"));
  }
  return absl::OkStatus();
}

int RunRaw(const std::string& node_dir, const std::string& csv, const LoadOptions& o) {
  auto federation = model::FederationKey::LoadFile(node_dir + "/keys/federation.key");
  if (!federation.ok()) return Fail(federation.status().message());
  const Indexer indexer(federation->DeriveKey("index"));  // as daemon/node.cc
  RawDb raw;
  if (absl::Status s = OpenRaw(node_dir + "/data", &raw); !s.ok()) return Fail(s.message());
  std::fprintf(stderr, "wlsync-bench-query: raw: records bloom filter %s\n",
               raw.records_bloom ? "on" : "off");
  absl::StatusOr<std::vector<Key>> keys = LoadKeys(csv, o);
  if (!keys.ok()) return Fail(keys.status().message());

  // The prefixes are computed in the loop, as the query engine does.
  return Measure(o, *keys, [&](int, const Key& key) {
    std::string prefix = o.kind == "phone"
                             ? Indexer::TermPrefix(IndexKind::kPhone, indexer.PhoneTerm(key.term))
                             : Indexer::TermPrefix(IndexKind::kResidenceGrid, key.term);
    std::unique_ptr<rocksdb::Iterator> it(raw.db->NewIterator(rocksdb::ReadOptions(), raw.index));
    Outcome out{true, 0};
    rocksdb::PinnableSlice value;
    for (it->Seek(prefix); it->Valid() && it->key().starts_with(prefix) && out.found < o.limit;
         it->Next()) {
      std::string_view pid = Indexer::PidOf(std::string_view(it->key().data(), it->key().size()));
      value.Reset();
      rocksdb::Status s = raw.db->Get(rocksdb::ReadOptions(), raw.records,
                                      rocksdb::Slice(pid.data(), pid.size()), &value);
      if (s.ok()) {
        ++out.found;
      } else if (!s.IsNotFound()) {
        return Outcome{};
      }
    }
    if (!it->status().ok()) return Outcome{};
    return out;
  });
}

// Opens the data dir read-write with its own options and polls until no column family has
// a flush or compaction pending or running.
int Settle(const std::string& node_dir, double timeout_s) {
  std::string data_dir = node_dir + "/data";
  rocksdb::ConfigOptions config;
  rocksdb::DBOptions db_options;
  std::vector<rocksdb::ColumnFamilyDescriptor> descriptors;
  std::shared_ptr<rocksdb::Cache> cache = rocksdb::NewLRUCache(32 << 20);
  rocksdb::Status s =
      rocksdb::LoadLatestOptions(config, data_dir, &db_options, &descriptors, &cache);
  if (!s.ok()) return Fail(base::StrCat("options of ", data_dir, ": ", s.ToString()));
  db_options.info_log_level = rocksdb::WARN_LEVEL;
  std::vector<rocksdb::ColumnFamilyHandle*> cfs;
  rocksdb::DB* raw = nullptr;
  s = rocksdb::DB::Open(db_options, data_dir, descriptors, &cfs, &raw);
  if (!s.ok()) return Fail(base::StrCat("open ", data_dir, ": ", s.ToString()));
  std::unique_ptr<rocksdb::DB> db(raw);

  Clock::time_point start = Clock::now();
  auto busy = [&] {
    uint64_t v = 0, total = 0;
    for (const char* p : {"rocksdb.num-running-compactions", "rocksdb.num-running-flushes"}) {
      if (db->GetIntProperty(p, &v)) total += v;
    }
    for (auto* cf : cfs) {
      for (const char* p : {"rocksdb.compaction-pending", "rocksdb.mem-table-flush-pending"}) {
        if (db->GetIntProperty(cf, p, &v)) total += v;
      }
    }
    return total > 0;
  };
  bool timed_out = false;
  while (busy()) {
    if (std::chrono::duration<double>(Clock::now() - start).count() > timeout_s) {
      timed_out = true;
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  std::string levels;
  for (size_t i = 0; i < cfs.size(); ++i) {
    if (descriptors[i].name != storage::keys::kRecordsCf &&
        descriptors[i].name != storage::keys::kIndexCf) {
      continue;
    }
    std::string files;
    for (int level = 0; level < 7; ++level) {
      std::string n;
      db->GetProperty(cfs[i], base::StrCat("rocksdb.num-files-at-level", level), &n);
      base::StrAppend(&files, level == 0 ? "" : ",", n);
    }
    base::StrAppend(&levels, " ", descriptors[i].name, "_files_per_level=", files);
  }
  for (auto* cf : cfs) db->DestroyColumnFamilyHandle(cf);
  std::printf("settled=%s seconds=%.1f%s\n", timed_out ? "no" : "yes",
              std::chrono::duration<double>(Clock::now() - start).count(), levels.c_str());
  return timed_out ? 1 : 0;
}

void AddLoadOptions(CLI::App* app, LoadOptions* o) {
  app->add_option("--kind", o->kind, "phone or grid (residence grid)")
      ->check(CLI::IsMember({"phone", "grid"}));
  app->add_option("--threads", o->threads, "concurrent clients")->check(CLI::Range(1, 256));
  app->add_option("--seconds", o->seconds, "measurement window")->check(CLI::PositiveNumber);
  app->add_option("--warmup", o->warmup, "seconds of load before the window");
  app->add_option("--limit", o->limit, "page size of every query")->check(CLI::Range(1, 1000));
  app->add_option("--keys", o->keys, "distinct lookups drawn from the CSV")
      ->check(CLI::PositiveNumber);
  app->add_option("--seed", o->seed, "which rows the keys come from");
}

}  // namespace
}  // namespace wlsync::bench

int main(int argc, char** argv) {
  CLI::App app{"wlsync-bench-query: Search load at a node, and the raw RocksDB baseline"};
  app.require_subcommand(1);
  wlsync::bench::LoadOptions load;
  std::string node, token_file, node_dir, csv;

  CLI::App* rpc = app.add_subcommand("rpc", "Query.Search at a running node");
  rpc->add_option("--node", node, "HOST:PORT")->required();
  rpc->add_option("--token-file", token_file, "a token of role operator or tracer")->required();
  rpc->add_option("--csv", csv, "the commuters CSV the node holds")->required();
  wlsync::bench::AddLoadOptions(rpc, &load);
  wlsync::bench::Transport transport;
  wlsync::bench::AddTransportOptions(*rpc, &transport);
  CLI::App* raw = app.add_subcommand("raw", "the same lookups in the stopped node's RocksDB");
  raw->add_option("--node-dir", node_dir, "node directory (wlsync init)")->required();
  raw->add_option("--csv", csv, "the commuters CSV the node holds")->required();
  wlsync::bench::AddLoadOptions(raw, &load);
  double settle_timeout = 600;
  CLI::App* settle = app.add_subcommand("settle", "wait for the data dir's compactions");
  settle->add_option("--node-dir", node_dir, "node directory (wlsync init)")->required();
  settle->add_option("--timeout", settle_timeout, "give up after this many seconds");
  CLI11_PARSE(app, argc, argv);

  if (rpc->parsed()) return wlsync::bench::RunRpc(node, token_file, csv, transport, load);
  if (settle->parsed()) return wlsync::bench::Settle(node_dir, settle_timeout);
  return wlsync::bench::RunRaw(node_dir, csv, load);
}
