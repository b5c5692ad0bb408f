// Byte layouts of RocksDB keys and values (see docs/storage.md). Kept free of RocksDB
// headers so that tests and tools can decode keys cheaply.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "storage/store.h"

namespace wlsync::storage::keys {

inline constexpr std::string_view kRecordsCf = "records";
inline constexpr std::string_view kLogCf = "log";
inline constexpr std::string_view kCursorsCf = "cursors";
inline constexpr std::string_view kMetaCf = "meta";
inline constexpr std::string_view kQuarantineCf = "quarantine";
inline constexpr std::string_view kDigestsCf = "digests";
inline constexpr std::string_view kReportsCf = "reports";
inline constexpr std::string_view kIndexCf = "index";
inline constexpr std::string_view kTokensCf = "tokens";
inline constexpr std::string_view kAuditCf = "audit";
inline constexpr std::string_view kAuditIndexCf = "audit_index";

inline constexpr std::string_view kMetaEpoch = "epoch";
inline constexpr std::string_view kMetaHlc = "hlc";
inline constexpr std::string_view kMetaFormat = "format";
inline constexpr std::string_view kMetaCounts = "counts";
inline constexpr std::string_view kMetaQuarantined = "quarantined";
inline constexpr std::string_view kMetaIndexVersion = "index_version";
inline constexpr std::string_view kMetaDataKeyCheck = "data_key_check";
inline constexpr std::string_view kMetaFederationCheck = "federation_check";
inline constexpr std::string_view kFormatVersion = "1";

void PutFixed64(std::string* out, uint64_t v);  // big-endian
uint64_t GetFixed64(std::string_view in);       // REQUIRES: in.size() >= 8

// origin '\0' epoch: the prefix of a stream's log keys and its cursor key.
std::string StreamKey(const StreamId& id);
// StreamKey + seq (8 bytes big-endian).
std::string LogKey(const StreamId& id, uint64_t seq);
// StreamKey + seq + index (8 bytes big-endian).
std::string QuarantineKey(const StreamId& id, uint64_t seq, uint64_t index);
// Inverse of StreamKey; nullopt for a malformed key.
std::optional<StreamId> ParseStreamKey(std::string_view key);

// Bucket digest values: digest (16 bytes) and count (8 bytes).
std::string EncodeTreeNode(const TreeNode& node);
std::optional<TreeNode> DecodeTreeNode(std::string_view in);

std::string EncodeStreamState(const StreamState& s);
std::optional<StreamState> DecodeStreamState(std::string_view in);
std::string EncodeCounts(const Counts& c);
Counts DecodeCounts(std::string_view in);
std::string EncodeQuarantine(const QuarantineEntry& q);
std::optional<QuarantineEntry> DecodeQuarantine(std::string_view key, std::string_view value);

}  // namespace wlsync::storage::keys
