// Tests of the operator CLI against one real wlsyncd: the sample import and its changes
// checked against a state computed here from the CSVs, exit codes, refusal of malformed rows,
// spreadsheet quirks, GB18030 input, and the get/set/deregister rules. Each TEST_CASE starts
// its own node in a temporary directory on a free loopback port.
#include <google/protobuf/struct.pb.h>
#include <google/protobuf/util/json_util.h>
#include <iconv.h>

#include <catch2/catch.hpp>
#include <cstring>
#include <filesystem>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "model/csv.h"
#include "model/validate.h"
#include "tests/support/cluster.h"
#include "tests/support/expected_state.h"

namespace wlsync::testing {
namespace {


// Status counts as numbers (protobuf JSON prints 64-bit integers as strings).
std::map<std::string, long> StatusCounts(const Node& node) {
  CommandResult r = node.Cli({"status", "--json"});
  REQUIRE(r.exit_code == 0);
  google::protobuf::Struct s;
  REQUIRE(google::protobuf::util::JsonStringToMessage(r.out, &s).ok());
  std::map<std::string, long> out;
  for (const auto& [k, v] : s.fields().at("counts").struct_value().fields()) {
    out[k] = std::stol(v.string_value().empty() ? "0" : v.string_value());
  }
  return out;
}

// ---- small inline data --------------------------------------------------------------------

// The 13 columns of commuters.csv, in file order.
std::vector<std::string> Columns() {
  return {model::DataColumns().begin(), model::DataColumns().end()};
}
const std::vector<std::string> kColumns = Columns();

std::string Header() {
  std::string out;
  for (const std::string& c : kColumns) out += (out.empty() ? "" : ",") + c;
  return out;
}

// A valid identity number: region 440704, a birth date, sequence `seq` and its check digit.
std::string IdDoc(int seq, const std::string& birth = "19900101") {
  std::string digits = std::to_string(1000 + seq % 1000).substr(1);
  std::string first17 = "440704" + birth + digits;
  return first17 + model::IdDocCheckChar(first17);
}

// The first identity number from `seq` on whose check digit is X.
std::string IdDocEndingInX(int seq) {
  for (;; ++seq) {
    std::string id = IdDoc(seq, "19851231");
    if (id.back() == 'X') return id;
  }
}

// A valid synthetic person; override columns as needed.
Fields Person(int seq, const std::string& home = "waihai") {
  return {{"id_doc", IdDoc(seq)},
          {"name", "测试" + std::to_string(seq)},
          {"phone", "138000" + std::to_string(10000 + seq)},
          {"home", home},
          {"residence_address", "直冲村北巷" + std::to_string(seq) + "号"},
          {"residence_grid", home == "waihai" ? "WH-ZHICHONG-08" : "GZ-CAOER-01"},
          {"workplace", "曹步五金厂"},
          {"work_grid", "GZ-GUYI-02"},
          {"category", "COMMUTER"},
          {"list", "WHITE"},
          {"list_reason", ""},
          {"last_test_date", "2022-11-26"},
          {"last_test_result", "NEGATIVE"}};
}

std::string Line(const Fields& f) {
  std::string out;
  for (const std::string& c : kColumns) out += (out.empty() ? "" : ",") + f.at(c);
  return out;
}

std::string Csv(const std::vector<Fields>& people) {
  std::string out = Header() + "\n";
  for (const Fields& p : people) out += Line(p) + "\n";
  return out;
}

// Starts a single node named `name` under `root`.
std::unique_ptr<Node> StartNode(const TempDir& root, const std::string& name = "waihai") {
  std::vector<std::unique_ptr<Node>> nodes = MakeNodes(root.path(), {name});
  REQUIRE(nodes.size() == 1);
  REQUIRE(nodes[0]->Start());
  return std::move(nodes[0]);
}

Fields Get(const Node& node, const std::string& who) {
  CommandResult r = node.Cli({"get", who});
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  return ParseJsonObject(r.out);
}

std::string Summary(long imported, long updated, long unchanged, long rejected) {
  return "imported=" + std::to_string(imported) + " updated=" + std::to_string(updated) +
         " unchanged=" + std::to_string(unchanged) + " rejected=" + std::to_string(rejected) + "\n";
}

// UTF-8 text converted to GB18030 with iconv(3).
std::string ToGb18030(const std::string& utf8) {
  iconv_t cd = iconv_open("GB18030", "UTF-8");
  REQUIRE(cd != reinterpret_cast<iconv_t>(-1));
  std::string in = utf8;
  std::string out(in.size() * 2 + 16, '\0');
  char* src = in.data();
  char* dst = out.data();
  size_t src_left = in.size(), dst_left = out.size();
  size_t rc = iconv(cd, &src, &src_left, &dst, &dst_left);
  iconv_close(cd);
  REQUIRE(rc != static_cast<size_t>(-1));
  out.resize(out.size() - dst_left);
  return out;
}

// ---- the sample ---------------------------------------------------------------------------

TEST_CASE("CLI: the sample imports, re-imports unchanged, and changes give the computed state",
          "[cli]") {
  TempDir root("cli-sample");
  std::unique_ptr<Node> node = StartNode(root);
  State state = LoadCommuters(SampleFile("commuters.csv"));
  REQUIRE(state.size() == 10983);

  CommandResult first = node->Cli({"import", SampleFile("commuters.csv")});
  INFO(first.err.substr(0, 2000));
  CHECK(first.exit_code == 0);
  CHECK(first.out == Summary(10983, 0, 0, 0));
  CHECK(first.err.empty());
  CHECK(node->Records() == 10983);

  CommandResult again = node->Cli({"import", SampleFile("commuters.csv")});
  CHECK(again.exit_code == 0);
  CHECK(again.out == Summary(0, 0, 10983, 0));
  CheckExport(node->Export(), *node, state);

  CommandResult apply = node->Cli({"apply", SampleFile("changes-waihai.csv")});
  INFO(apply.err.substr(0, 2000));
  CHECK(apply.exit_code == 0);
  CHECK(apply.out.find(" rejected=0\n") != std::string::npos);
  ApplyChanges(SampleFile("changes-waihai.csv"), &state);
  CheckExport(node->Export(), *node, state);

  long white = 0, grey = 0, deregistered = 0;
  for (const auto& [id, e] : state) {
    if (e.deregistered) {
      ++deregistered;
    } else {
      ++(e.fields.at("list") == "WHITE" ? white : grey);
    }
  }
  std::map<std::string, long> counts = StatusCounts(*node);
  CHECK(counts["records"] == 10983);
  CHECK(counts["registered_white"] == white);
  CHECK(counts["registered_grey"] == grey);
  CHECK(counts["deregistered"] == deregistered);
}

// ---- exit codes ---------------------------------------------------------------------------

TEST_CASE("CLI: exit codes are 0 ok, 1 failure, 2 usage, 3 some rows refused", "[cli]") {
  TempDir root("cli-exit");

  SECTION("usage errors exit 2") {
    CommandResult no_node = Cli({"status", "--json"});
    CHECK(no_node.exit_code == 2);
    CHECK(no_node.err.find("--node") != std::string::npos);
    CHECK(Cli({"--node", "127.0.0.1:1", "frobnicate"}).exit_code == 2);
    CHECK(Cli({"--node", "127.0.0.1:1", "set", IdDoc(1), "phone"}).exit_code == 2);
    CHECK(Cli({"--node", "127.0.0.1:1", "export", "--format", "xml"}).exit_code == 2);
  }

  SECTION("a node address that cannot be right is refused, saying why") {
    const std::string wlsync = std::string(WLSYNC_BIN_DIR) + "/wlsync";
    // Given but empty: refused, not replaced by the environment's node.
    CommandResult empty = Run({wlsync, "--node", "", "status"}, {{"WLSYNC_NODE", "127.0.0.1:1"}});
    CHECK(empty.exit_code == 2);
    CHECK(empty.err.find("--node is empty") != std::string::npos);
    // `--node=` with nothing after '=' does not take the next argument as its value.
    for (const char* form : {"--node=", "--token-file=", "--ca="}) {
      CommandResult eq = Run({wlsync, form, "127.0.0.1:1", "status"}, {});
      CHECK(eq.exit_code == 2);
      CHECK(eq.err.find(std::string(form, std::strlen(form) - 1) + " is empty") !=
            std::string::npos);
    }
    CommandResult empty_token = Cli({"--node", "127.0.0.1:1", "--token-file", "", "status"});
    CHECK(empty_token.exit_code == 2);
    CHECK(empty_token.err.find("--token-file is empty") != std::string::npos);
    const std::vector<std::pair<std::string, std::string>> bad = {
        {"::1:7401", "IPv6 address goes in brackets"},
        {"[::1:7401", "bracketed host"},
        {":7401", "no host"},
        {"127.0.0.1", "no :PORT"},
        {"127.0.0.1:0", "port must be from 1 to 65535"},
        {"127.0.0.1:65536", "port must be from 1 to 65535"},
        {"127.0.0.1:123456", "port must be from 1 to 65535"},
        {"127.0.0.1:07401", "no leading zero"},
        {"127.0.0.1:7401x", "digits only"},
        {"127.0.0.1: 7401", "digits only"},
        {"127.0.0.1:", "no port after"},
        {"[fe80::1%lo]:7401", "zone id"},
        {"[::1]:7401/x", "no scheme or path"},
        {"[127.0.0.1]:7401", "bracketed host is one IPv6 address"},
        {"[localhost]:7401", "bracketed host is one IPv6 address"},
        {"dns:///127.0.0.1:7401", "no scheme"},
        {"\t127.0.0.1:7401", "letters, digits"},
        {"127.0.0.1\n:7401", "letters, digits"},
        {"user@127.0.0.1:7401", "letters, digits"},
        {"a\"b:7401", "letters, digits"},
    };
    for (const auto& [address, why] : bad) {
      INFO(address);
      CommandResult r = Cli({"--node", address, "status"});
      CHECK(r.exit_code == 2);
      CHECK(r.err.find(why) != std::string::npos);
    }
    // init writes the address into config.toml: refused before anything is written.
    CommandResult init = Cli(
        {"init", root / "quoted", "--name", "waihai", "--listen", "x\"\ninsecure = true\n#:7401"});
    CHECK(init.exit_code == 2);
    CHECK(init.err.find("--listen must be HOST:PORT") != std::string::npos);
    CHECK_FALSE(std::filesystem::exists(root / "quoted/config.toml"));
    CommandResult no_metrics = Cli({"init", root / "nometrics", "--name", "waihai", "--listen",
                                    "127.0.0.1:7401", "--metrics-listen", ""});
    CHECK(no_metrics.exit_code == 2);
    CHECK(no_metrics.err.find("--metrics-listen is empty") != std::string::npos);
    CommandResult from_env = Run({wlsync, "status"}, {{"WLSYNC_NODE", "::1:7401"}});
    CHECK(from_env.exit_code == 2);
    CHECK(from_env.err.find("WLSYNC_NODE must be HOST:PORT") != std::string::npos);
  }

  SECTION("an unreachable node exits 1") {
    std::string nobody = "127.0.0.1:" + std::to_string(FreePort());
    CommandResult r = Cli({"--node", nobody, "status"});
    CHECK(r.exit_code == 1);
    CHECK(r.err.find("UNAVAILABLE") != std::string::npos);
    WriteFile(root / "one.csv", Csv({Person(1)}));
    CHECK(Cli({"--node", nobody, "import", root / "one.csv"}).exit_code == 1);
  }

  SECTION("refused rows exit 3, a missing file 1") {
    std::unique_ptr<Node> node = StartNode(root);
    Fields bad = Person(2);
    bad["phone"] = "12345";
    WriteFile(root / "mixed.csv", Csv({Person(1), bad}));
    CommandResult r = node->Cli({"import", root / "mixed.csv"});
    CHECK(r.exit_code == 3);
    CHECK(r.out == Summary(1, 0, 0, 1));
    CHECK(node->Cli({"import", root / "no-such-file.csv"}).exit_code == 1);
    CHECK(node->Records() == 1);
  }
}

// ---- malformed rows and quirks ------------------------------------------------------------

TEST_CASE("CLI: each malformed row is refused by line and field while good rows import", "[cli]") {
  TempDir root("cli-malformed");
  std::unique_ptr<Node> node = StartNode(root);

  Fields bad_check = Person(3);
  std::string& id = bad_check["id_doc"];
  id.back() = id.back() == '0' ? '1' : '0';  // any other check character is wrong
  Fields bad_phone = Person(5);
  bad_phone["phone"] = "10012345678";  // mobile numbers start 13-19
  Fields bad_grid = Person(7);
  bad_grid["residence_grid"] = "WH-NOWHERE-99";
  Fields duplicate = Person(1);
  duplicate["phone"] = "13912345678";

  // Line 1 is the header: good rows are lines 2, 4, 6, 8; refused ones 3, 5, 7, 9.
  WriteFile(root / "rows.csv", Csv({Person(1), bad_check, Person(4), bad_phone, Person(6), bad_grid,
                                    Person(8), duplicate}));
  CommandResult r = node->Cli({"import", root / "rows.csv"});
  INFO(r.err);
  CHECK(r.exit_code == 3);
  CHECK(r.out == Summary(4, 0, 0, 4));
  CHECK(r.err.find("line 3: id_doc: ") != std::string::npos);
  CHECK(r.err.find("check") != std::string::npos);
  CHECK(r.err.find("line 5: phone: ") != std::string::npos);
  CHECK(r.err.find("line 7: residence_grid: unknown grid") != std::string::npos);
  CHECK(r.err.find("line 9: id_doc: duplicated person") != std::string::npos);
  CHECK(r.err.find("line 2:") == std::string::npos);
  // Refusals name the field and rule, never the value.
  CHECK(r.err.find("10012345678") == std::string::npos);
  CHECK(r.err.find("WH-NOWHERE-99") == std::string::npos);

  CHECK(node->Records() == 4);
  for (int seq : {1, 4, 6, 8}) CHECK(Get(*node, IdDoc(seq)).at("status") == "REGISTERED");
  CHECK(Get(*node, IdDoc(1)).at("phone") == Person(1).at("phone"));  // the first row won
  for (int seq : {5, 7}) CHECK(node->Cli({"get", IdDoc(seq)}).exit_code == 1);
}

// The CSV reader skips a record with characters after a closing quote and reads on; the
// import refuses that row like any bad one instead of stopping there.
TEST_CASE("CLI: a row with characters after a closing quote is refused alone", "[cli]") {
  TempDir root("cli-after-quote");
  std::unique_ptr<Node> node = StartNode(root);
  auto data_line = [](const Fields& person) {
    std::string csv = Csv({person});
    return csv.substr(csv.find('\n') + 1);
  };
  // Line 3 quotes the name and runs on after the closing quote.
  std::string bad = data_line(Person(32));
  size_t a = bad.find(',');
  size_t b = bad.find(',', a + 1);
  bad = bad.substr(0, a + 1) + "\"" + bad.substr(a + 1, b - a - 1) + "\"tail" + bad.substr(b);
  WriteFile(root / "rows.csv", Csv({Person(31)}) + bad + data_line(Person(33)));

  CommandResult r = node->Cli({"import", root / "rows.csv"});
  INFO(r.err);
  CHECK(r.exit_code == 3);
  CHECK(r.out == Summary(2, 0, 0, 1));
  CHECK(r.err == "line 3: characters after a closing quote\n");
  CHECK(node->Records() == 2);
  CHECK(Get(*node, IdDoc(33)).at("status") == "REGISTERED");
  CHECK(node->Cli({"get", IdDoc(32)}).exit_code == 1);
}

TEST_CASE("CLI: spreadsheet quirks are accepted", "[cli]") {
  TempDir root("cli-quirks");
  std::unique_ptr<Node> node = StartNode(root);

  Fields plain = Person(11);
  Fields spaced = Person(12);
  Fields quoted = Person(13);
  Fields lower_x = Person(14);
  lower_x["id_doc"] = IdDocEndingInX(100);

  std::string text = "\xEF\xBB\xBF" + Header() + "\r\n" + Line(plain) + "\r\n";
  std::string spaced_line;
  for (const std::string& c : kColumns) {
    spaced_line += (spaced_line.empty() ? "" : ",") + ("  " + spaced.at(c) + " \t");
  }
  text += spaced_line + "\r\n";
  quoted["residence_address"] = "直冲村北巷13号, 2楼";
  quoted["workplace"] = "曹步五金厂 \"东厂\"";
  Fields q = quoted;
  q["residence_address"] = "\"" + q["residence_address"] + "\"";
  q["workplace"] = "\"曹步五金厂 \"\"东厂\"\"\"";
  q["name"] = "\"" + q["name"] + "\"";
  text += Line(q) + "\r\n";
  Fields lx = lower_x;
  lx["id_doc"].back() = 'x';
  text += Line(lx) + "\r\n";
  WriteFile(root / "quirks.csv", text);

  CommandResult r = node->Cli({"import", root / "quirks.csv"});
  INFO(r.err);
  CHECK(r.exit_code == 0);
  CHECK(r.out == Summary(4, 0, 0, 0));

  for (const Fields* want : {&plain, &spaced, &quoted, &lower_x}) {
    Fields got = Get(*node, want->at("id_doc"));
    for (const std::string& c : kColumns) {
      INFO("column " << c);
      CHECK(got.at(c) == want->at(c));
    }
  }
  CHECK(Get(*node, lx["id_doc"]).at("id_doc") == lower_x["id_doc"]);  // lowercase x finds it
}

TEST_CASE("CLI: a GB18030 file imports with --encoding gb18030 and only with it", "[cli]") {
  TempDir root("cli-gb18030");
  std::unique_ptr<Node> node = StartNode(root);
  std::vector<Fields> people = {Person(21), Person(22, "guzhen")};
  WriteFile(root / "gb.csv", ToGb18030(Csv(people)));
  REQUIRE(ReadFile(root / "gb.csv") != Csv(people));

  CommandResult refused = node->Cli({"import", root / "gb.csv"});
  CHECK(refused.exit_code == 1);
  CHECK(refused.err.find("GB18030") != std::string::npos);
  CHECK(refused.err.find("UTF-8") != std::string::npos);
  CHECK(refused.err.find("--encoding gb18030") != std::string::npos);
  CHECK(node->Records() == 0);

  // The UTF-8 original is refused as GB18030: it would convert into other characters.
  WriteFile(root / "utf8.csv", Csv(people));
  CommandResult wrong = node->Cli({"import", "--encoding", "gb18030", root / "utf8.csv"});
  CHECK(wrong.exit_code == 1);
  CHECK(wrong.err.find("is UTF-8, not GB18030 (its ") != std::string::npos);
  CHECK(node->Records() == 0);

  CommandResult ok = node->Cli({"import", "--encoding", "gb18030", root / "gb.csv"});
  INFO(ok.err);
  CHECK(ok.exit_code == 0);
  CHECK(ok.out == Summary(2, 0, 0, 0));
  for (const Fields& p : people) {
    Fields got = Get(*node, p.at("id_doc"));
    CHECK(got.at("name") == p.at("name"));
    CHECK(got.at("residence_address") == p.at("residence_address"));
  }
}

// ---- single-person commands ---------------------------------------------------------------

TEST_CASE("CLI: get, set and deregister follow the ownership and status rules", "[cli]") {
  TempDir root("cli-edit");
  std::unique_ptr<Node> node = StartNode(root, "waihai");
  Fields local = Person(31, "waihai");
  Fields foreign = Person(32, "guzhen");
  WriteFile(root / "two.csv", Csv({local, foreign}));
  REQUIRE(node->Cli({"import", root / "two.csv"}).exit_code == 0);
  const std::string pid = Get(*node, local.at("id_doc")).at("pid");

  SECTION("get by id_doc or pid; an unknown person is NOT_FOUND") {
    Fields by_pid = Get(*node, pid);
    CHECK(by_pid.at("id_doc") == local.at("id_doc"));
    CHECK(by_pid.at("status") == "REGISTERED");
    CommandResult missing = node->Cli({"get", IdDoc(99)});
    CHECK(missing.exit_code == 1);
    CHECK(missing.err.find("NOT_FOUND") != std::string::npos);
  }

  SECTION("set changes one field; setting it again is unchanged") {
    CommandResult r = node->Cli({"set", local.at("id_doc"), "phone", "13700001111"});
    CHECK(r.exit_code == 0);
    CHECK(r.out.find("\"outcome\":\"updated\"") != std::string::npos);
    CHECK(Get(*node, pid).at("phone") == "13700001111");
    CHECK(node->Cli({"set", pid, "phone", "13700001111"}).out.find("\"unchanged\"") !=
          std::string::npos);
  }

  SECTION("an unknown field or a bad value is refused naming the field") {
    CommandResult unknown = node->Cli({"set", pid, "shoe_size", "42"});
    CHECK(unknown.exit_code == 1);
    CHECK(unknown.err.find("INVALID_ARGUMENT") != std::string::npos);
    CHECK(unknown.err.find("field: unknown") != std::string::npos);
    CommandResult phone = node->Cli({"set", pid, "phone", "1234"});
    CHECK(phone.exit_code == 1);
    CHECK(phone.err.find("phone: ") != std::string::npos);
    CHECK(phone.err.find("1234") == std::string::npos);
    CommandResult grid = node->Cli({"set", pid, "work_grid", "GZ-NOWHERE-01"});
    CHECK(grid.exit_code == 1);
    CHECK(grid.err.find("work_grid: unknown grid") != std::string::npos);
    CHECK(Get(*node, pid).at("phone") == local.at("phone"));
  }

  SECTION("only the home jurisdiction changes identity or home, or deregisters") {
    const std::string& other = foreign.at("id_doc");
    CommandResult name = node->Cli({"set", other, "name", "改名"});
    CHECK(name.exit_code == 1);
    CHECK(name.err.find("PERMISSION_DENIED") != std::string::npos);
    CommandResult home = node->Cli({"set", other, "home", "waihai"});
    CHECK(home.exit_code == 1);
    CHECK(home.err.find("PERMISSION_DENIED") != std::string::npos);
    CommandResult dereg = node->Cli({"deregister", other});
    CHECK(dereg.exit_code == 1);
    CHECK(dereg.err.find("PERMISSION_DENIED") != std::string::npos);
    CHECK(Get(*node, other).at("name") == foreign.at("name"));

    // Other groups are anyone's to set.
    CHECK(node->Cli({"set", other, "phone", "13700002222"}).exit_code == 0);
    CHECK(node->Cli({"set", other, "list", "GREY"}).exit_code == 0);
    Fields got = Get(*node, other);
    CHECK(got.at("phone") == "13700002222");
    CHECK(got.at("list") == "GREY");
    CHECK(node->Cli({"set", local.at("id_doc"), "name", "改名"}).exit_code == 0);
  }

  SECTION("a deregistered person cannot be edited") {
    CommandResult r = node->Cli({"deregister", local.at("id_doc")});
    CHECK(r.exit_code == 0);
    CHECK(r.out.find("\"outcome\":\"updated\"") != std::string::npos);
    CHECK(Get(*node, pid).at("status") == "DEREGISTERED");
    CommandResult set = node->Cli({"set", pid, "phone", "13700003333"});
    CHECK(set.exit_code == 1);
    CHECK(set.err.find("FAILED_PRECONDITION") != std::string::npos);
    std::map<std::string, long> counts = StatusCounts(*node);
    CHECK(counts["deregistered"] == 1);
    CHECK(counts["registered_white"] == 1);
  }
}

}  // namespace
}  // namespace wlsync::testing
