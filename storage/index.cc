#include "storage/index.h"

#include <rocksdb/slice.h>
#include <rocksdb/slice_transform.h>

#include <algorithm>

#include "base/strings.h"
#include "model/merge.h"
#include "model/pid.h"
#include "storage/keys.h"

namespace wlsync::storage {
namespace {

// Bumped when the layout of index keys changes.
// index-v3 put the stamp before the pid.
constexpr std::string_view kLayoutVersion = "index-v3";

// Bytes after the term's '\0': the stamp and the pid.
constexpr size_t kSuffixLength = kIndexStampLength + model::kPidLength;

void AppendEscaped(std::string* out, std::string_view value) {
  for (char c : value) {
    if (c == '\0' || c == '\x01') {
      out->push_back('\x01');
      out->push_back(static_cast<char>(c + 1));
    } else {
      out->push_back(c);
    }
  }
}

// Adds kind + term + '\0' + stamp + pid (kUpdated: kind + term + pid).
void AddTerm(std::vector<std::string>* out, IndexKind kind, std::string_view term, uint64_t stamp,
             std::string_view pid) {
  if (term.empty()) return;
  std::string key = Indexer::TermPrefix(kind, term);
  if (kind != IndexKind::kUpdated) keys::PutFixed64(&key, stamp);
  key.append(pid);
  out->push_back(std::move(key));
}

uint64_t StampOf(const v1::Record& record, std::initializer_list<v1::Group> groups) {
  uint64_t stamp = 0;
  for (v1::Group g : groups) stamp = std::max(stamp, model::GroupOf(record, g).stamp().hlc());
  return stamp;
}

// Kinds with one insert hint per term: their terms are few (grids, workplaces, the
// membership and test values), each term's keys many.
bool HintedPerTerm(char kind) {
  switch (static_cast<IndexKind>(kind)) {
    case IndexKind::kResidenceGrid:
    case IndexKind::kWorkGrid:
    case IndexKind::kWorkplace:
    case IndexKind::kMembership:
    case IndexKind::kTest:
      return true;
    default:
      return false;
  }
}

class IndexHintTransform final : public rocksdb::SliceTransform {
 public:
  const char* Name() const override { return "wlsync.IndexInsertHints"; }
  rocksdb::Slice Transform(const rocksdb::Slice& key) const override {
    std::string_view prefix = Indexer::HintPrefixOf(std::string_view(key.data(), key.size()));
    return rocksdb::Slice(prefix.data(), prefix.size());
  }
  bool InDomain(const rocksdb::Slice& key) const override { return !key.empty(); }
};

}  // namespace

Indexer::Indexer(std::string tag_key)
    : tag_key_(tag_key.empty() ? std::string(32, '\x5a') : tag_key) {}

std::string Indexer::TermPrefix(IndexKind kind, std::string_view term) {
  std::string key(1, static_cast<char>(kind));
  key.append(term);
  if (kind != IndexKind::kUpdated) key.push_back('\0');
  return key;
}

std::string_view Indexer::HintPrefixOf(std::string_view key) {
  if (key.empty()) return key;
  // kind, at least one byte of term, '\0', stamp, pid
  if (HintedPerTerm(key[0]) && key.size() >= kSuffixLength + 3 &&
      key[key.size() - kSuffixLength - 1] == '\0') {
    return key.substr(0, key.size() - kSuffixLength);
  }
  return key.substr(0, 1);
}

std::shared_ptr<const rocksdb::SliceTransform> IndexInsertHints() {
  return std::make_shared<IndexHintTransform>();
}

std::string_view Indexer::PidOf(std::string_view key) {
  if (key.size() < model::kPidLength + 1) return {};
  return key.substr(key.size() - model::kPidLength);
}

std::string Indexer::PhoneTerm(std::string_view phone) const {
  return model::HexEncode(tag_key_.Tag("phone", phone));
}

std::string Indexer::MembershipTerm(std::string_view status, std::string_view list,
                                    std::string_view category) {
  std::string term;
  term.reserve(status.size() + list.size() + category.size() + 2);
  AppendEscaped(&term, status);
  term.push_back('\0');
  AppendEscaped(&term, list);
  term.push_back('\0');
  AppendEscaped(&term, category);
  return term;
}

std::optional<Indexer::Membership> Indexer::ParseMembership(std::string_view key) {
  // 'm', status, '\0', list, '\0', category, '\0', stamp, pid
  if (key.size() < kSuffixLength + 4 || key[0] != static_cast<char>(IndexKind::kMembership) ||
      key[key.size() - kSuffixLength - 1] != '\0') {
    return std::nullopt;
  }
  std::string_view term = key.substr(1, key.size() - kSuffixLength - 2);
  size_t first = term.find('\0');
  if (first == std::string_view::npos) return std::nullopt;
  size_t second = term.find('\0', first + 1);
  if (second == std::string_view::npos || term.find('\0', second + 1) != std::string_view::npos) {
    return std::nullopt;
  }
  return Membership{term.substr(0, first), term.substr(first + 1, second - first - 1),
                    term.substr(second + 1)};
}

std::string Indexer::Version() const { return base::StrCat(kLayoutVersion, ":", KeyCheck()); }

std::string Indexer::KeyCheck() const {
  return model::HexEncode(tag_key_.Tag("index-version", ""));
}

std::optional<std::string_view> Indexer::KeyCheckOf(std::string_view version) {
  size_t colon = version.rfind(':');
  if (colon == std::string_view::npos) return std::nullopt;
  return version.substr(colon + 1);
}

std::vector<std::string> Indexer::Keys(const v1::Record& record) const {
  std::vector<std::string> out;
  if (!model::Exists(record)) return out;
  const std::string& pid = record.pid();
  using model::GroupOf;

  const v1::PersonFields& contact = GroupOf(record, v1::CONTACT).value();
  if (!contact.phone().empty()) {
    AddTerm(&out, IndexKind::kPhone, PhoneTerm(contact.phone()), StampOf(record, {v1::CONTACT}),
            pid);
  }
  AddTerm(&out, IndexKind::kResidenceGrid, GroupOf(record, v1::RESIDENCE).value().residence_grid(),
          StampOf(record, {v1::RESIDENCE}), pid);
  const v1::PersonFields& work = GroupOf(record, v1::WORK).value();
  const uint64_t work_stamp = StampOf(record, {v1::WORK});
  AddTerm(&out, IndexKind::kWorkGrid, work.work_grid(), work_stamp, pid);
  AddTerm(&out, IndexKind::kWorkplace, work.workplace(), work_stamp, pid);
  AddTerm(&out, IndexKind::kMembership,
          MembershipTerm(GroupOf(record, v1::STATUS).value().status(),
                         GroupOf(record, v1::LIST).value().list(),
                         GroupOf(record, v1::CATEGORY).value().category()),
          StampOf(record, {v1::STATUS, v1::LIST, v1::CATEGORY}), pid);

  const v1::PersonFields& test = GroupOf(record, v1::TEST).value();
  if (!test.last_test_result().empty()) {
    AddTerm(&out, IndexKind::kTest,
            base::StrCat(test.last_test_result(), std::string_view("\0", 1), test.last_test_date()),
            StampOf(record, {v1::TEST}), pid);
  }
  std::string hlc;
  keys::PutFixed64(&hlc, model::UpdatedHlc(record));
  AddTerm(&out, IndexKind::kUpdated, hlc, 0, pid);

  std::sort(out.begin(), out.end());
  return out;
}

void DiffKeys(const std::vector<std::string>& before, const std::vector<std::string>& after,
              std::vector<std::string>* puts, std::vector<std::string>* deletes) {
  std::set_difference(after.begin(), after.end(), before.begin(), before.end(),
                      std::back_inserter(*puts));
  std::set_difference(before.begin(), before.end(), after.begin(), after.end(),
                      std::back_inserter(*deletes));
}

}  // namespace wlsync::storage
