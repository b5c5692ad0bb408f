// Progress of long CLI operations (import, export, reconcile) on a terminal: one line on
// stderr, redrawn at most five times a second, with the count, the rate and the time left.
// Quiet when stderr is not a terminal (scripts, pipes, CI logs) so that output stays clean.
#pragma once

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <string>

namespace wlsync::cli {

// True when progress should be drawn: stderr is a terminal whose TERM is not "dumb".
// WLSYNC_PROGRESS=1 forces it on, WLSYNC_PROGRESS=0 off.
bool ProgressWanted();

// Not thread safe: one thread updates it. Lifecycle: construct, Update as work is done,
// Finish (or destroy) to clear the line before the command prints its result.
class Progress {
 public:
  // `what` names the operation ("import rows.csv"), `unit` what is counted ("rows").
  // `total` may be 0 when unknown; `out` is where the line goes.
  Progress(std::string what, std::string unit, uint64_t total, bool enabled = ProgressWanted(),
           std::FILE* out = stderr);
  ~Progress();

  Progress(const Progress&) = delete;
  Progress& operator=(const Progress&) = delete;

  void set_total(uint64_t total) { total_ = total; }
  // `phase` (may be empty) is shown before the count, e.g. "checking records".
  void Update(uint64_t done, const std::string& phase = "");
  void Finish();

  bool enabled() const { return enabled_; }

  // The line as drawn for `done` after `elapsed_s` seconds (for tests).
  std::string Line(uint64_t done, double elapsed_s, const std::string& phase) const;

 private:
  const std::string what_;
  const std::string unit_;
  uint64_t total_;
  const bool enabled_;
  std::FILE* const out_;
  const std::chrono::steady_clock::time_point start_;
  std::chrono::steady_clock::time_point last_draw_;
  bool drawn_ = false;
};

// 12345678 -> "12,345,678".
std::string GroupDigits(uint64_t n);

}  // namespace wlsync::cli
