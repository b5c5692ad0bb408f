// Secondary indexes of the records: which index keys a record has, so that the writer can
// put and delete them in the same WriteBatch as the record itself. Start with Indexer::Keys;
// docs/storage.md shows the key layout of the index column family.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "model/pid.h"
#include "wlsync/v1/records.pb.h"

namespace rocksdb {
class SliceTransform;
}  // namespace rocksdb

namespace wlsync::storage {

// The first byte of an index key.
enum class IndexKind : char {
  kPhone = 'p',  // hex keyed tag of the phone (never the number itself)
  kResidenceGrid = 'r',
  kWorkGrid = 'w',
  kWorkplace = 'f',
  // status '\0' list '\0' category, each escaped (Indexer::MembershipTerm): one key for
  // three low-cardinality fields, since every index key costs an import the same, in
  // memtable inserts, flushes and compactions (docs/benchmarks.md, "Import: one membership
  // key instead of three").
  kMembership = 'm',
  kTest = 't',     // result '\0' date
  kUpdated = 'u',  // 8-byte big-endian highest HLC of the record
};

// Length of the stamp in an index key: the 8-byte big-endian HLC of the group(s) the term
// comes from (for kMembership the highest of status, list and category).
inline constexpr size_t kIndexStampLength = 8;

// Computes index keys. A key is kind, term, '\0', the stamp and the 26-character pid; the
// updated index has neither separator nor stamp (its term is the 8-byte HLC). Within a
// term, keys are in stamp order, so a new or edited person's key lands after the term's
// last key rather than at a random pid: RocksDB's memtable then appends it from the
// term's insert hint (IndexInsertHints) instead of searching its skip list. The value of
// an index entry is empty. Immutable after construction; thread safe.
class Indexer {
 public:
  // `tag_key` keys the phone tags: 32 bytes derived from the federation key, so that every
  // node indexes a phone the same way. Empty uses a fixed key (tests only).
  explicit Indexer(std::string tag_key);

  // The index keys of a stored record, sorted; none for a record that does not exist.
  std::vector<std::string> Keys(const v1::Record& record) const;

  // The term of a phone in the phone index.
  std::string PhoneTerm(std::string_view phone) const;

  // The term of the membership index. Bytes 0x00 and 0x01 in a value become 0x01 0x01 and
  // 0x01 0x02, so that the '\0' between the three is unambiguous; a value without control
  // characters (every value a filter may give) is unchanged.
  static std::string MembershipTerm(std::string_view status, std::string_view list,
                                    std::string_view category);
  // The three escaped values of a membership key, as views into `key`; nullopt for a key of
  // another kind or shape.
  struct Membership {
    std::string_view status;
    std::string_view list;
    std::string_view category;
  };
  static std::optional<Membership> ParseMembership(std::string_view key);

  // kind + term + '\0': every key of one term starts with it. For kUpdated, term is the
  // 8-byte HLC and no separator follows.
  static std::string TermPrefix(IndexKind kind, std::string_view term);
  // The prefix IndexInsertHints keeps a hint for: for the kinds with few terms, the part of
  // the key before its stamp and pid (kind + term + '\0'); for the phone and updated kinds
  // and for a key of another shape, its first byte; for the empty key, nothing.
  static std::string_view HintPrefixOf(std::string_view key);
  // The pid at the end of an index key (empty for a key too short to hold one).
  static std::string_view PidOf(std::string_view key);
  // A check value that changes whenever the key layout or tag key changes, so that a
  // node rebuilds its indexes on such a change: the layout, ':' and KeyCheck().
  std::string Version() const;
  // The part of Version() that depends on the tag key alone.
  std::string KeyCheck() const;
  // That part of a stored Version(); nullopt for a value of another shape.
  static std::optional<std::string_view> KeyCheckOf(std::string_view version);

 private:
  const model::HmacKey tag_key_;
};

// The memtable insert hint extractor of the index column family (Indexer::HintPrefixOf):
// one hint per term for the kinds with few terms (grids, workplace, membership, test), one
// per kind for the phone (a term a person) and updated indexes. RocksDB keeps a hint of about
// 250 bytes a prefix in the memtable's arena. The empty key, where the index rebuild's
// DeleteRange starts, is outside its domain.
std::shared_ptr<const rocksdb::SliceTransform> IndexInsertHints();

// Keys in `after` but not `before`, and in `before` but not `after` (both sorted).
void DiffKeys(const std::vector<std::string>& before, const std::vector<std::string>& after,
              std::vector<std::string>* puts, std::vector<std::string>* deletes);

}  // namespace wlsync::storage
