// The progress line of long CLI operations, as drawn (table of cases), and that it stays off
// the stream when disabled.
#include <catch2/catch.hpp>

#include <cstdio>
#include <string>

#include "cli/progress.h"

namespace wlsync::cli {
namespace {

TEST_CASE("Progress: the line shows count, share, rate and time left", "[cli]") {
  auto [total, done, elapsed, phase, expected] =
      GENERATE(table<uint64_t, uint64_t, double, std::string, std::string>({
          {1000000, 250000, 10.0, "",
           "import a.csv: 250,000/1,000,000 rows (25%), 25,000/s, 30s left, 10s elapsed"},
          {0, 1234, 2.0, "", "import a.csv: 1,234 rows, 617/s, 2s elapsed"},
          {100, 100, 1.0, "", "import a.csv: 100/100 rows (100%), 100/s, 1s elapsed"},
          {100, 150, 1.0, "", "import a.csv: 150/100 rows (100%), 150/s, 1s elapsed"},
          {10000, 100, 200.0, "checking",
           "import a.csv: checking 100/10,000 rows (1%), 0/s, 5h30m left, 3m20s elapsed"},
          {10000, 5000, 3700.0, "",
           "import a.csv: 5,000/10,000 rows (50%), 1/s, 1h01m left, 1h01m elapsed"},
      }));
  Progress p("import a.csv", "rows", total, /*enabled=*/false);
  CHECK(p.Line(done, elapsed, phase) == expected);
}

TEST_CASE("Progress: nothing is written when disabled, one cleared line when enabled",
          "[cli]") {
  char buf[4096] = {};
  std::FILE* out = fmemopen(buf, sizeof(buf), "w");
  REQUIRE(out != nullptr);
  {
    Progress off("export", "records", 10, /*enabled=*/false, out);
    off.Update(5);
    off.Finish();
  }
  std::fflush(out);
  CHECK(std::string(buf).empty());

  {
    Progress on("export", "records", 10, /*enabled=*/true, out);
    on.Update(5);
    on.Update(6);  // within the redraw interval: not drawn
    on.Finish();
  }
  std::fclose(out);
  std::string text(buf);
  CHECK(text.rfind("\rexport: 5/10 records (50%)", 0) == 0);
  CHECK(text.find("6/10") == std::string::npos);
  CHECK(text.size() >= 4);
  CHECK(text.substr(text.size() - 4) == "\r\x1b[K");
}

}  // namespace
}  // namespace wlsync::cli
