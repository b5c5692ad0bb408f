// The leak report of `wlsync emergency report`: from audit entries, who read what since a
// time, how many people, which pids. A pure function, so the figures are easy to test.
#pragma once

#include <cstdint>
#include <vector>

#include "wlsync/v1/audit.pb.h"
#include "wlsync/v1/emergency.pb.h"

namespace wlsync::access {

// Entries before `since_ms` are skipped. Tokens are listed by records read, most first.
v1::LeakReport BuildLeakReport(const std::vector<v1::AuditEntry>& entries, int64_t since_ms,
                               int64_t until_ms);

}  // namespace wlsync::access
