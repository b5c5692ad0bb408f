#include "query/engine.h"

#include <sodium.h>

#include <algorithm>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/ascii.h"
#include "base/strings.h"
#include "model/fields.h"
#include "model/merge.h"
#include "model/pid.h"
#include "model/validate.h"
#include "storage/index.h"
#include "storage/keys.h"

namespace wlsync::query {
namespace {

using storage::IndexKind;
using storage::Indexer;

constexpr size_t kMaxTermBytes = 256;
// q2: tokens hold a key of the index-v3 layout (a stamp before the pid) and the id of the
// query's kept view; a q1 token's key would resume at the wrong place.
constexpr std::string_view kTokenVersion = "q2.";

// One index scan: keys that start with `prefix`, from `start`, up to `last` inclusive
// (no bound when empty). `membership`: a scan of the membership index, which jumps over
// the keys whose status, list or category differ from the filter's (NextMembership).
// `several_terms`: the scan crosses terms, so an edit can move a key behind it: its pages
// read one kept view. Within one term (or the updated index) an edit moves the key ahead.
struct Plan {
  std::string index;
  std::string prefix;
  std::string start;
  std::string last;
  bool membership = false;
  bool several_terms = true;
};

absl::Status Bad(std::string_view field, std::string_view why) {
  return absl::InvalidArgumentError(base::StrCat("filter.", field, ": ", why));
}

absl::Status CheckTerm(std::string_view field, std::string_view value) {
  if (value.size() > kMaxTermBytes) return Bad(field, "longer than 256 bytes");
  if (!model::IsValidUtf8(value)) return Bad(field, "not valid UTF-8");
  for (unsigned char c : value) {
    if (c < 0x20 || c == 0x7f) return Bad(field, "holds a control character");
  }
  return absl::OkStatus();
}

absl::Status CheckDate(std::string_view field, std::string_view date) {
  if (date.empty()) return absl::OkStatus();
  int y = 0, m = 0, d = 0;
  if (date.size() != 10 || date[4] != '-' || date[7] != '-' ||
      std::sscanf(std::string(date).c_str(), "%4d-%2d-%2d", &y, &m, &d) != 3 ||
      !model::IsRealDate(y, m, d)) {
    return Bad(field, "must be a date YYYY-MM-DD");
  }
  return absl::OkStatus();
}

absl::Status Validate(const v1::QueryFilter& f) {
  const std::pair<std::string_view, const std::string*> terms[] = {
      {"phone", &f.phone()},           {"residence_grid", &f.residence_grid()},
      {"work_grid", &f.work_grid()},   {"workplace", &f.workplace()},
      {"workplace_prefix", &f.workplace_prefix()}, {"list", &f.list()},
      {"category", &f.category()},     {"status", &f.status()},
      {"test_result", &f.test_result()}};
  for (const auto& [name, value] : terms) {
    if (absl::Status s = CheckTerm(name, *value); !s.ok()) return s;
  }
  if (!f.list().empty() && f.list() != "WHITE" && f.list() != "GREY") {
    return Bad("list", "must be WHITE or GREY");
  }
  if (!f.status().empty() && f.status() != model::kRegistered && f.status() != model::kDeregistered) {
    return Bad("status", "must be REGISTERED or DEREGISTERED");
  }
  if (absl::Status s = CheckDate("tested_from", f.tested_from()); !s.ok()) return s;
  if (absl::Status s = CheckDate("tested_to", f.tested_to()); !s.ok()) return s;
  if (!f.tested_from().empty() && !f.tested_to().empty() && f.tested_from() > f.tested_to()) {
    return Bad("tested_from", "is after tested_to");
  }
  if (f.changed_since_unix_ms() < 0) return Bad("changed_since", "must not be negative");
  if (!f.workplace().empty() && !f.workplace_prefix().empty()) {
    return Bad("workplace_prefix", "give workplace or workplace_prefix, not both");
  }
  bool any = f.has_person() || !f.phone().empty() || !f.residence_grid().empty() ||
             !f.work_grid().empty() || !f.workplace().empty() || !f.workplace_prefix().empty() ||
             !f.list().empty() || !f.category().empty() || !f.status().empty() ||
             !f.test_result().empty() || !f.tested_from().empty() || !f.tested_to().empty() ||
             f.changed_since_unix_ms() > 0;
  if (!any) return absl::InvalidArgumentError("filter: at least one condition is needed");
  return absl::OkStatus();
}

// The filter with spaces around its values removed, as writes remove them from the stored
// values (model::WritePlanner): " WH-MAYI-01 " finds what "WH-MAYI-01" finds. A workplace
// prefix keeps its trailing spaces: they can be part of a longer value.
v1::QueryFilter Normalized(const v1::QueryFilter& given) {
  v1::QueryFilter f = given;
  for (std::string* value :
       {f.mutable_phone(), f.mutable_residence_grid(), f.mutable_work_grid(), f.mutable_workplace(),
        f.mutable_list(), f.mutable_category(), f.mutable_status(), f.mutable_test_result(),
        f.mutable_tested_from(), f.mutable_tested_to()}) {
    absl::StripAsciiWhitespace(value);
  }
  absl::StripLeadingAsciiWhitespace(f.mutable_workplace_prefix());
  return f;
}

uint64_t SinceHlc(int64_t unix_ms) { return static_cast<uint64_t>(unix_ms) << 16; }

// Every condition, checked on the merged record.
bool Matches(const v1::Record& r, const v1::QueryFilter& f) {
  using model::GroupOf;
  if (!model::Exists(r)) return false;
  const v1::PersonFields& contact = GroupOf(r, v1::CONTACT).value();
  const v1::PersonFields& residence = GroupOf(r, v1::RESIDENCE).value();
  const v1::PersonFields& work = GroupOf(r, v1::WORK).value();
  const v1::PersonFields& test = GroupOf(r, v1::TEST).value();
  if (!f.phone().empty() && contact.phone() != f.phone()) return false;
  if (!f.residence_grid().empty() && residence.residence_grid() != f.residence_grid()) return false;
  if (!f.work_grid().empty() && work.work_grid() != f.work_grid()) return false;
  if (!f.workplace().empty() && work.workplace() != f.workplace()) return false;
  if (!f.workplace_prefix().empty() &&
      work.workplace().compare(0, f.workplace_prefix().size(), f.workplace_prefix()) != 0) {
    return false;
  }
  if (!f.list().empty() && GroupOf(r, v1::LIST).value().list() != f.list()) return false;
  if (!f.category().empty() && GroupOf(r, v1::CATEGORY).value().category() != f.category()) {
    return false;
  }
  if (!f.status().empty() && GroupOf(r, v1::STATUS).value().status() != f.status()) return false;
  if (!f.test_result().empty() && test.last_test_result() != f.test_result()) return false;
  if (!f.tested_from().empty() || !f.tested_to().empty()) {
    const std::string& date = test.last_test_date();
    if (date.empty()) return false;
    if (!f.tested_from().empty() && date < f.tested_from()) return false;
    if (!f.tested_to().empty() && date > f.tested_to()) return false;
  }
  if (f.changed_since_unix_ms() > 0 && model::UpdatedHlc(r) < SinceHlc(f.changed_since_unix_ms())) {
    return false;
  }
  return true;
}

Plan Term(std::string index, IndexKind kind, std::string_view term) {
  Plan p{std::move(index), Indexer::TermPrefix(kind, term), "", ""};
  p.several_terms = false;
  return p;
}

// The most selective index the filter allows.
Plan Choose(const v1::QueryFilter& f, const Indexer& indexer) {
  if (!f.phone().empty()) return Term("phone", IndexKind::kPhone, indexer.PhoneTerm(f.phone()));
  if (!f.residence_grid().empty()) {
    return Term("residence_grid", IndexKind::kResidenceGrid, f.residence_grid());
  }
  if (!f.work_grid().empty()) return Term("work_grid", IndexKind::kWorkGrid, f.work_grid());
  if (!f.workplace().empty()) return Term("workplace", IndexKind::kWorkplace, f.workplace());
  if (!f.test_result().empty()) {
    Plan p = Term("test_result", IndexKind::kTest, f.test_result());
    p.several_terms = true;  // one term a date
    if (!f.tested_from().empty()) p.start = p.prefix + f.tested_from();
    if (!f.tested_to().empty()) p.last = p.prefix + f.tested_to() + std::string(1, '\x01');
    return p;
  }
  if (!f.workplace_prefix().empty()) {
    return Plan{"workplace_prefix",
                std::string(1, static_cast<char>(IndexKind::kWorkplace)) + f.workplace_prefix(), "",
                ""};
  }
  if (f.changed_since_unix_ms() > 0) {
    Plan p{"changed_since", std::string(1, static_cast<char>(IndexKind::kUpdated)), "", ""};
    p.start = p.prefix;
    storage::keys::PutFixed64(&p.start, SinceHlc(f.changed_since_unix_ms()));
    p.several_terms = false;  // an edit's new key has the newest HLC: ahead of the scan
    return p;
  }
  if (!f.status().empty() || !f.list().empty() || !f.category().empty()) {
    // The values given from the first on make the prefix; the others are jumped over.
    Plan p{"membership", std::string(1, static_cast<char>(IndexKind::kMembership)), "", ""};
    p.membership = true;
    int given = 0;
    for (const std::string* value : {&f.status(), &f.list(), &f.category()}) {
      if (value->empty()) break;
      p.prefix.append(*value);
      p.prefix.push_back('\0');
      ++given;
    }
    p.several_terms = given < 3;
    return p;
  }
  return Plan{"test_date", std::string(1, static_cast<char>(IndexKind::kTest)), "", ""};
}

// For a membership key whose values cannot match the filter, the first key after it that
// can (in *next; empty when none can). False when the key may match: its record is read.
// Exact because the key's values are escaped (no '\0' inside) and a filter's values hold no
// control characters (Validate), so they are their own escaped form.
bool NextMembership(std::string_view key, const v1::QueryFilter& f, std::string* next) {
  std::optional<Indexer::Membership> m = Indexer::ParseMembership(key);
  if (!m.has_value()) return false;
  const std::string_view wanted[] = {f.status(), f.list(), f.category()};
  const std::string_view held[] = {m->status, m->list, m->category};
  for (int i = 0; i < 3; ++i) {
    if (wanted[i].empty() || held[i] == wanted[i]) continue;
    // 'm' and the values before this one, each with its '\0': the held values view `key`.
    std::string_view before = key.substr(0, static_cast<size_t>(held[i].data() - key.data()));
    if (held[i] < wanted[i]) {
      *next = base::StrCat(before, wanted[i], std::string_view("\0", 1));
    } else if (i == 0) {
      next->clear();  // past the wanted status: nothing after it matches
    } else {
      *next = std::string(before);
      next->back() = '\x01';  // past every key of the values before this one
    }
    return true;
  }
  return false;
}

// Binds a page token to its filter, so that a token is never replayed with another one.
std::string FilterFingerprint(const v1::QueryFilter& f) {
  std::string bytes;
  f.SerializeToString(&bytes);
  uint8_t digest[crypto_hash_sha256_BYTES];
  crypto_hash_sha256(digest, reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size());
  return model::HexEncode(std::string_view(reinterpret_cast<const char*>(digest), 8));
}

// A page token: version, filter fingerprint, the id of the query's kept view (16 hex
// digits) and the last key read, each after a '.'.
std::string EncodeToken(const v1::QueryFilter& f, uint64_t view_id, std::string_view last_key) {
  std::string id;
  storage::keys::PutFixed64(&id, view_id);
  return base::StrCat(kTokenVersion, FilterFingerprint(f), ".", model::HexEncode(id), ".",
                      model::HexEncode(last_key));
}

struct Token {
  uint64_t view_id = 0;
  std::string after;  // the key to resume after
};

// INVALID_ARGUMENT for a token of another filter or a damaged one.
absl::StatusOr<Token> DecodeToken(const v1::QueryFilter& f, std::string_view token) {
  std::string fp = FilterFingerprint(f);
  std::string_view head = token.substr(0, kTokenVersion.size() + fp.size() + 1);
  if (head != base::StrCat(kTokenVersion, fp, ".")) {
    if (token.starts_with("q1.")) {
      return absl::InvalidArgumentError(
          "page_token: made before an upgrade changed the index layout: start the query again");
    }
    return absl::InvalidArgumentError("page_token: does not belong to this filter");
  }
  std::string_view rest = token.substr(head.size());
  constexpr size_t kIdHex = 16;
  if (rest.size() < kIdHex + 3 || rest[kIdHex] != '.') {
    return absl::InvalidArgumentError("page_token: damaged");
  }
  absl::StatusOr<std::string> id = model::HexDecode(rest.substr(0, kIdHex));
  absl::StatusOr<std::string> key = model::HexDecode(rest.substr(kIdHex + 1));
  if (!id.ok() || !key.ok() || key->empty()) {
    return absl::InvalidArgumentError("page_token: damaged");
  }
  Token out;
  out.view_id = storage::keys::GetFixed64(*id);  // 16 hex digits: 8 bytes
  out.after = *std::move(key);
  return out;
}

}  // namespace

QueryEngine::QueryEngine(const storage::Store& store,
                         std::function<absl::StatusOr<std::string>(std::string_view)> pid_of,
                         ViewLimits limits)
    : store_(store), pid_of_(std::move(pid_of)), limits_(limits) {}

std::shared_ptr<const storage::ReadView> QueryEngine::FindView(uint64_t id) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = views_.find(id);
  if (it == views_.end()) return nullptr;
  const auto now = std::chrono::steady_clock::now();
  if (Expired(it->second, now)) {
    views_.erase(it);
    return nullptr;
  }
  it->second.used = now;
  return it->second.view;
}

bool QueryEngine::Expired(const Kept& kept, std::chrono::steady_clock::time_point now) const {
  return now - kept.used > limits_.idle || now - kept.opened > limits_.max_age;
}

uint64_t QueryEngine::KeepView(std::shared_ptr<const storage::ReadView> view) const {
  if (limits_.max_views == 0) return 0;
  const auto now = std::chrono::steady_clock::now();
  uint64_t id = 0;
  while (id == 0) randombytes_buf(&id, sizeof(id));  // 0 is "no view"
  std::lock_guard<std::mutex> lock(mu_);
  absl::erase_if(views_, [&](const auto& entry) { return Expired(entry.second, now); });
  if (views_.size() >= limits_.max_views) {
    auto idlest = std::min_element(views_.begin(), views_.end(), [](const auto& a, const auto& b) {
      return a.second.used < b.second.used;
    });
    views_.erase(idlest);
  }
  views_[id] = Kept{std::move(view), now, now};
  return id;
}

void QueryEngine::ReleaseViews() const {
  std::lock_guard<std::mutex> lock(mu_);
  views_.clear();
}

absl::StatusOr<Page> QueryEngine::Search(const v1::QueryFilter& given, int limit,
                                         const std::string& page_token) const {
  const v1::QueryFilter filter = Normalized(given);
  if (limit < 0 || limit > kMaxLimit) {
    return absl::InvalidArgumentError("limit: must be from 1 to 1000 (0 for the default 100)");
  }
  if (limit == 0) limit = kDefaultLimit;
  if (absl::Status s = Validate(filter); !s.ok()) return s;

  Page page;
  if (filter.has_person()) {
    // One person: no index, no pages.
    page.index = "pid";
    std::string pid = filter.person().pid();
    if (filter.person().ref_case() == v1::PersonRef::kIdDoc) {
      absl::StatusOr<std::string> p = pid_of_(filter.person().id_doc());
      if (!p.ok()) return p.status();
      pid = *p;
    } else if (!model::IsValidPid(pid)) {
      return Bad("person.pid", "must be 26 base32 characters");
    }
    v1::Record record;
    page.records_read = 1;
    absl::StatusOr<bool> found = store_.ReadRecord(pid, &record);
    if (!found.ok()) return found.status();
    if (*found && Matches(record, filter)) page.records.push_back(std::move(record));
    return page;
  }

  Plan plan = Choose(filter, store_.indexer());
  page.index = plan.index;
  std::string start = plan.start;
  // The pages of a scan over several terms read one view of the store, kept between pages:
  // an edit between them neither hides anyone (it could move a key into a term already
  // read) nor repeats them. A first page opens a view; so does a page whose view was dropped
  // (ViewLimits), which then sees the store as it is from there on. A scan of one term reads
  // the store as it is: an edit moves its key ahead of the scan, so nobody is missed, and
  // no snapshot is taken for the most frequent queries (phone, grid).
  std::shared_ptr<const storage::ReadView> view;
  uint64_t view_id = 0;
  if (!page_token.empty()) {
    absl::StatusOr<Token> token = DecodeToken(filter, page_token);
    if (!token.ok()) return token.status();
    if (token->after.compare(0, plan.prefix.size(), plan.prefix) != 0) {
      return absl::InvalidArgumentError(
          "page_token: does not belong to this filter (or to an older index layout: start "
          "the query again)");
    }
    start = token->after + std::string(1, '\0');  // the first key after it
    // LIMITATION: a page asked for after its view was dropped (ViewLimits: idle 60 s, 10
    // minutes old, more than 64 queries paging at once) opens a new view: an edit made in
    // between can hide a person from a scan over several terms, as without views.
    view = FindView(token->view_id);
    if (view != nullptr) view_id = token->view_id;
  }
  if (view == nullptr && plan.several_terms) view = store_.OpenView();

  size_t examined = 0;
  std::string last_key;
  bool more = false;
  absl::Status read_error;
  absl::Status s = store_.ScanJumping(
      storage::Table::kIndex, plan.prefix, start,
      [&](std::string_view key, std::string_view, std::string* jump) {
        if (!plan.last.empty() && key > plan.last) return false;
        if (page.records.size() >= static_cast<size_t>(limit) || examined >= kScanBudget) {
          more = true;
          return false;
        }
        ++examined;
        last_key = std::string(key);
        if (plan.membership && NextMembership(key, filter, jump)) {
          if (jump->empty()) return false;  // no later key can match
          if (*jump > key) return true;
          jump->clear();  // never backwards: read the record instead (cannot happen)
        }
        ++page.records_read;
        v1::Record record;
        absl::StatusOr<bool> found = store_.ReadRecord(Indexer::PidOf(key), &record, view.get());
        if (!found.ok()) {
          read_error = found.status();
          return false;
        }
        if (*found && Matches(record, filter)) page.records.push_back(std::move(record));
        return true;
      },
      view.get());
  if (!s.ok()) return s;
  if (!read_error.ok()) return read_error;
  if (more) {
    if (view_id == 0 && view != nullptr) view_id = KeepView(std::move(view));
    page.next_page_token = EncodeToken(filter, view_id, last_key);
  }
  return page;
}

std::string DescribeFilter(const v1::QueryFilter& f, std::string_view audit_key) {
  std::string out;
  auto add = [&](std::string_view name, std::string_view value) {
    if (value.empty()) return;
    if (!out.empty()) out.push_back(' ');
    base::StrAppend(&out, name, "=", value);
  };
  auto tag = [&](std::string_view domain, std::string_view value) {
    return value.empty() ? std::string()
                         : base::StrCat("h:", model::HexEncode(model::KeyedTag(audit_key, domain,
                                                                                value)));
  };
  if (f.has_person()) {
    if (f.person().ref_case() == v1::PersonRef::kIdDoc) {
      add("id_doc", tag("id_doc", model::NormalizeIdDoc(f.person().id_doc())));
    } else {
      add("pid", f.person().pid());
    }
  }
  add("phone", tag("phone", f.phone()));
  add("residence_grid", f.residence_grid());
  add("work_grid", f.work_grid());
  add("workplace", f.workplace());
  add("workplace_prefix", f.workplace_prefix());
  add("list", f.list());
  add("category", f.category());
  add("status", f.status());
  add("test_result", f.test_result());
  add("tested_from", f.tested_from());
  add("tested_to", f.tested_to());
  if (f.changed_since_unix_ms() > 0) add("changed_since_ms", std::to_string(f.changed_since_unix_ms()));
  return out;
}

}  // namespace wlsync::query
