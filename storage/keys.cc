#include "storage/keys.h"

#include <algorithm>

namespace wlsync::storage::keys {
namespace {

constexpr size_t kEpochSize = 16;
constexpr size_t kHashSize = 32;

}  // namespace

void PutFixed64(std::string* out, uint64_t v) {
  for (int shift = 56; shift >= 0; shift -= 8) out->push_back(static_cast<char>(v >> shift));
}

uint64_t GetFixed64(std::string_view in) {
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v = (v << 8) | static_cast<uint8_t>(in[i]);
  return v;
}

std::string StreamKey(const StreamId& id) {
  std::string key = id.origin;
  key.push_back('\0');
  key.append(id.epoch);
  return key;
}

std::string LogKey(const StreamId& id, uint64_t seq) {
  std::string key = StreamKey(id);
  PutFixed64(&key, seq);
  return key;
}

std::string QuarantineKey(const StreamId& id, uint64_t seq, uint64_t index) {
  std::string key = LogKey(id, seq);
  PutFixed64(&key, index);
  return key;
}

std::optional<StreamId> ParseStreamKey(std::string_view key) {
  size_t zero = key.find('\0');
  if (zero == std::string_view::npos || key.size() < zero + 1 + kEpochSize) return std::nullopt;
  return StreamId{std::string(key.substr(0, zero)),
                  std::string(key.substr(zero + 1, kEpochSize))};
}

std::string EncodeTreeNode(const TreeNode& node) {
  std::string out(reinterpret_cast<const char*>(node.digest.data()), node.digest.size());
  PutFixed64(&out, node.count);
  return out;
}

std::optional<TreeNode> DecodeTreeNode(std::string_view in) {
  if (in.size() != model::kDigestSize + 8) return std::nullopt;
  TreeNode node;
  std::copy(in.begin(), in.begin() + model::kDigestSize, node.digest.begin());
  node.count = GetFixed64(in.substr(model::kDigestSize));
  return node;
}

std::string EncodeStreamState(const StreamState& s) {
  std::string out;
  PutFixed64(&out, s.seq);
  PutFixed64(&out, s.max_hlc);
  PutFixed64(&out, static_cast<uint64_t>(s.last_unix_ms));
  PutFixed64(&out, s.events);
  out.append(s.last_hash);
  return out;
}

std::optional<StreamState> DecodeStreamState(std::string_view in) {
  if (in.size() != 32 && in.size() != 32 + kHashSize) return std::nullopt;
  StreamState s;
  s.seq = GetFixed64(in);
  s.max_hlc = GetFixed64(in.substr(8));
  s.last_unix_ms = static_cast<int64_t>(GetFixed64(in.substr(16)));
  s.events = GetFixed64(in.substr(24));
  s.last_hash = std::string(in.substr(32));
  return s;
}

std::string EncodeCounts(const Counts& c) {
  std::string out;
  for (int64_t v : {c.records, c.registered_white, c.registered_grey, c.deregistered}) {
    PutFixed64(&out, static_cast<uint64_t>(v));
  }
  return out;
}

Counts DecodeCounts(std::string_view in) {
  Counts c;
  if (in.size() != 32) return c;
  c.records = static_cast<int64_t>(GetFixed64(in));
  c.registered_white = static_cast<int64_t>(GetFixed64(in.substr(8)));
  c.registered_grey = static_cast<int64_t>(GetFixed64(in.substr(16)));
  c.deregistered = static_cast<int64_t>(GetFixed64(in.substr(24)));
  return c;
}

std::string EncodeQuarantine(const QuarantineEntry& q) {
  std::string out;
  PutFixed64(&out, static_cast<uint64_t>(q.unix_ms));
  out.append(q.pid);
  out.push_back('\0');
  out.append(q.reason);
  return out;
}

std::optional<QuarantineEntry> DecodeQuarantine(std::string_view key, std::string_view value) {
  if (key.size() < 16 || value.size() < 9) return std::nullopt;
  std::optional<StreamId> id = ParseStreamKey(key.substr(0, key.size() - 16));
  size_t tail = key.size() - 16;
  if (!id) return std::nullopt;
  QuarantineEntry q;
  q.stream = *id;
  q.seq = GetFixed64(key.substr(tail));
  q.index = static_cast<int>(GetFixed64(key.substr(tail + 8)));
  q.unix_ms = static_cast<int64_t>(GetFixed64(value));
  std::string_view rest = value.substr(8);
  size_t zero = rest.find('\0');
  if (zero == std::string_view::npos) return std::nullopt;
  q.pid = std::string(rest.substr(0, zero));
  q.reason = std::string(rest.substr(zero + 1));
  return q;
}

}  // namespace wlsync::storage::keys
