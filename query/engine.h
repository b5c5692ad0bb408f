// Flow-tracing queries over the secondary indexes: validates a filter, picks the most
// selective index, scans it from a page token and checks every condition on the record
// itself. Start with QueryEngine::Search; the index layout is in storage/index.h.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "storage/store.h"
#include "wlsync/v1/query.pb.h"

namespace wlsync::query {

inline constexpr int kDefaultLimit = 100;
inline constexpr int kMaxLimit = 1000;
// Index entries examined per page at most: a page may then hold fewer than `limit`
// records but still carries a page token, so one call never scans without bound.
inline constexpr size_t kScanBudget = 20000;

struct Page {
  std::vector<v1::Record> records;
  std::string next_page_token;  // empty at the end
  std::string index;            // name of the index used
  size_t records_read = 0;      // records read to check the filter (matching or not)
};

// Immutable after construction; thread safe. `store` must outlive it.
class QueryEngine {
 public:
  // `pid_of` turns an identity number into its pid (validating it).
  QueryEngine(const storage::Store& store,
              std::function<absl::StatusOr<std::string>(std::string_view)> pid_of);

  // INVALID_ARGUMENT names the bad condition, limit or token.
  absl::StatusOr<Page> Search(const v1::QueryFilter& filter, int limit,
                              const std::string& page_token) const;

 private:
  const storage::Store& store_;
  const std::function<absl::StatusOr<std::string>(std::string_view)> pid_of_;
};

// The filter for the audit trail: key=value pairs in field order, with the phone and
// identity number replaced by keyed tags ("h:" + hex) or the pid, never in clear.
std::string DescribeFilter(const v1::QueryFilter& filter, std::string_view audit_key);

}  // namespace wlsync::query
