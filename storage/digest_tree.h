// The digest tree: XOR of record digests and record counts per pid prefix, kept in memory
// and updated by every commit in O(1) per changed record, so that two nodes compare by
// exchanging a root and descend only where they differ. Level L groups pids by their first
// L base32 characters (32^L nodes); level 4, the bucket level, is also persisted.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "model/digest.h"

namespace wlsync::storage {

inline constexpr int kTreeDepth = 4;
inline constexpr int kFanout = 32;

struct TreeNode {
  model::Digest digest{};
  uint64_t count = 0;

  bool operator==(const TreeNode&) const = default;
};

// Not thread safe: the Store guards it with its mutex.
class DigestTree {
 public:
  DigestTree();

  // Value of a base32 character (a-z = 0-25, 2-7 = 26-31), or -1.
  static int CharValue(char c);
  // The base32 character of a value 0-31.
  static char ValueChar(int v);
  // Index of a prefix within its level; -1 when it has a non-base32 character.
  static int64_t IndexOf(std::string_view prefix);

  // Adds a record's digest change (old ^ new) and count change under its pid.
  void Apply(std::string_view pid, const model::Digest& delta, int64_t count_delta);
  // Sets one bucket (4-character prefix) outright, updating the levels above.
  void SetBucket(std::string_view bucket, const TreeNode& node);

  // The node of a prefix of 0 to 4 characters. REQUIRES: IndexOf(prefix) >= 0.
  const TreeNode& Node(std::string_view prefix) const;

 private:
  std::vector<std::vector<TreeNode>> levels_;  // levels_[L] has 32^L nodes
};

}  // namespace wlsync::storage
