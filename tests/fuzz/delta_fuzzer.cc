// Fuzz target: what a node does with signed deltas from a peer. Each input goes through a
// real sync::Writer on a scratch store (see fuzz_node.h): envelope and body decoding,
// signature verification, the sequence checks (duplicate, gap, fork), the clock guard,
// event validation, the ownership policy, quarantine, the merge and the commit, and the
// reconciliation repair of the same deltas.
//
// An input is one mode byte and up to kMaxPieces pieces separated by kSeparator:
//   mode % 3 == 0: each piece is a serialized SignedDelta, applied as it is, so that
//                  decoding and verification see arbitrary envelopes;
//   mode % 3 == 1: each piece is a DeltaBody, signed with the test key of its origin (a
//                  fuzzer cannot forge Ed25519), so that everything after verification
//                  sees arbitrary bodies;
//   mode % 3 == 2: as 1, and each delta is then also given to Writer::Repair for its pids.
// In modes 1 and 2 every 16-byte epoch is replaced by one unique to the input, so that an
// input starts its streams from scratch whatever ran before it. Records persist from
// input to input, until the receiver is renewed (every kRecycleEvery inputs).
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "base/logging.h"
#include "base/strings.h"
#include "model/digest.h"
#include "model/merge.h"
#include "model/pid.h"
#include "sync/writer_internal.h"
#include "tests/fuzz/fuzz_node.h"
#include "wlsync/v1/delta.pb.h"

namespace wlsync::fuzz {
namespace {

inline constexpr std::string_view kSeparator = "\n--8<--\n";
inline constexpr size_t kMaxPieces = 8;

FuzzNode* receiver = nullptr;
uint64_t input_count = 0;
bool trace = false;  // WLSYNC_FUZZ_TRACE=1: print each delta's outcome (for corpus work)

std::vector<std::string_view> Split(std::string_view data) {
  std::vector<std::string_view> pieces;
  while (pieces.size() + 1 < kMaxPieces) {
    size_t at = data.find(kSeparator);
    if (at == std::string_view::npos) break;
    pieces.push_back(data.substr(0, at));
    data.remove_prefix(at + kSeparator.size());
  }
  pieces.push_back(data);
  return pieces;
}

// The counts are kept by adding each commit's changes; they must stay consistent.
void CheckCounts(const storage::Store& store) {
  storage::Counts c = store.counts();
  WLSYNC_FUZZ_CHECK(
      c.records >= 0 && c.registered_white >= 0 && c.registered_grey >= 0 && c.deregistered >= 0,
      "negative count");
  WLSYNC_FUZZ_CHECK(c.records == c.registered_white + c.registered_grey + c.deregistered,
                    "records differ from the sum of their classes");
}

// Everything derived from the records agrees with them: the counts, the digest tree root
// and the secondary index (no entry missing, none stale). Scans the whole store, so it runs
// on the first inputs of a process (a reproduction) and then on every kFullCheckEvery-th.
void CheckDerivedState(const storage::Store& store) {
  constexpr uint64_t kFullCheckEvery = 32;
  if (input_count > kFullCheckEvery && input_count % kFullCheckEvery != 0) return;

  storage::Counts counts;
  storage::TreeNode root;
  std::set<std::string> index;
  std::unique_ptr<storage::RecordCursor> cursor = store.ScanRecords();
  for (; cursor->Valid(); cursor->Next()) {
    absl::StatusOr<v1::Record> record = cursor->record();
    WLSYNC_FUZZ_CHECK(record.ok(), record.status().message());
    WLSYNC_FUZZ_CHECK(model::IsValidPid(record->pid()) && record->pid() == cursor->pid() &&
                          record->groups_size() == model::kGroupCount,
                      "a stored record is malformed");
    counts.Add(sync::internal::Classify(&*record));
    model::XorInto(&root.digest, model::RecordDigest(*record));
    ++root.count;
    for (std::string& key : store.indexer().Keys(*record)) index.insert(std::move(key));
  }
  WLSYNC_FUZZ_CHECK(cursor->status().ok(), cursor->status().message());

  storage::Counts kept = store.counts();
  WLSYNC_FUZZ_CHECK(kept.records == counts.records &&
                        kept.registered_white == counts.registered_white &&
                        kept.registered_grey == counts.registered_grey &&
                        kept.deregistered == counts.deregistered,
                    "the kept counts differ from the records");
  WLSYNC_FUZZ_CHECK(store.DigestNode("") == root, "the digest tree differs from the records");
  std::set<std::string> stored;
  absl::Status scanned =
      store.Scan(storage::Table::kIndex, "", "", [&](std::string_view key, std::string_view) {
        stored.emplace(key);
        return true;
      });
  WLSYNC_FUZZ_CHECK(scanned.ok(), scanned.message());
  WLSYNC_FUZZ_CHECK(stored == index, "the secondary index differs from the records");
}

void CheckRemote(const sync::RemoteResult& r, storage::Store& store) {
  using sync::RemoteOutcome;
  if (trace) {
    std::fprintf(stderr, "delta origin=%s seq=%llu events=%zu quarantined=%zu: %s %s\n",
                 r.stream.origin.c_str(), static_cast<unsigned long long>(r.seq), r.events,
                 r.quarantined, std::string(sync::RemoteOutcomeName(r.outcome)).c_str(),
                 r.status.ToString().c_str());
  }
  bool accepted = r.outcome == RemoteOutcome::kApplied || r.outcome == RemoteOutcome::kDuplicate;
  WLSYNC_FUZZ_CHECK(accepted == r.status.ok(),
                    base::StrCat("outcome ", sync::RemoteOutcomeName(r.outcome), " with status ",
                                 r.status.ToString()));
  if (r.outcome != RemoteOutcome::kApplied) return;
  WLSYNC_FUZZ_CHECK(r.quarantined <= r.events, "more events quarantined than held");
  absl::StatusOr<std::optional<storage::StreamState>> state = store.GetStream(r.stream);
  WLSYNC_FUZZ_CHECK(state.ok() && state->has_value() && (*state)->seq == r.seq,
                    "an applied delta did not move its stream's cursor");
}

// SHA-256 of each body of the current input as given, to the same of it as rebased.
std::map<std::string, std::string> rebased_hashes;

// A body of the input with its epoch made unique to the input. A prev_hash naming an
// earlier body of the input is changed to that body's rebased hash, so chains stay intact.
std::string Rebase(std::string_view piece, v1::DeltaBody* body, bool* parsed) {
  *parsed = body->ParseFromArray(piece.data(), static_cast<int>(piece.size()));
  if (!*parsed) return std::string(piece);
  if (body->origin_epoch().size() == 16) {
    std::string epoch = sync::Sha256(base::StrCat(input_count, "/", body->origin_epoch()));
    body->set_origin_epoch(epoch.substr(0, 16));
  }
  if (auto it = rebased_hashes.find(body->prev_hash()); it != rebased_hashes.end()) {
    body->set_prev_hash(it->second);
  }
  std::string bytes = body->SerializeAsString();
  rebased_hashes[sync::Sha256(piece)] = sync::Sha256(bytes);
  return bytes;
}

// model/merge.h promises a commutative, idempotent merge: the events of one body merged
// forwards, and backwards then forwards again, give byte-identical records.
void CheckMergeOrder(const v1::DeltaBody& body) {
  constexpr size_t kMaxPids = 16;
  std::map<std::string, std::vector<const v1::Event*>> by_pid;
  for (const v1::Event& e : body.events()) {
    if (by_pid.size() < kMaxPids || by_pid.contains(e.pid())) by_pid[e.pid()].push_back(&e);
  }
  v1::DeltaRef ref;
  ref.set_origin(body.origin());
  ref.set_epoch(body.origin_epoch());
  ref.set_seq(body.seq());
  for (const auto& [pid, events] : by_pid) {
    v1::Record forward = model::EmptyRecord(pid);
    v1::Record backward = forward;
    for (const v1::Event* e : events) model::MergeEvent(*e, ref, &forward);
    for (auto it = events.rbegin(); it != events.rend(); ++it) {
      model::MergeEvent(**it, ref, &backward);
    }
    for (const v1::Event* e : events) model::MergeEvent(*e, ref, &backward);
    WLSYNC_FUZZ_CHECK(
        model::SerializeDeterministic(forward) == model::SerializeDeterministic(backward),
        "the merge depends on the order of events");
  }
}

void RunBody(std::string_view piece, bool repair) {
  v1::DeltaBody body;
  bool parsed = false;
  std::string bytes = Rebase(piece, &body, &parsed);
  if (parsed) CheckMergeOrder(body);
  std::string signed_delta = receiver->Sign(parsed ? body.origin() : "", bytes);

  CheckRemote(receiver->writer().ApplyRemote(signed_delta), receiver->store());
  if (!repair) return;

  std::vector<std::string> pids;
  for (const v1::Event& e : body.events()) pids.push_back(e.pid());
  sync::RepairResult r = receiver->writer().Repair({{signed_delta, pids}});
  if (trace) {
    std::fprintf(stderr, "repair repaired=%zu refused=%zu: %s\n", r.repaired.size(),
                 r.refused.size(), r.status.ToString().c_str());
  }
  for (const std::string& pid : r.repaired) {
    WLSYNC_FUZZ_CHECK(std::find(pids.begin(), pids.end(), pid) != pids.end(),
                      "repair touched a record it was not asked for");
  }
}

}  // namespace
}  // namespace wlsync::fuzz

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  using namespace wlsync::fuzz;
  // Also silences libprotobuf, which logs every string field that is not UTF-8.
  wlsync::base::ConfigureLogging(wlsync::base::LogFormat::kText, "off");
  const char* trace_env = std::getenv("WLSYNC_FUZZ_TRACE");
  trace = trace_env != nullptr && std::string_view(trace_env) == "1";
  receiver = new FuzzNode("waihai");
  std::atexit([] { delete receiver; });
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace wlsync::fuzz;
  if (size == 0) return 0;
  // A new receiver now and then: the store, and the forked streams the writer remembers,
  // grow with every input, and long runs must stay inside the fuzzer's memory limit.
  constexpr uint64_t kRecycleEvery = 50000;
  if (++input_count % kRecycleEvery == 0) {
    delete receiver;
    receiver = new FuzzNode("waihai");
  }
  rebased_hashes.clear();
  int mode = data[0] % 3;
  std::string_view rest(reinterpret_cast<const char*>(data) + 1, size - 1);
  for (std::string_view piece : Split(rest)) {
    if (mode == 0) {
      CheckRemote(receiver->writer().ApplyRemote(std::string(piece)), receiver->store());
    } else {
      RunBody(piece, /*repair=*/mode == 2);
    }
  }
  CheckCounts(receiver->store());
  CheckDerivedState(receiver->store());
  return 0;
}
