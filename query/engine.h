// Flow-tracing queries over the secondary indexes: validates a filter, picks the most
// selective index, scans it from a page token and checks every condition on the record
// itself. Start with QueryEngine::Search; the index layout is in storage/index.h.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
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

// How long the pages of one query see the store as it was at their first page.
struct ViewLimits {
  // A query's view is dropped when no page of it was asked for this long; its next page
  // then reads the store as it is (and keeps a new view).
  std::chrono::milliseconds idle = std::chrono::seconds(60);
  // ... or when it is this old, whatever its use.
  std::chrono::milliseconds max_age = std::chrono::minutes(10);
  // Views kept at most; the one idle longest makes room for a new one.
  size_t max_views = 64;
};

// Thread safe. `store` must outlive it.
class QueryEngine {
 public:
  // `pid_of` turns an identity number into its pid (validating it).
  QueryEngine(const storage::Store& store,
              std::function<absl::StatusOr<std::string>(std::string_view)> pid_of,
              ViewLimits limits = {});

  // INVALID_ARGUMENT names the bad condition, limit or token. The pages of a scan over
  // several index terms read one view of the store (Store::OpenView), kept between pages
  // within `limits`: an edit between pages neither hides nor repeats anyone. A scan of one
  // term reads the store as it is: an edited person can come again, never missed.
  absl::StatusOr<Page> Search(const v1::QueryFilter& filter, int limit,
                              const std::string& page_token) const;

  // Drops every kept view; call before the store closes.
  void ReleaseViews() const;

 private:
  struct Kept {
    std::shared_ptr<const storage::ReadView> view;
    std::chrono::steady_clock::time_point opened;
    std::chrono::steady_clock::time_point used;
  };
  // True when `kept` is past ViewLimits' idle time or age.
  bool Expired(const Kept& kept, std::chrono::steady_clock::time_point now) const;
  // The kept view of a token (refreshing its idle time); null when gone.
  std::shared_ptr<const storage::ReadView> FindView(uint64_t id) const;
  // Keeps `view` for later pages; returns its id.
  uint64_t KeepView(std::shared_ptr<const storage::ReadView> view) const;

  const storage::Store& store_;
  const std::function<absl::StatusOr<std::string>(std::string_view)> pid_of_;
  const ViewLimits limits_;
  mutable std::mutex mu_;
  mutable absl::flat_hash_map<uint64_t, Kept> views_;  // by random id; guarded by mu_
};

// The filter for the audit trail: key=value pairs in field order, with the phone and
// identity number replaced by keyed tags ("h:" + hex) or the pid, never in clear.
std::string DescribeFilter(const v1::QueryFilter& filter, std::string_view audit_key);

}  // namespace wlsync::query
