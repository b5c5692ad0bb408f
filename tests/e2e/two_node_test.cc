// End-to-end: two real wlsyncd processes (waihai, guzhen) pulling from each other on
// loopback. Each imports its own jurisdiction's sample rows and applies its own changes file;
// both must converge to identical exports equal to the state computed here from the CSVs.
// Also runs deploy/quickstart.sh, which does the same from the shell.
#include <google/protobuf/struct.pb.h>
#include <google/protobuf/util/json_util.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <fstream>
#include <map>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "model/csv.h"
#include "model/fields.h"
#include "model/validate.h"
#include "tests/support/cluster.h"
#include "tests/support/expected_state.h"

namespace wlsync::testing {
namespace {

using namespace std::chrono_literals;

constexpr auto kConvergeTimeout = 120s;

struct Counts {
  long records = 0, white = 0, grey = 0, deregistered = 0;
};

Counts CountsOf(const State& state) {
  Counts c;
  for (const auto& [id, e] : state) {
    ++c.records;
    if (e.deregistered) {
      ++c.deregistered;
    } else {
      ++(e.fields.at("list") == "WHITE" ? c.white : c.grey);
    }
  }
  return c;
}

// ---- exports ------------------------------------------------------------------------------

google::protobuf::Struct ParseJson(const std::string& json) {
  google::protobuf::Struct s;
  INFO(json.substr(0, 300));
  REQUIRE(google::protobuf::util::JsonStringToMessage(json, &s).ok());
  return s;
}


// ---- inputs -------------------------------------------------------------------------------

std::string CsvCell(const std::string& s) {
  if (s.find_first_of(",\"\r\n") == std::string::npos) return s;
  std::string out = "\"";
  for (char c : s) {
    if (c == '"') out.push_back('"');
    out.push_back(c);
  }
  return out + "\"";
}

// Writes the rows of commuters.csv whose home is `home`, header included, to `out`.
void WriteHomeRows(const std::string& commuters, const std::string& home, const std::string& out) {
  std::vector<model::CsvRow> rows = ReadCsv(commuters);
  size_t home_column = 0;
  while (home_column < rows[0].cells.size() && rows[0].cells[home_column] != "home") {
    ++home_column;
  }
  REQUIRE(home_column < rows[0].cells.size());
  std::string text;
  for (size_t r = 0; r < rows.size(); ++r) {
    if (r > 0 && rows[r].cells[home_column] != home) continue;
    std::string line;
    for (const std::string& cell : rows[r].cells) line += (line.empty() ? "" : ",") + CsvCell(cell);
    text += line + "\n";
  }
  WriteFile(out, text);
}

// A base N such that N+1 and N+2 were free a moment ago.
int FreePortBase() {
  for (int attempt = 0; attempt < 100; ++attempt) {
    int port = FreePort();
    if (port > 1 && port < 65535 && wlsync::testing::PortBindable(port + 1)) return port - 1;
  }
  FAIL("no two adjacent free loopback ports");
  return 0;
}

// Runs deploy/quickstart.sh with `args`. The binaries under test are those of this build:
// the script's own build step finds them up to date.
CommandResult Quickstart(const std::vector<std::string>& args) {
  std::string bin_dir = WLSYNC_BIN_DIR;
  std::string build_dir = bin_dir.substr(0, bin_dir.rfind("/bin"));
  std::vector<std::string> argv = {"/bin/bash",
                                   std::string(WLSYNC_SOURCE_DIR) + "/deploy/quickstart.sh"};
  argv.insert(argv.end(), args.begin(), args.end());
  return Run(argv, {{"WLSYNC_BUILD_DIR", build_dir}, {"WLSYNC_BUILD_JOBS", "2"}});
}

// ---- the tests ----------------------------------------------------------------------------

TEST_CASE("Two nodes: each side's imports and changes converge to the computed state", "[e2e]") {
  TempDir root("e2e-two");
  std::vector<std::unique_ptr<Node>> nodes = MakeNodes(root.path(), {"waihai", "guzhen"});
  REQUIRE(nodes.size() == 2);
  FullMesh(nodes);
  Node& waihai = *nodes[0];
  Node& guzhen = *nodes[1];
  REQUIRE(waihai.Start());
  REQUIRE(guzhen.Start());

  State state = LoadCommuters(SampleFile("commuters.csv"));
  for (Node* node : {&waihai, &guzhen}) {
    std::string file = root / (node->name() + "-rows.csv");
    WriteHomeRows(SampleFile("commuters.csv"), node->name(), file);
    CommandResult r = node->Cli({"import", file});
    INFO(node->name() << ": " << r.err.substr(0, 2000));
    CHECK(r.exit_code == 0);
    CHECK(r.out.find(" rejected=0\n") != std::string::npos);
  }
  auto agree = [&] {
    std::string a = waihai.Export();
    return !a.empty() && a == guzhen.Export();
  };
  // Waihai's changes touch people registered at Guzhen: both must hold both imports first.
  REQUIRE(WaitFor(agree, kConvergeTimeout, 200ms));
  CHECK(waihai.Records() == static_cast<long>(state.size()));

  CommandResult w = waihai.Cli({"apply", SampleFile("changes-waihai.csv")});
  INFO(w.err.substr(0, 2000));
  CHECK(w.exit_code == 0);
  CHECK(w.out.find(" rejected=0\n") != std::string::npos);
  ApplyChanges(SampleFile("changes-waihai.csv"), &state);
  REQUIRE(WaitFor(agree, kConvergeTimeout, 200ms));
  CheckExport(guzhen.Export(), guzhen, state);

  auto started = std::chrono::steady_clock::now();
  CommandResult g = guzhen.Cli({"apply", SampleFile("changes-guzhen.csv")});
  INFO(g.err.substr(0, 2000));
  CHECK(g.exit_code == 0);
  CHECK(g.out.find(" rejected=0\n") != std::string::npos);
  ApplyChanges(SampleFile("changes-guzhen.csv"), &state);
  REQUIRE(WaitFor(agree, kConvergeTimeout, 200ms));
  WARN("converged "
       << std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count()
       << " s after guzhen's changes");

  std::string exported = waihai.Export();
  CHECK(exported == guzhen.Export());
  CheckExport(exported, waihai, state);
  CheckExport(guzhen.Export(), guzhen, state);
  for (Node* node : {&waihai, &guzhen}) CHECK(node->Stop() == 0);
}

TEST_CASE("Quickstart: deploy/quickstart.sh ends with identical exports and the sample counts",
          "[e2e][slow]") {
  TempDir root("e2e-quickstart");
  State state = LoadCommuters(SampleFile("commuters.csv"));
  ApplyChanges(SampleFile("changes-waihai.csv"), &state);
  ApplyChanges(SampleFile("changes-guzhen.csv"), &state);
  Counts want = CountsOf(state);

  std::string workdir = root / "work";
  CommandResult r = Quickstart({"--workdir", workdir, "--port-base", std::to_string(FreePortBase()),
                                "--data", SampleFile("")});
  INFO("stdout:\n" << r.out << "\nstderr:\n" << r.err);
  REQUIRE(r.exit_code == 0);

  std::string out = r.out;
  while (!out.empty() && out.back() == '\n') out.pop_back();
  std::string last = out.substr(out.rfind('\n') + 1);
  google::protobuf::Struct json = ParseJson(last);
  CHECK(json.fields().at("identical").bool_value());
  CHECK(json.fields().at("converge_s").number_value() >= 0);
  for (const char* name : {"waihai", "guzhen"}) {
    INFO("node " << name);
    const auto& f = json.fields().at(name).struct_value().fields();
    CHECK(f.at("records").number_value() == want.records);
    CHECK(f.at("white").number_value() == want.white);
    CHECK(f.at("grey").number_value() == want.grey);
    CHECK(f.at("deregistered").number_value() == want.deregistered);
  }
  CHECK(want.records == 10983);

  // The nodes were stopped: no pid files are left and nothing answers.
  CHECK_FALSE(std::ifstream(workdir + "/waihai.pid").good());
  CHECK_FALSE(std::ifstream(workdir + "/guzhen.pid").good());
}

TEST_CASE("Quickstart: --keep-running leaves both nodes up until --stop", "[e2e][slow]") {
  TempDir root("e2e-quickstart-keep");
  std::string workdir = root / "work";
  int base = FreePortBase();
  CommandResult r = Quickstart({"--workdir", workdir, "--port-base", std::to_string(base), "--data",
                                SampleFile(""), "--keep-running"});
  INFO("stdout:\n" << r.out << "\nstderr:\n" << r.err);
  REQUIRE(r.exit_code == 0);

  std::map<std::string, int> ports = {{"waihai", base + 1}, {"guzhen", base + 2}};
  std::vector<pid_t> pids;
  for (const auto& [name, port] : ports) {
    std::string address = "127.0.0.1:" + std::to_string(port);
    std::string ca = workdir + "/" + name + "/tls/ca.crt";
    std::string token = workdir + "/" + name + "/operator.token";
    std::string env = ReadFile(workdir + "/" + name + ".env");
    CHECK(env.find("\nexport WLSYNC_NODE=" + address + "\n") != std::string::npos);
    CHECK(env.find("\nexport WLSYNC_CA=" + ca + "\n") != std::string::npos);
    CHECK(env.find("\nexport WLSYNC_TOKEN_FILE=" + token + "\n") != std::string::npos);
    SetCliEnv(address, "WLSYNC_CA", ca);
    SetCliEnv(address, "WLSYNC_TOKEN_FILE", token);
    pids.push_back(std::stoi(ReadFile(workdir + "/" + name + ".pid")));
    CommandResult status = Cli({"--node", address, "--token-file", token, "status"});
    CHECK(status.exit_code == 0);
    CHECK(status.out.rfind("node        " + name + " ", 0) == 0);
  }

  CommandResult stop = Quickstart({"--stop", "--workdir", workdir});
  INFO("stop stderr:\n" << stop.err);
  CHECK(stop.exit_code == 0);
  for (pid_t pid : pids) {
    // Gone, or a zombie awaiting its (re)parent: either way no longer serving.
    std::string state = ReadFile("/proc/" + std::to_string(pid) + "/stat");
    CHECK((state.empty() || state.find(") Z ") != std::string::npos));
  }
  for (const auto& [name, port] : ports) {
    CHECK(Cli({"--node", "127.0.0.1:" + std::to_string(port), "status"}).exit_code == 1);
    CHECK_FALSE(std::ifstream(workdir + "/" + name + ".pid").good());
  }
}

}  // namespace
}  // namespace wlsync::testing
