// wlsync-bench-rawdb: the baseline for the import and replication benchmarks. Writes the
// rows of a commuters CSV straight into RocksDB the way a node stores them, without the
// node: no RPC, no validation, no read-before-write, no signature.
//
//   wlsync-bench-rawdb --csv FILE --db DIR [--batch-rows 256] [--sync 1]
//
// Per row it builds the same v1::Record a fresh registration produces (nine field groups,
// each with its stamp and writer ref, merged with model::MergeEvent) keyed by a real
// 26-character pid. Per batch it writes, in one WriteBatch: every record, one log entry
// holding a SignedDelta of the batch's nine events per row (as the node logs each delta
// verbatim), the stream cursor and the three meta keys. Column-family options copy those
// of storage/store.cc (LZ4, 32 MiB write buffers, bloom filter on records).
//
// With --index 1 it also writes each person's secondary index keys (storage::Indexer, the
// node's seven keys a person), sorted per batch, into an "index" column family with the
// node's options for it: a diagnostic baseline that shows what the index costs RocksDB.
//
// Prints one line of key=value figures; see bench/import_bench.sh and docs/benchmarks.md.
#include <rocksdb/db.h>
#include <rocksdb/filter_policy.h>
#include <rocksdb/options.h>
#include <rocksdb/slice_transform.h>
#include <rocksdb/table.h>
#include <rocksdb/write_batch.h>
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "CLI/CLI.hpp"
#include "model/csv.h"
#include "model/fields.h"
#include "model/merge.h"
#include "model/pid.h"
#include "model/validate.h"
#include "storage/index.h"
#include "wlsync/v1/delta.pb.h"

namespace wlsync::bench {
namespace {

using Clock = std::chrono::steady_clock;

struct Args {
  std::string csv;
  std::string db;
  int batch_rows = 256;
  bool sync = true;
  bool index = false;
};

struct Totals {
  uint64_t rows = 0;
  uint64_t events = 0;
  uint64_t batches = 0;
  uint64_t record_bytes = 0;
  uint64_t log_bytes = 0;
  double write_seconds = 0;  // inside DB::Write only
};

// The column-family options of storage/store.cc, repeated here so that the baseline does not
// open its database through the product's storage library (it uses only its Indexer, for
// --index 1).
rocksdb::ColumnFamilyOptions CfOptions(const std::shared_ptr<rocksdb::Cache>& cache,
                                       bool point_lookups) {
  rocksdb::ColumnFamilyOptions cf;
  cf.write_buffer_size = 32 << 20;
  cf.max_write_buffer_number = 3;
  cf.compression = rocksdb::kLZ4Compression;
  rocksdb::BlockBasedTableOptions table;
  table.block_cache = cache;
  if (point_lookups) {
    table.filter_policy.reset(rocksdb::NewBloomFilterPolicy(10));
    table.whole_key_filtering = true;
  }
  cf.table_factory.reset(rocksdb::NewBlockBasedTableFactory(table));
  return cf;
}

// The index column family's options in storage/store.cc: keys land all over the key space
// (L0 compactions start at 8 files) and are put in key order with an insert hint per first
// byte.
rocksdb::ColumnFamilyOptions IndexCfOptions(const std::shared_ptr<rocksdb::Cache>& cache) {
  rocksdb::ColumnFamilyOptions cf = CfOptions(cache, false);
  cf.memtable_insert_with_hint_prefix_extractor = storage::IndexInsertHints();
  cf.level0_file_num_compaction_trigger = 8;
  cf.level0_slowdown_writes_trigger = 40;
  cf.level0_stop_writes_trigger = 60;
  return cf;
}

struct Db {
  std::unique_ptr<rocksdb::DB> db;
  // default, records, log, cursors, meta, and with --index 1 index
  std::vector<rocksdb::ColumnFamilyHandle*> cfs;

  ~Db() {
    for (auto* cf : cfs) db->DestroyColumnFamilyHandle(cf);
    if (db) db->Close();
  }
};

bool OpenDb(const std::string& dir, bool index, Db* out) {
  rocksdb::DBOptions options;
  options.create_if_missing = true;
  options.create_missing_column_families = true;
  options.max_background_jobs = 2;
  options.db_write_buffer_size = size_t{128} << 20;
  options.keep_log_file_num = 5;
  options.info_log_level = rocksdb::WARN_LEVEL;
  auto cache = rocksdb::NewLRUCache(32 << 20);
  std::vector<rocksdb::ColumnFamilyDescriptor> cfs = {
      {rocksdb::kDefaultColumnFamilyName, CfOptions(cache, false)},
      {"records", CfOptions(cache, true)},
      {"log", CfOptions(cache, false)},
      {"cursors", CfOptions(cache, true)},
      {"meta", CfOptions(cache, true)},
  };
  if (index) cfs.push_back({"index", IndexCfOptions(cache)});
  rocksdb::DB* raw = nullptr;
  rocksdb::Status s = rocksdb::DB::Open(options, dir, cfs, &out->cfs, &raw);
  if (!s.ok()) {
    std::fprintf(stderr, "wlsync-bench-rawdb: open %s: %s\n", dir.c_str(), s.ToString().c_str());
    return false;
  }
  out->db.reset(raw);
  return true;
}

std::string Fixed64(uint64_t v) {
  std::string out(8, '\0');
  for (int i = 7; i >= 0; --i, v >>= 8) out[i] = static_cast<char>(v & 0xff);
  return out;
}

// Builds the events and merged record of one new registration, as Writer::PlanOne does.
v1::Record AddPerson(const v1::PersonFields& fields, const std::string& pid, uint64_t* hlc,
                     const v1::DeltaRef& ref, v1::DeltaBody* body) {
  v1::Record record = model::EmptyRecord(pid);
  for (int g = 1; g <= model::kGroupCount; ++g) {
    auto group = static_cast<v1::Group>(g);
    v1::Event* event = body->add_events();
    event->set_pid(pid);
    event->set_group(group);
    event->mutable_stamp()->set_hlc(++*hlc);
    event->mutable_stamp()->set_node(ref.origin());
    if (group == v1::STATUS) {
      event->mutable_value()->set_status(std::string(model::kRegistered));
    } else {
      *event->mutable_value() = model::ProjectGroup(fields, group);
    }
    model::MergeEvent(*event, ref, &record);
  }
  return record;
}

// Finishes and writes one WriteBatch that already holds the batch's records: adds the log
// entry, the cursor and the meta keys.
bool Flush(Db& db, const Args& args, const v1::DeltaBody& header, const std::string& events,
           uint64_t rows, uint64_t event_count, std::vector<std::string>* index_keys,
           rocksdb::WriteBatch* wb, Totals* totals) {
  if (rows == 0) return true;
  std::sort(index_keys->begin(), index_keys->end());
  for (const std::string& k : *index_keys) wb->Put(db.cfs[5], k, "");
  index_keys->clear();
  std::string stream_key = header.origin() + std::string(1, '\0') + header.origin_epoch();

  // A DeltaBody's bytes are its scalar fields followed by its events; the events were
  // serialized row by row (protobuf concatenation appends repeated fields).
  v1::SignedDelta envelope;
  envelope.set_key_id("0123456789abcdef");
  envelope.set_signature(std::string(64, 's'));
  envelope.set_body(model::SerializeDeterministic(header) + events);
  std::string log_value = envelope.SerializeAsString();
  wb->Put(db.cfs[2], stream_key + Fixed64(header.seq()), log_value);
  wb->Put(db.cfs[3], stream_key, std::string(80, 'c'));
  wb->Put(db.cfs[4], "hlc", Fixed64(header.max_hlc()));
  wb->Put(db.cfs[4], "counts", std::string(32, 'n'));
  wb->Put(db.cfs[4], "quarantined", Fixed64(0));

  rocksdb::WriteOptions wo;
  wo.sync = args.sync;
  Clock::time_point start = Clock::now();
  rocksdb::Status s = db.db->Write(wo, wb);
  totals->write_seconds += std::chrono::duration<double>(Clock::now() - start).count();
  if (!s.ok()) {
    std::fprintf(stderr, "wlsync-bench-rawdb: write: %s\n", s.ToString().c_str());
    return false;
  }
  totals->rows += rows;
  totals->events += event_count;
  totals->log_bytes += log_value.size();
  ++totals->batches;
  wb->Clear();
  return true;
}

void SetHeader(const v1::DeltaRef& ref, uint64_t hlc, v1::DeltaBody* header) {
  header->set_origin(ref.origin());
  header->set_origin_epoch(ref.epoch());
  header->set_seq(ref.seq());
  header->set_prev_hash(std::string(32, 'h'));
  header->set_max_hlc(hlc);
  header->set_created_unix_ms(static_cast<int64_t>(hlc >> 16));
}

int Run(const Args& args) {
  std::filesystem::remove_all(args.db);
  Db db;
  if (!OpenDb(args.db, args.index, &db)) return 1;
  auto reader = model::CsvReader::Open(args.csv, model::Encoding::kUtf8);
  if (!reader.ok()) {
    std::fprintf(stderr, "wlsync-bench-rawdb: %s\n", std::string(reader.status().message()).c_str());
    return 1;
  }
  model::CsvRow row;
  if (auto header = (*reader)->Next(&row); !header.ok() || !*header ||
                                           row.cells.size() != model::DataColumns().size()) {
    std::fprintf(stderr, "wlsync-bench-rawdb: %s: bad header\n", args.csv.c_str());
    return 1;
  }

  model::FederationKey key = model::FederationKey::Generate();
  const storage::Indexer indexer(key.DeriveKey("index"));
  std::vector<std::string> index_keys;  // of the batch so far
  v1::DeltaRef ref;
  ref.set_origin("rawdb");
  ref.set_epoch(std::string(16, 'e'));
  // A current HLC (milliseconds << 16), so stamps have the size of the node's.
  uint64_t hlc = static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                     std::chrono::system_clock::now().time_since_epoch())
                     .count())
                 << 16;
  Totals totals;
  rocksdb::WriteBatch wb;
  v1::DeltaBody header;    // the batch's delta without its events
  v1::DeltaBody row_body;  // the events of one row, reused
  std::string events;      // serialized events of the batch so far
  uint64_t rows = 0;
  uint64_t event_count = 0;
  Clock::time_point start = Clock::now();

  for (;;) {
    absl::StatusOr<bool> more = (*reader)->Next(&row);
    if (!more.ok() || !*more) break;
    if (row.cells.size() != model::DataColumns().size()) continue;
    v1::PersonFields fields;
    for (size_t c = 0; c < row.cells.size(); ++c) {
      *model::MutableField(&fields, model::DataColumns()[c]) = std::move(row.cells[c]);
    }
    fields.set_id_doc(model::NormalizeIdDoc(fields.id_doc()));
    if (rows == 0) ref.set_seq(totals.batches + 1);

    row_body.Clear();
    v1::Record record = AddPerson(fields, key.Pid(fields.id_doc()), &hlc, ref, &row_body);
    std::string value = model::SerializeDeterministic(record);
    totals.record_bytes += value.size();
    wb.Put(db.cfs[1], record.pid(), value);
    if (args.index) {
      for (std::string& k : indexer.Keys(record)) index_keys.push_back(std::move(k));
    }
    events += model::SerializeDeterministic(row_body);
    event_count += row_body.events_size();

    if (++rows >= static_cast<uint64_t>(args.batch_rows)) {
      SetHeader(ref, hlc, &header);
      if (!Flush(db, args, header, events, rows, event_count, &index_keys, &wb, &totals)) {
        return 1;
      }
      events.clear();
      rows = event_count = 0;
    }
  }
  SetHeader(ref, hlc, &header);
  if (!Flush(db, args, header, events, rows, event_count, &index_keys, &wb, &totals)) return 1;
  double seconds = std::chrono::duration<double>(Clock::now() - start).count();
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);  // every thread, RocksDB's flushes and compactions included
  double cpu = usage.ru_utime.tv_sec + usage.ru_stime.tv_sec +
               (usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6;

  std::printf(
      "rows=%llu events=%llu batches=%llu seconds=%.3f cpu_seconds=%.3f write_seconds=%.3f "
      "rows_per_s=%.0f "
      "events_per_s=%.0f record_bytes_per_row=%.0f log_bytes_per_row=%.0f batch_rows=%d "
      "sync=%d index=%d\n",
      static_cast<unsigned long long>(totals.rows), static_cast<unsigned long long>(totals.events),
      static_cast<unsigned long long>(totals.batches), seconds, cpu, totals.write_seconds,
      totals.rows / seconds, totals.events / seconds,
      static_cast<double>(totals.record_bytes) / std::max<uint64_t>(totals.rows, 1),
      static_cast<double>(totals.log_bytes) / std::max<uint64_t>(totals.rows, 1), args.batch_rows,
      args.sync ? 1 : 0, args.index ? 1 : 0);
  return 0;
}

}  // namespace
}  // namespace wlsync::bench

int main(int argc, char** argv) {
  wlsync::bench::Args args;
  CLI::App app{"Raw RocksDB batched insert of commuters rows, the import baseline"};
  app.add_option("--csv", args.csv, "commuters CSV (UTF-8)")->required();
  app.add_option("--db", args.db, "RocksDB directory (wiped first)")->required();
  app.add_option("--batch-rows", args.batch_rows, "rows per WriteBatch")->check(CLI::PositiveNumber);
  app.add_option("--sync", args.sync, "sync the WAL on every batch (1) or not (0)");
  app.add_option("--index", args.index, "also write the node's index keys (1) or not (0)");
  CLI11_PARSE(app, argc, argv);
  return wlsync::bench::Run(args);
}
