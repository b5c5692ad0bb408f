// `wlsync query`: flow-tracing searches, printed as an aligned table or JSON lines.
#include <cstdio>
#include <string>
#include <unordered_map>

#include "base/strings.h"
#include "cli/client.h"
#include "cli/commands.h"
#include "cli/output.h"
#include "model/fields.h"
#include "wlsync/v1/query.grpc.pb.h"

namespace wlsync::cli {
namespace {

// Terminal columns a UTF-8 string takes: CJK and full-width characters take two.
size_t DisplayWidth(std::string_view s) {
  size_t width = 0;
  for (size_t i = 0; i < s.size();) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    size_t len = c < 0x80 ? 1 : c < 0xe0 ? 2 : c < 0xf0 ? 3 : 4;
    width += len >= 3 ? 2 : 1;
    i += len;
  }
  return width;
}

constexpr std::string_view kColumns[] = {"pid",  "name",      "id_doc",           "phone",
                                         "residence_grid", "workplace", "list",
                                         "last_test_result", "last_test_date", "status"};

std::string Cell(const v1::Person& p, std::string_view column) {
  if (column == "pid") return p.pid();
  const std::string* v = model::GetField(p.fields(), column);
  return v == nullptr ? "" : *v;
}

void PrintTable(const std::vector<v1::Person>& people) {
  std::vector<size_t> widths;
  for (std::string_view c : kColumns) widths.push_back(c.size());
  for (const v1::Person& p : people) {
    for (size_t i = 0; i < std::size(kColumns); ++i) {
      widths[i] = std::max(widths[i], DisplayWidth(Cell(p, kColumns[i])));
    }
  }
  auto row = [&](auto cell_of) {
    std::string line;
    for (size_t i = 0; i < std::size(kColumns); ++i) {
      std::string cell = cell_of(i);
      line += cell;
      if (i + 1 < std::size(kColumns)) line.append(widths[i] - DisplayWidth(cell) + 2, ' ');
    }
    std::printf("%s\n", line.c_str());
  };
  row([&](size_t i) { return std::string(kColumns[i]); });
  for (const v1::Person& p : people) row([&](size_t i) { return Cell(p, kColumns[i]); });
}

}  // namespace

int RunQuery(const std::string& node, const QueryArgs& args) {
  v1::SearchRequest request;
  *request.mutable_filter() = args.filter;
  request.set_case_id(args.case_id);
  request.set_page_token(args.page_token);
  auto stub = v1::Query::NewStub(ChannelTo(node));

  // Pages are fetched until `limit` people are printed or the results end. They read one
  // view of the records, unless the node dropped it (query::ViewLimits): then a person edited
  // meanwhile can come again on a later page, and is printed once, as last returned.
  std::vector<v1::Person> people;
  std::unordered_map<std::string, size_t> position;  // pid -> index in people
  std::string next;
  bool masked = false;
  std::string index;
  do {
    request.set_limit(std::min(args.limit - static_cast<int>(people.size()), 1000));
    v1::SearchResponse response;
    grpc::ClientContext context;
    grpc::Status status = stub->Search(&context, request, &response);
    if (!status.ok()) return ReportRpcError("query", status);
    for (v1::Person& p : *response.mutable_people()) {
      auto [at, added] = position.try_emplace(p.pid(), people.size());
      if (added) {
        people.push_back(std::move(p));
      } else {
        people[at->second] = std::move(p);
      }
    }
    next = response.next_page_token();
    masked = response.masked();
    index = response.index();
    request.set_page_token(next);
  } while (!next.empty() && people.size() < static_cast<size_t>(args.limit));

  if (args.json) {
    for (const v1::Person& p : people) {
      std::printf("%s\n", PersonJson(p, /*tombstone_only=*/false).c_str());
    }
  } else {
    PrintTable(people);
  }
  std::fprintf(stderr, "%zu people (index %s%s)\n", people.size(), index.c_str(),
               masked ? "; phones and identity numbers masked: give --case ID to see them" : "");
  if (!next.empty()) std::fprintf(stderr, "more: --page-token %s\n", next.c_str());
  return kExitOk;
}

}  // namespace wlsync::cli
