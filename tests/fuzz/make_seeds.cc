// Writes the seed corpora of the delta and CSV targets (the config seeds are plain files):
//   build-fuzz/bin/fuzz_seeds tests/fuzz/corpus
// Deltas are made by a test node "guzhen" from people of deploy/sample (synthetic data) and
// signed with the fixed test keys of fuzz_support.h; CSV seeds are snippets of the sample
// with the spreadsheet quirks of its README. Regenerating gives new epochs and signatures
// (each store starts a random epoch), so commit the result only when the format changed.
#include <iconv.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "base/logging.h"
#include "base/strings.h"
#include "model/csv.h"
#include "model/fields.h"
#include "model/validate.h"
#include "tests/fuzz/fuzz_node.h"
#include "wlsync/v1/delta.pb.h"

namespace wlsync::fuzz {
namespace {

namespace fs = std::filesystem;

constexpr std::string_view kSeparator = "\n--8<--\n";  // as in delta_fuzzer.cc
constexpr char kRaw = 0, kBody = 1, kRepair = 2;       // delta_fuzzer.cc modes

void WriteSeed(const fs::path& dir, const std::string& name, const std::string& bytes) {
  fs::create_directories(dir);
  std::ofstream out(dir / name, std::ios::binary | std::ios::trunc);
  out << bytes;
  WLSYNC_FUZZ_CHECK(out.good(), "cannot write " + (dir / name).string());
}

std::string Join(char mode, const std::vector<std::string>& pieces) {
  std::string out(1, mode);
  for (size_t i = 0; i < pieces.size(); ++i) {
    if (i > 0) out.append(kSeparator);
    out.append(pieces[i]);
  }
  return out;
}

std::vector<std::string> SampleLines(const std::string& file) {
  std::ifstream in(std::string(WLSYNC_SOURCE_DIR "/deploy/sample/") + file);
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  WLSYNC_FUZZ_CHECK(lines.size() > 50, "deploy/sample/" + file + " is missing");
  return lines;
}

// The first `n` people of the sample whose home is `home`, as PersonFields.
std::vector<v1::PersonFields> SamplePeople(const std::string& home, size_t n) {
  std::vector<std::string> lines = SampleLines("commuters.csv");
  std::string text;
  for (const std::string& line : lines) text += line + "\n";
  auto reader = model::CsvReader::FromString(text, model::Encoding::kUtf8);
  WLSYNC_FUZZ_CHECK(reader.ok(), reader.status().message());
  model::CsvRow row;
  (void)(*reader)->Next(&row);  // header
  std::vector<v1::PersonFields> people;
  while (people.size() < n && *(*reader)->Next(&row)) {
    v1::PersonFields p;
    for (size_t c = 0; c < model::DataColumns().size(); ++c) {
      *model::MutableField(&p, model::DataColumns()[c]) = row.cells[c];
    }
    if (p.home() == home) people.push_back(p);
  }
  return people;
}

std::string PidOf(const FuzzNode& node, const v1::PersonFields& p) {
  absl::StatusOr<std::string> pid = node.planner().PidOf(p.id_doc());
  WLSYNC_FUZZ_CHECK(pid.ok(), pid.status().message());
  return *pid;
}

void Write(FuzzNode& node, sync::LocalWrite w) {
  std::vector<sync::LocalWrite> writes;
  writes.push_back(std::move(w));
  for (const sync::LocalResult& r : node.writer().WriteLocal(std::move(writes))) {
    WLSYNC_FUZZ_CHECK(r.status.ok(), r.status.message());
  }
}

sync::LocalWrite Edit(std::string pid, std::vector<model::FieldEdit> edits) {
  sync::LocalWrite w;
  w.kind = sync::LocalWrite::Kind::kUpdate;
  w.pid = std::move(pid);
  w.edits = std::move(edits);
  return w;
}

v1::Event* AddEvent(v1::DeltaBody* body, const std::string& pid, v1::Group group, uint64_t hlc,
                    const std::string& node) {
  v1::Event* e = body->add_events();
  e->set_pid(pid);
  e->set_group(group);
  e->mutable_stamp()->set_hlc(hlc);
  e->mutable_stamp()->set_node(node);
  return e;
}

void MakeDeltaSeeds(const fs::path& dir) {
  FuzzNode guzhen("guzhen");
  std::vector<v1::PersonFields> people = SamplePeople("guzhen", 3);
  people.push_back(SamplePeople("waihai", 1).front());

  std::vector<sync::LocalWrite> registrations;
  for (v1::PersonFields p : people) {
    sync::LocalWrite w;
    absl::StatusOr<std::string> pid = guzhen.planner().PrepareUpsert(&p);
    WLSYNC_FUZZ_CHECK(pid.ok(), pid.status().message());
    w.pid = *pid;
    w.fields = p;
    registrations.push_back(std::move(w));
  }
  for (const sync::LocalResult& r : guzhen.writer().WriteLocal(std::move(registrations))) {
    WLSYNC_FUZZ_CHECK(r.status.ok(), r.status.message());
  }
  std::string a = PidOf(guzhen, people[0]), b = PidOf(guzhen, people[1]);
  Write(guzhen, Edit(a, {{"phone", "13900000001"}}));
  Write(guzhen, Edit(b, {{"list", "GREY"}, {"list_reason", "MISSED_TESTS"}}));
  sync::LocalWrite deregister;
  deregister.kind = sync::LocalWrite::Kind::kDeregister;
  deregister.pid = a;
  Write(guzhen, std::move(deregister));

  auto log = guzhen.store().ReadLog(guzhen.writer().own_stream(), 0, 100);
  WLSYNC_FUZZ_CHECK(log.ok() && log->size() == 4, "expected four deltas");
  std::vector<std::string> envelopes, bodies;
  for (const auto& [seq, bytes] : *log) {
    v1::SignedDelta envelope;
    WLSYNC_FUZZ_CHECK(envelope.ParseFromString(bytes), "log entry does not parse");
    envelopes.push_back(bytes);
    bodies.push_back(envelope.body());
  }
  for (size_t i = 0; i < envelopes.size(); ++i) {
    WriteSeed(dir, base::StrCat("raw-", i + 1), Join(kRaw, {envelopes[i]}));
    WriteSeed(dir, base::StrCat("body-", i + 1), Join(kBody, {bodies[i]}));
  }
  WriteSeed(dir, "raw-stream", Join(kRaw, envelopes));
  WriteSeed(dir, "stream", Join(kBody, bodies));
  WriteSeed(dir, "repair", Join(kRepair, bodies));
  WriteSeed(dir, "replay", Join(kBody, {bodies[0], bodies[0]}));

  v1::DeltaBody first;
  first.ParseFromString(bodies[0]);
  v1::DeltaBody other = first;
  other.set_created_unix_ms(first.created_unix_ms() + 1);
  WriteSeed(dir, "fork", Join(kBody, {bodies[0], other.SerializeAsString()}));

  // A delta from "third" that breaks the rules: the policy (identity and deregistration of
  // guzhen's people), and each structural check on events. Every event is quarantined.
  v1::DeltaBody third;
  third.set_origin("third");
  third.set_origin_epoch(std::string(16, '\x33'));
  third.set_seq(1);
  uint64_t hlc = first.max_hlc() + 1;
  third.set_max_hlc(hlc + 10);
  third.set_created_unix_ms(kFixedNowMs);
  AddEvent(&third, b, v1::STATUS, hlc, "third")->mutable_value()->set_status("DEREGISTERED");
  AddEvent(&third, b, v1::IDENTITY, hlc + 1, "third")->mutable_value()->set_name("测试");
  AddEvent(&third, "not-a-pid", v1::CONTACT, hlc + 2, "third");
  AddEvent(&third, b, static_cast<v1::Group>(42), hlc + 3, "third");
  AddEvent(&third, b, v1::CONTACT, hlc + 99, "third");
  AddEvent(&third, b, v1::CONTACT, hlc + 4, "guzhen");
  WriteSeed(dir, "policy", Join(kBody, {bodies[0], third.SerializeAsString()}));

  // A string that is not UTF-8: protobuf refuses to parse the whole body.
  v1::DeltaBody bad_text = third;
  bad_text.clear_events();
  AddEvent(&bad_text, b, v1::WORK, hlc, "third")->mutable_value()->set_workplace("\xC0\xAF");
  WriteSeed(dir, "not-utf8", Join(kBody, {bad_text.SerializeAsString()}));

  // Far ahead of the receiver's clock: held back.
  v1::DeltaBody ahead = third;
  ahead.clear_events();
  ahead.set_max_hlc(model::HlcPack(kFixedNowMs + 3'600'000, 0));
  AddEvent(&ahead, b, v1::CONTACT, ahead.max_hlc(), "third")
      ->mutable_value()
      ->set_phone("13900000002");
  WriteSeed(dir, "ahead", Join(kBody, {ahead.SerializeAsString()}));
}

std::string ToGb18030(const std::string& utf8) {
  iconv_t cd = iconv_open("GB18030", "UTF-8");
  WLSYNC_FUZZ_CHECK(cd != reinterpret_cast<iconv_t>(-1), "no GB18030 in iconv");
  std::string out(utf8.size() * 2 + 16, '\0');
  char* in = const_cast<char*>(utf8.data());
  size_t in_left = utf8.size();
  char* o = out.data();
  size_t out_left = out.size();
  WLSYNC_FUZZ_CHECK(iconv(cd, &in, &in_left, &o, &out_left) != static_cast<size_t>(-1),
                    "iconv to GB18030 failed");
  iconv_close(cd);
  out.resize(out.size() - out_left);
  return out;
}

std::vector<std::string> Cells(const std::string& line) {
  std::vector<std::string> cells;
  std::stringstream in(line);
  for (std::string cell; std::getline(in, cell, ',');) cells.push_back(cell);
  if (!line.empty() && line.back() == ',') cells.emplace_back();
  return cells;
}

std::string Line(const std::vector<std::string>& cells) {
  std::string out;
  for (size_t i = 0; i < cells.size(); ++i) out += (i > 0 ? "," : "") + cells[i];
  return out;
}

void MakeCsvSeeds(const fs::path& dir) {
  std::vector<std::string> lines = SampleLines("commuters.csv");
  std::string commuters;
  for (size_t i = 0; i <= 8; ++i) commuters += lines[i] + "\n";
  WriteSeed(dir, "commuters", std::string(1, '\0') + commuters);

  // The quirks of deploy/sample/README.md, with a BOM and CRLF line ends: good rows first,
  // then rows the node refuses. Column 0 is id_doc, 2 phone, 4 residence_address,
  // 5 residence_grid, 9 list.
  std::vector<std::vector<std::string>> rows;
  for (size_t i = 1; i <= 10; ++i) rows.push_back(Cells(lines[i]));
  rows[1] = Cells(lines[20]);
  rows[1][0].back() = 'x';                // lowercase check digit
  rows[2][0] = "  " + rows[2][0] + "\t";  // padded cells
  rows[2][9] = " " + rows[2][9] + " ";
  rows[3][4] = "\"" + rows[3][4] + ", 后座\"";               // a quoted comma
  rows[4][4] = "\"" + rows[4][4] + "\r\n二楼\"";             // a quoted line break (refused)
  rows[5][0].back() = rows[5][0].back() == '0' ? '1' : '0';  // bad check digit
  rows[6][2] = "12345";                                      // impossible phone
  rows[7][5] = "WH-NOWHERE-99";                              // unknown grid
  rows[8].push_back("extra");                                // a cell too many
  rows[9][1] = "\"" + rows[9][1] + "\"tail";                 // text after a closing quote
  std::string quirky = "\xEF\xBB\xBF" + lines[0] + "\r\n";
  for (size_t i = 0; i < rows.size(); ++i) {
    quirky += Line(rows[i]) + "\r\n";
    if (i == 3) quirky += "\r\n";  // a blank line
  }
  WriteSeed(dir, "quirks", std::string(1, '\0') + quirky);
  WriteSeed(dir, "quirks-chunked", std::string(1, static_cast<char>(3 << 2)) + quirky);

  std::vector<std::string> changes = SampleLines("changes-guzhen.csv");
  std::string edits;
  for (size_t i = 0; i <= 12; ++i) edits += changes[i] + "\n";
  edits += changes[22] + "\n";  // a deregistration
  edits += "set,442000198012022929,id_doc,1\nset,442000198012022929,nope,x\nmove,1,,\n";
  WriteSeed(dir, "changes", std::string(1, '\1') + edits);

  std::string gb = ToGb18030(commuters);
  WriteSeed(dir, "gb18030", std::string(1, '\2') + gb);
  WriteSeed(dir, "gb18030-chunked", std::string(1, static_cast<char>((5 << 2) | 2)) + gb);
}

}  // namespace
}  // namespace wlsync::fuzz

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s CORPUS_DIR (writes CORPUS_DIR/delta and CORPUS_DIR/csv)\n",
                 argv[0]);
    return 2;
  }
  wlsync::base::ConfigureLogging(wlsync::base::LogFormat::kText, "off");
  std::filesystem::path out(argv[1]);
  wlsync::fuzz::MakeDeltaSeeds(out / "delta");
  wlsync::fuzz::MakeCsvSeeds(out / "csv");
  return 0;
}
