// Signing-key lifecycle outside the write path: where a node keeps the keys it trusts (node-local
// entries in the store, and a key history file beside its own signing key), and the report of what
// was accepted under a key. The rules themselves (windows, notices) live in sync/signer.h
// (TrustStore) and sync/writer.h (RotateKey, RevokeKey).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "storage/store.h"
#include "sync/signer.h"

namespace wlsync::sync {

// The node-local entry that persists one trusted key (Table::kLocal, "trust/NODE\0ID").
storage::TableBatch::Put TrustEntryPut(const KeyRecord& record);
// Every persisted trusted key.
absl::StatusOr<std::vector<KeyRecord>> LoadTrustEntries(const storage::Store& store);

// The key history file of a node: one line per key it has signed with, written beside its signing
// key at every rotation, so that a node whose data dir is wiped still verifies the deltas of its
// earlier keys when peers send them back. Lines:
//   key_id public_key_hex valid_after_hlc valid_until_hlc
// '#' starts a comment. The file is public (it holds public keys only).
// Revocations are not in it: a wiped node takes its old streams back as its
// peers accepted them, and learns its own revocation notices again from them,
// in stream order.
std::string KeyHistoryPath(const std::string& signing_key_path);
absl::Status WriteKeyHistory(const std::string& path, const std::vector<KeyRecord>& keys);
// Reads a history file of `node`; a missing file is an empty history. Errors name the file and
// line.
absl::StatusOr<std::vector<KeyRecord>> ReadKeyHistory(const std::string& path,
                                                      std::string_view node);

// One delta accepted under a key.
struct AcceptedDelta {
  std::string epoch_hex;
  uint64_t seq = 0;
  int64_t created_unix_ms = 0;
  int64_t hlc_unix_ms = 0;  // the delta's HLC, as milliseconds
  uint64_t events = 0;
  std::vector<std::string> pids;  // distinct, sorted
  bool after_revocation = false;  // HLC at or after the key's revocation time
  bool vouched = false;           // ... but vouched for by the origin's revocation notice
};

struct KeyUsage {
  KeyRecord key;
  std::vector<AcceptedDelta> deltas;  // by epoch, then seq
  uint64_t deltas_after_revocation = 0;
};

// Scans every held stream of `key.node` for deltas signed with `key.key_id`. Reads the whole log of
// that node: meant for an investigation, not for a hot path.
absl::StatusOr<KeyUsage> AcceptedUnderKey(const storage::Store& store, const KeyRecord& key);

}  // namespace wlsync::sync
