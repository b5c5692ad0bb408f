#include "access/leak_report.h"

#include <algorithm>
#include <map>
#include <set>
#include <string>

#include "base/strings.h"

namespace wlsync::access {
namespace {

struct Tally {
  v1::TokenReads reads;
  std::set<std::string> pids;
  std::set<std::string> cases;
  std::map<std::string, uint64_t> methods;
};

bool IsFullExport(const v1::AuditEntry& e) {
  return e.method() == "Registry.Export" && e.outcome() == "OK";
}

}  // namespace

v1::LeakReport BuildLeakReport(const std::vector<v1::AuditEntry>& entries, int64_t since_ms,
                               int64_t until_ms) {
  v1::LeakReport report;
  report.set_since_unix_ms(since_ms);
  report.set_until_unix_ms(until_ms);
  std::map<std::string, Tally> by_token;
  std::set<std::string> all_pids;
  for (const v1::AuditEntry& e : entries) {
    if (e.unix_ms() < since_ms || e.unix_ms() > until_ms) continue;
    report.set_entries(report.entries() + 1);
    report.set_head_seq(std::max(report.head_seq(), e.seq()));
    Tally& t = by_token[e.token()];
    v1::TokenReads& r = t.reads;
    if (r.calls() == 0) {
      r.set_token(e.token());
      r.set_first_unix_ms(e.unix_ms());
    }
    if (!e.role().empty()) r.set_role(e.role());
    r.set_calls(r.calls() + 1);
    r.set_last_unix_ms(e.unix_ms());
    if (e.outcome() != "OK") r.set_refused(r.refused() + 1);
    ++t.methods[e.method()];
    if (!e.case_id().empty()) t.cases.insert(e.case_id());
    if (IsFullExport(e)) {
      r.set_full_exports(r.full_exports() + 1);
      report.set_full_exports(report.full_exports() + 1);
    }
    if (e.outcome() == "OK") r.set_records_read(r.records_read() + e.result_count());
    for (const std::string& pid : e.pids()) {
      t.pids.insert(pid);
      all_pids.insert(pid);
    }
  }
  std::vector<v1::TokenReads> tokens;
  for (auto& [name, t] : by_token) {
    t.reads.set_people(t.pids.size());
    for (const std::string& c : t.cases) t.reads.add_cases(c);
    for (const auto& [m, n] : t.methods) t.reads.add_methods(base::StrCat(m, "=", n));
    tokens.push_back(std::move(t.reads));
  }
  std::sort(tokens.begin(), tokens.end(), [](const v1::TokenReads& a, const v1::TokenReads& b) {
    return a.records_read() != b.records_read() ? a.records_read() > b.records_read()
                                                : a.token() < b.token();
  });
  for (v1::TokenReads& t : tokens) *report.add_tokens() = std::move(t);
  report.set_people(all_pids.size());
  for (const std::string& pid : all_pids) report.add_pids(pid);
  return report;
}

}  // namespace wlsync::access
