#include "storage/digest_tree.h"

namespace wlsync::storage {

DigestTree::DigestTree() : levels_(kTreeDepth + 1) {
  size_t size = 1;
  for (int l = 0; l <= kTreeDepth; ++l) {
    levels_[l].resize(size);
    size *= kFanout;
  }
}

int DigestTree::CharValue(char c) {
  if (c >= 'a' && c <= 'z') return c - 'a';
  if (c >= '2' && c <= '7') return 26 + (c - '2');
  return -1;
}

char DigestTree::ValueChar(int v) {
  return v < 26 ? static_cast<char>('a' + v) : static_cast<char>('2' + (v - 26));
}

int64_t DigestTree::IndexOf(std::string_view prefix) {
  int64_t index = 0;
  for (char c : prefix) {
    int v = CharValue(c);
    if (v < 0) return -1;
    index = index * kFanout + v;
  }
  return index;
}

void DigestTree::Apply(std::string_view pid, const model::Digest& delta, int64_t count_delta) {
  for (int l = 0; l <= kTreeDepth && static_cast<size_t>(l) <= pid.size(); ++l) {
    int64_t index = IndexOf(pid.substr(0, l));
    if (index < 0) return;
    TreeNode& node = levels_[l][static_cast<size_t>(index)];
    model::XorInto(&node.digest, delta);
    node.count = static_cast<uint64_t>(static_cast<int64_t>(node.count) + count_delta);
  }
}

void DigestTree::SetBucket(std::string_view bucket, const TreeNode& node) {
  const TreeNode& old = Node(bucket);
  model::Digest delta = old.digest;
  model::XorInto(&delta, node.digest);
  Apply(bucket, delta, static_cast<int64_t>(node.count) - static_cast<int64_t>(old.count));
}

const TreeNode& DigestTree::Node(std::string_view prefix) const {
  return levels_[prefix.size()][static_cast<size_t>(IndexOf(prefix))];
}

}  // namespace wlsync::storage
