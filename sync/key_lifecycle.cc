#include "sync/key_lifecycle.h"

#include <algorithm>
#include <set>
#include <sstream>

#include "base/strings.h"
#include "model/hlc.h"
#include "model/pid.h"
#include "wlsync/v1/delta.pb.h"

namespace wlsync::sync {
namespace {

constexpr std::string_view kTrustPrefix = "trust/";
constexpr size_t kLogChunk = 512;

v1::TrustedKey ToProto(const KeyRecord& r) {
  v1::TrustedKey p;
  p.set_node(r.node);
  p.set_key_id(r.key_id);
  p.set_public_key(r.public_key);
  p.set_valid_after_hlc(r.valid_after_hlc);
  p.set_valid_until_hlc(r.valid_until_hlc);
  p.set_revoked_from_unix_ms(r.revoked_from_unix_ms);
  p.set_revoked_by(r.revoked_by);
  p.set_source(r.source);
  for (const auto& [epoch, seq] : r.vouched) {
    v1::StreamMark* m = p.add_vouched();
    m->set_epoch(epoch);
    m->set_seq(seq);
  }
  return p;
}

KeyRecord FromProto(const v1::TrustedKey& p) {
  KeyRecord r{p.node(),
              p.key_id(),
              p.public_key(),
              p.valid_after_hlc(),
              p.valid_until_hlc(),
              p.revoked_from_unix_ms(),
              p.revoked_by(),
              p.source(),
              {}};
  for (const v1::StreamMark& m : p.vouched()) r.vouched[m.epoch()] = m.seq();
  return r;
}

}  // namespace

storage::TableBatch::Put TrustEntryPut(const KeyRecord& record) {
  std::string key = base::StrCat(kTrustPrefix, record.node);
  key.push_back('\0');
  key.append(record.key_id);
  return {storage::Table::kLocal, std::move(key), ToProto(record).SerializeAsString()};
}

absl::StatusOr<std::vector<KeyRecord>> LoadTrustEntries(const storage::Store& store) {
  std::vector<KeyRecord> out;
  absl::Status bad;
  absl::Status scan = store.Scan(
      storage::Table::kLocal, kTrustPrefix, "", [&](std::string_view key, std::string_view value) {
        v1::TrustedKey p;
        if (!p.ParseFromArray(value.data(), static_cast<int>(value.size())) ||
            p.public_key().size() != kPublicKeySize) {
          bad = absl::DataLossError(base::StrCat(
              "trust store: a persisted key entry does not parse (", key.size(), "-byte key)"));
          return false;
        }
        out.push_back(FromProto(p));
        return true;
      });
  if (!scan.ok()) return scan;
  if (!bad.ok()) return bad;
  return out;
}

std::string KeyHistoryPath(const std::string& signing_key_path) {
  return signing_key_path + ".history";
}

absl::Status WriteKeyHistory(const std::string& path, const std::vector<KeyRecord>& keys) {
  std::string text =
      "# wlsync signing key history: key_id public_key "
      "valid_after_hlc valid_until_hlc\n";
  for (const KeyRecord& k : keys) {
    base::StrAppend(&text, k.key_id, " ", model::HexEncode(k.public_key), " ", k.valid_after_hlc,
                    " ", k.valid_until_hlc, "\n");
  }
  return model::WriteFileAtomic(path, text, 0644);
}

absl::StatusOr<std::vector<KeyRecord>> ReadKeyHistory(const std::string& path,
                                                      std::string_view node) {
  std::vector<KeyRecord> out;
  absl::StatusOr<std::string> text = model::ReadSmallFile(path);
  if (!text.ok()) {
    if (absl::IsNotFound(text.status())) return out;
    return text.status();
  }
  std::istringstream lines(*text);
  std::string line;
  for (int n = 1; std::getline(lines, line); ++n) {
    std::string_view trimmed = base::TrimAscii(line);
    if (trimmed.empty() || trimmed.front() == '#') continue;
    std::istringstream fields{std::string(trimmed)};
    KeyRecord r;
    std::string hex;
    if (!(fields >> r.key_id >> hex >> r.valid_after_hlc >> r.valid_until_hlc)) {
      return absl::InvalidArgumentError(
          base::StrCat("key history ", path, " line ", n, ": expected 4 fields"));
    }
    absl::StatusOr<std::string> key =
        ParsePublicKeyHex(hex, base::StrCat("key history ", path, " line ", n));
    if (!key.ok()) return key.status();
    if (KeyIdOf(*key) != r.key_id) {
      return absl::InvalidArgumentError(
          base::StrCat("key history ", path, " line ", n, ": the key id does not match the key"));
    }
    r.node = std::string(node);
    r.public_key = *key;
    r.source = "history file";
    out.push_back(std::move(r));
  }
  return out;
}

absl::StatusOr<KeyUsage> AcceptedUnderKey(const storage::Store& store, const KeyRecord& key) {
  KeyUsage usage;
  usage.key = key;
  absl::StatusOr<std::vector<std::pair<storage::StreamId, storage::StreamState>>> streams =
      store.Streams();
  if (!streams.ok()) return streams.status();

  for (const auto& [stream, state] : *streams) {
    if (stream.origin != key.node) continue;
    for (uint64_t after = 0; after < state.seq;) {
      absl::StatusOr<std::vector<std::pair<uint64_t, std::string>>> chunk =
          store.ReadLog(stream, after, kLogChunk);
      if (!chunk.ok()) return chunk.status();
      if (chunk->empty()) break;
      for (const auto& [seq, bytes] : *chunk) {
        after = seq;
        v1::SignedDelta envelope;
        v1::DeltaBody body;
        if (!envelope.ParseFromString(bytes) || envelope.key_id() != key.key_id ||
            !body.ParseFromString(envelope.body())) {
          continue;
        }
        AcceptedDelta d;
        d.epoch_hex = model::HexEncode(stream.epoch);
        d.seq = seq;
        d.created_unix_ms = body.created_unix_ms();
        d.hlc_unix_ms = static_cast<int64_t>(model::HlcMillis(body.max_hlc()));
        d.events = static_cast<uint64_t>(body.events_size());
        std::set<std::string> pids;
        for (const v1::Event& e : body.events()) pids.insert(e.pid());
        d.pids.assign(pids.begin(), pids.end());
        d.after_revocation =
            key.revoked_from_unix_ms != 0 && d.hlc_unix_ms >= key.revoked_from_unix_ms;
        auto mark = key.vouched.find(stream.epoch);
        d.vouched = mark != key.vouched.end() && seq <= mark->second;
        if (d.after_revocation) ++usage.deltas_after_revocation;
        usage.deltas.push_back(std::move(d));
      }
    }
  }
  return usage;
}

}  // namespace wlsync::sync
