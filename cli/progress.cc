#include "cli/progress.h"

#include <sys/ioctl.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>

#include "fmt/format.h"

namespace wlsync::cli {
namespace {

constexpr auto kRedrawEvery = std::chrono::milliseconds(200);

std::string Duration(double seconds) {
  auto s = static_cast<int64_t>(seconds + 0.5);
  if (s < 60) return fmt::format("{}s", s);
  if (s < 3600) return fmt::format("{}m{:02}s", s / 60, s % 60);
  return fmt::format("{}h{:02}m", s / 3600, (s % 3600) / 60);
}

}  // namespace

std::string GroupDigits(uint64_t n) {
  std::string digits = std::to_string(n);
  std::string out;
  for (size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) out.push_back(',');
    out.push_back(digits[i]);
  }
  return out;
}

bool ProgressWanted() {
  const char* forced = std::getenv("WLSYNC_PROGRESS");
  if (forced != nullptr && *forced != '\0') return std::strcmp(forced, "0") != 0;
  const char* term = std::getenv("TERM");
  return isatty(STDERR_FILENO) == 1 && (term == nullptr || std::strcmp(term, "dumb") != 0);
}

Progress::Progress(std::string what, std::string unit, uint64_t total, bool enabled,
                   std::FILE* out)
    : what_(std::move(what)),
      unit_(std::move(unit)),
      total_(total),
      enabled_(enabled),
      out_(out),
      start_(std::chrono::steady_clock::now()),
      last_draw_(start_) {}

Progress::~Progress() { Finish(); }

std::string Progress::Line(uint64_t done, double elapsed_s, const std::string& phase) const {
  std::string line = what_ + ": ";
  if (!phase.empty()) line += phase + " ";
  line += GroupDigits(done);
  std::string unit = unit_.empty() ? "" : " " + unit_;
  if (total_ > 0) {
    line += fmt::format("/{}{} ({}%)", GroupDigits(total_), unit,
                        std::min<uint64_t>(100, done * 100 / total_));
  } else {
    line += unit;
  }
  double rate = elapsed_s > 0 ? done / elapsed_s : 0;
  line += fmt::format(", {}/s", GroupDigits(static_cast<uint64_t>(rate)));
  // The rate of the first second says little (connection set-up, the first batch).
  if (total_ > done && rate > 0 && elapsed_s >= 1.0) {
    line += ", " + Duration((total_ - done) / rate) + " left";
  }
  line += ", " + Duration(elapsed_s) + " elapsed";
  return line;
}

void Progress::Update(uint64_t done, const std::string& phase) {
  if (!enabled_) return;
  auto now = std::chrono::steady_clock::now();
  if (drawn_ && now - last_draw_ < kRedrawEvery) return;
  last_draw_ = now;
  drawn_ = true;
  double elapsed = std::chrono::duration<double>(now - start_).count();
  // "\r" back to the line's start, "\x1b[K" erases what a longer earlier line left. A line
  // wider than the terminal would wrap, and "\r" would then redraw only its last part.
  std::string line = Line(done, elapsed, phase);
  winsize ws{};
  if (ioctl(fileno(out_), TIOCGWINSZ, &ws) == 0 && ws.ws_col > 1 && line.size() >= ws.ws_col) {
    size_t cut = ws.ws_col - 1;
    while (cut > 0 && (static_cast<unsigned char>(line[cut]) & 0xC0) == 0x80) --cut;
    line.resize(cut);
  }
  std::fprintf(out_, "\r%s\x1b[K", line.c_str());
  std::fflush(out_);
}

void Progress::Finish() {
  if (!enabled_ || !drawn_) return;
  std::fprintf(out_, "\r\x1b[K");
  std::fflush(out_);
  drawn_ = false;
}

}  // namespace wlsync::cli
