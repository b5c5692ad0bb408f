#include "query/engine.h"

#include <catch2/catch.hpp>
#include <functional>
#include <random>
#include <set>
#include <thread>

#include "model/merge.h"
#include "storage/index.h"
#include "tests/sync/fixture.h"

namespace wlsync::query {
namespace {

using sync::testing::Person;
using sync::testing::TestNode;

// The pids of every page of `limit`, calling `between(n)` after the n-th page (from 1).
std::vector<std::string> PagedPids(const QueryEngine& engine, const v1::QueryFilter& f, int limit,
                                   const std::function<void(int)>& between) {
  std::vector<std::string> out;
  std::string token;
  for (int page = 1; page < 10000; ++page) {
    absl::StatusOr<Page> p = engine.Search(f, limit, token);
    REQUIRE(p.ok());
    for (const v1::Record& r : p->records) out.push_back(r.pid());
    token = p->next_page_token;
    if (token.empty()) break;
    between(page);
  }
  return out;
}

struct Fixture {
  model::FederationKey federation = model::FederationKey::Generate();
  model::Grids grids = sync::testing::TestGrids();
  TestNode node{"waihai", federation, grids};
  QueryEngine engine{node.store(),
                     [this](std::string_view id) { return node.planner().PidOf(id); }};

  Fixture() { node.Start(); }

  // Registers people 1..count of waihai and returns their fields.
  std::vector<v1::PersonFields> RegisterWaihai(int count) {
    std::vector<v1::PersonFields> people;
    for (int n = 1; n <= count; ++n) people.push_back(Person(n, "waihai"));
    node.Register(people);
    return people;
  }

  std::string PidOf(int n, const std::string& home = "waihai") {
    return node.planner().PidOf(Person(n, home).id_doc()).value();
  }

  // Every pid the filter finds, following page tokens with pages of `limit`.
  std::vector<std::string> All(const v1::QueryFilter& f, int limit = 100) {
    return PagedPids(engine, f, limit, [](int) {});
  }
};

// The index column family holds exactly the keys its records call for.
void RequireIndexMatchesRecords(storage::Store& store) {
  std::set<std::string> expected;
  std::unique_ptr<storage::RecordCursor> c = store.ScanRecords();
  for (; c->Valid(); c->Next()) {
    for (std::string& k : store.indexer().Keys(c->record().value())) expected.insert(std::move(k));
  }
  std::set<std::string> actual;
  REQUIRE(store.Scan(storage::Table::kIndex, "", "", [&](std::string_view key, std::string_view) {
    actual.insert(std::string(key));
    return true;
  }).ok());
  REQUIRE(actual == expected);
}

v1::QueryFilter Filter(const std::function<void(v1::QueryFilter*)>& fill) {
  v1::QueryFilter f;
  fill(&f);
  return f;
}

TEST_CASE("Query: each condition finds exactly the matching people", "[query]") {
  Fixture fx;
  std::vector<v1::PersonFields> people;
  for (int n = 1; n <= 30; ++n) {
    v1::PersonFields p = Person(n, n % 3 == 0 ? "guzhen" : "waihai");
    if (n % 5 == 0) {
      p.set_list("GREY");
      p.set_list_reason("MISSED_TESTS");
    }
    if (n % 7 == 0) {
      p.set_last_test_result("POSITIVE");
      p.set_last_test_date(n < 20 ? "2022-11-20" : "2022-11-28");
    }
    p.set_workplace(n % 2 == 0 ? "东兴灯饰商场" : "东兴五金厂");
    people.push_back(p);
  }
  for (const auto& r : fx.node.Register(people)) REQUIRE(r.status.ok());

  auto count = [&](const std::function<bool(int)>& pred) {
    std::set<std::string> out;
    for (int n = 1; n <= 30; ++n) {
      if (pred(n)) out.insert(fx.PidOf(n, n % 3 == 0 ? "guzhen" : "waihai"));
    }
    return out;
  };
  auto found = [&](const v1::QueryFilter& f) {
    std::vector<std::string> v = fx.All(f, 4);
    return std::set<std::string>(v.begin(), v.end());
  };

  SECTION("phone") {
    REQUIRE(found(Filter([](auto* f) { f->set_phone("13810000007"); })) ==
            count([](int n) { return n == 7; }));
  }
  SECTION("residence grid") {
    REQUIRE(found(Filter([](auto* f) { f->set_residence_grid("GZ-GUYI-02"); })) ==
            count([](int n) { return n % 3 == 0; }));
  }
  SECTION("workplace exact and prefix") {
    REQUIRE(found(Filter([](auto* f) { f->set_workplace("东兴灯饰商场"); })) ==
            count([](int n) { return n % 2 == 0; }));
    REQUIRE(found(Filter([](auto* f) { f->set_workplace_prefix("东兴"); })).size() == 30);
  }
  SECTION("list, and list AND grid") {
    REQUIRE(found(Filter([](auto* f) { f->set_list("GREY"); })) ==
            count([](int n) { return n % 5 == 0; }));
    REQUIRE(found(Filter([](auto* f) {
              f->set_list("GREY");
              f->set_residence_grid("GZ-GUYI-02");
            })) == count([](int n) { return n % 5 == 0 && n % 3 == 0; }));
  }
  SECTION("test result and date range") {
    REQUIRE(found(Filter([](auto* f) { f->set_test_result("POSITIVE"); })) ==
            count([](int n) { return n % 7 == 0; }));
    REQUIRE(found(Filter([](auto* f) {
              f->set_test_result("POSITIVE");
              f->set_tested_from("2022-11-21");
            })) == count([](int n) { return n % 7 == 0 && n >= 20; }));
    REQUIRE(found(Filter([](auto* f) {
              f->set_test_result("POSITIVE");
              f->set_tested_to("2022-11-20");
            })) == count([](int n) { return n % 7 == 0 && n < 20; }));
  }
  SECTION("category and status") {
    REQUIRE(found(Filter([](auto* f) { f->set_category("COMMUTER"); })).size() == 30);
    REQUIRE(found(Filter([](auto* f) { f->set_status("DEREGISTERED"); })).empty());
  }
  SECTION("person by identity number and by pid") {
    v1::QueryFilter f;
    f.mutable_person()->set_id_doc(Person(4, "waihai").id_doc());
    REQUIRE(found(f) == count([](int n) { return n == 4; }));
    f.mutable_person()->set_pid(fx.PidOf(4));
    REQUIRE(found(f) == count([](int n) { return n == 4; }));
  }
  RequireIndexMatchesRecords(fx.node.store());
}

TEST_CASE("Query: status, list and category in every combination find exactly their people",
          "[query]") {
  Fixture fx;
  std::mt19937 rng(11);
  const std::vector<std::string> categories = {"VILLAGE_RESIDENT", "ENTERPRISE_EMPLOYEE",
                                               "COMMUTER"};
  std::vector<v1::PersonFields> people;
  for (int n = 1; n <= 60; ++n) {
    v1::PersonFields p = Person(n, "waihai");
    p.set_category(categories[rng() % 3]);
    if (rng() % 3 == 0) {
      p.set_list("GREY");
      p.set_list_reason("MISSED_TESTS");
    }
    people.push_back(p);
  }
  for (const auto& r : fx.node.Register(people)) REQUIRE(r.status.ok());
  for (int n = 1; n <= 60; ++n) {
    if (rng() % 4 == 0) REQUIRE(fx.node.Deregister(fx.PidOf(n))[0].status.ok());
  }

  // What every stored record holds, read without the index.
  struct Held {
    std::string pid, status, list, category;
  };
  std::vector<Held> held;
  std::unique_ptr<storage::RecordCursor> c = fx.node.store().ScanRecords();
  for (; c->Valid(); c->Next()) {
    v1::Record r = c->record().value();
    held.push_back({r.pid(), model::GroupOf(r, v1::STATUS).value().status(),
                    model::GroupOf(r, v1::LIST).value().list(),
                    model::GroupOf(r, v1::CATEGORY).value().category()});
  }
  REQUIRE(held.size() == 60);

  const std::vector<std::string> statuses = {"", "REGISTERED", "DEREGISTERED"};
  const std::vector<std::string> lists = {"", "WHITE", "GREY"};
  std::vector<std::string> any_category = {""};
  any_category.insert(any_category.end(), categories.begin(), categories.end());
  int nonempty = 0;
  for (const std::string& status : statuses) {
    for (const std::string& list : lists) {
      for (const std::string& category : any_category) {
        if (status.empty() && list.empty() && category.empty()) continue;
        v1::QueryFilter f = Filter([&](auto* x) {
          x->set_status(status);
          x->set_list(list);
          x->set_category(category);
        });
        std::set<std::string> expected;
        for (const Held& h : held) {
          if ((status.empty() || h.status == status) && (list.empty() || h.list == list) &&
              (category.empty() || h.category == category)) {
            expected.insert(h.pid);
          }
        }
        INFO("status=" << status << " list=" << list << " category=" << category);
        // Pages of 3: tokens fall between jumps too.
        std::vector<std::string> found;
        size_t read = 0;
        std::string token;
        do {
          absl::StatusOr<Page> page = fx.engine.Search(f, 3, token);
          REQUIRE(page.ok());
          REQUIRE(page->index == "membership");
          for (const v1::Record& r : page->records) found.push_back(r.pid());
          read += page->records_read;
          token = page->next_page_token;
        } while (!token.empty());
        REQUIRE(std::set<std::string>(found.begin(), found.end()).size() == found.size());
        REQUIRE(std::set<std::string>(found.begin(), found.end()) == expected);
        // The keys of other values are jumped over: only the matching records are read.
        REQUIRE(read == expected.size());
        if (!expected.empty()) ++nonempty;
      }
    }
  }
  REQUIRE(nonempty >= 30);  // of 47 combinations: the people cover most of them
  RequireIndexMatchesRecords(fx.node.store());
}

TEST_CASE("Query: pages are stable, complete and never repeat", "[query]") {
  Fixture fx;
  fx.RegisterWaihai(57);
  v1::QueryFilter f = Filter([](auto* x) { x->set_residence_grid("WH-MAYI-01"); });

  int limit = GENERATE(1, 7, 56, 57, 100);
  std::vector<std::string> pids = fx.All(f, limit);
  REQUIRE(pids.size() == 57);
  REQUIRE(std::set<std::string>(pids.begin(), pids.end()).size() == 57);
  // One term: in the order its people's residence group was last written, then by pid.
  auto order = [&](const std::vector<std::string>& found) {
    std::vector<std::pair<uint64_t, std::string>> out;
    for (const std::string& pid : found) {
      v1::Record r;
      REQUIRE(*fx.node.store().ReadRecord(pid, &r));
      out.emplace_back(model::GroupOf(r, v1::RESIDENCE).stamp().hlc(), pid);
    }
    return out;
  };
  std::vector<std::pair<uint64_t, std::string>> pids_order = order(pids);
  REQUIRE(std::is_sorted(pids_order.begin(), pids_order.end()));
  REQUIRE(fx.All(f, limit) == pids);

  // A new address in the same grid moves its person to the end of the grid's term.
  const std::string moved = pids[pids.size() / 2];
  REQUIRE(fx.node.Set(moved, "residence_address", "测试村99号")[0].outcome ==
          model::WriteOutcome::kUpdated);
  std::vector<std::string> after = fx.All(f, limit);
  REQUIRE(after.size() == 57);
  REQUIRE(after.back() == moved);
  std::vector<std::pair<uint64_t, std::string>> after_order = order(after);
  REQUIRE(std::is_sorted(after_order.begin(), after_order.end()));
  RequireIndexMatchesRecords(fx.node.store());
}

TEST_CASE("Query: spaces around a filter's values are ignored, as writes ignore them", "[query]") {
  Fixture fx;
  std::vector<v1::PersonFields> people = fx.RegisterWaihai(12);
  const std::string workplace = people[0].workplace();
  REQUIRE_FALSE(workplace.empty());
  v1::QueryFilter plain = Filter([&](auto* f) {
    f->set_workplace(workplace);
    f->set_list("WHITE");
  });
  v1::QueryFilter spaced = Filter([&](auto* f) {
    f->set_workplace(" " + workplace + " \t");
    f->set_list(" WHITE ");
  });
  std::vector<std::string> expected = fx.All(plain);
  REQUIRE_FALSE(expected.empty());
  REQUIRE(fx.All(spaced) == expected);
  REQUIRE(fx.All(spaced, 1) == expected);  // its page tokens resume it, too
  // Only spaces is no condition at all.
  absl::StatusOr<Page> blank =
      fx.engine.Search(Filter([](auto* f) { f->set_residence_grid("   "); }), 0, "");
  REQUIRE(blank.status().code() == absl::StatusCode::kInvalidArgument);
  REQUIRE(blank.status().message().find("at least one condition") != std::string::npos);
}

TEST_CASE("Query: the pages of one query read one view, so edits between them hide no one",
          "[query]") {
  Fixture fx;
  fx.RegisterWaihai(40);
  std::set<std::string> everyone;
  // Two categories that sort after COMMUTER, half the people in each.
  auto spread = [&] {
    for (int n = 1; n <= 40; ++n) {
      REQUIRE(fx.node
                  .Set(fx.PidOf(n), "category",
                       n % 2 == 1 ? "ENTERPRISE_EMPLOYEE" : "VILLAGE_RESIDENT")[0]
                  .status.ok());
      everyone.insert(fx.PidOf(n));
    }
  };
  spread();
  // A list scans every membership term: COMMUTER, then ENTERPRISE_EMPLOYEE, then VILLAGE_...
  const v1::QueryFilter white = Filter([](auto* f) { f->set_list("WHITE"); });
  // After the first page, everyone moves to COMMUTER, a term the scan has passed.
  auto query_while_moving = [&](const QueryEngine& engine) {
    return PagedPids(engine, white, 5, [&](int page) {
      if (page != 1) return;
      for (int n = 1; n <= 40; ++n) fx.node.Set(fx.PidOf(n), "category", "COMMUTER");
    });
  };

  std::vector<std::string> found = query_while_moving(fx.engine);
  REQUIRE(found.size() == 40);
  REQUIRE(std::set<std::string>(found.begin(), found.end()) == everyone);

  SECTION("without kept views, later pages read the live index and miss the people moved") {
    QueryEngine live(
        fx.node.store(), [&](std::string_view id) { return fx.node.planner().PidOf(id); },
        ViewLimits{.max_views = 0});
    spread();
    std::vector<std::string> live_found = query_while_moving(live);
    REQUIRE(live_found.size() < 40);
  }
  SECTION("a scan of one term takes no view: an edited person comes again, nobody is missed") {
    const v1::QueryFilter grid = Filter([](auto* f) { f->set_residence_grid("WH-MAYI-01"); });
    std::string first_seen;
    std::vector<std::string> pages = PagedPids(fx.engine, grid, 5, [&](int page) {
      if (page != 1) return;
      first_seen = fx.All(grid, 1).front();
      fx.node.Set(first_seen, "residence_address", "测试村77号");
    });
    REQUIRE(pages.size() == 41);
    REQUIRE(std::set<std::string>(pages.begin(), pages.end()) == everyone);
    REQUIRE(pages.front() == first_seen);
    REQUIRE(pages.back() == first_seen);  // moved to the end of the term
  }
  SECTION("a dropped view makes the next page read the store as it is, without an error") {
    QueryEngine idle(
        fx.node.store(), [&](std::string_view id) { return fx.node.planner().PidOf(id); },
        ViewLimits{.idle = std::chrono::milliseconds(0)});
    std::vector<std::string> pages = PagedPids(
        idle, white, 5, [](int) { std::this_thread::sleep_for(std::chrono::milliseconds(2)); });
    REQUIRE(std::set<std::string>(pages.begin(), pages.end()) == everyone);
    REQUIRE(pages.size() == 40);
  }
  SECTION("views beyond max_views and released views do the same") {
    QueryEngine few(
        fx.node.store(), [&](std::string_view id) { return fx.node.planner().PidOf(id); },
        ViewLimits{.max_views = 1});
    absl::StatusOr<Page> a = few.Search(white, 5, "");
    absl::StatusOr<Page> b = few.Search(white, 5, "");  // takes the only place
    REQUIRE((a.ok() && b.ok() && !a->next_page_token.empty()));
    REQUIRE(few.Search(white, 5, a->next_page_token).ok());
    few.ReleaseViews();
    absl::StatusOr<Page> after_release = few.Search(white, 5, b->next_page_token);
    REQUIRE(after_release.ok());
    REQUIRE(after_release->records.size() == 5);
  }
}

TEST_CASE("Query: bad filters, limits and page tokens are refused by name", "[query]") {
  Fixture fx;
  fx.node.Register({Person(1, "waihai"), Person(2, "waihai")});
  auto error = [&](const v1::QueryFilter& f, int limit = 0, const std::string& token = "") {
    absl::StatusOr<Page> p = fx.engine.Search(f, limit, token);
    REQUIRE_FALSE(p.ok());
    REQUIRE(p.status().code() == absl::StatusCode::kInvalidArgument);
    return std::string(p.status().message());
  };
  REQUIRE(error(v1::QueryFilter()).find("at least one condition") != std::string::npos);
  REQUIRE(error(Filter([](auto* f) { f->set_list("BLACK"); })).find("filter.list") == 0);
  REQUIRE(error(Filter([](auto* f) { f->set_status("GONE"); })).find("filter.status") == 0);
  REQUIRE(error(Filter([](auto* f) { f->set_tested_from("2022-13-01"); }))
              .find("filter.tested_from") == 0);
  REQUIRE(error(Filter([](auto* f) {
            f->set_tested_from("2022-11-30");
            f->set_tested_to("2022-11-01");
          })).find("after tested_to") != std::string::npos);
  REQUIRE(error(Filter([](auto* f) { f->set_residence_grid(std::string(300, 'x')); }))
              .find("filter.residence_grid") == 0);
  REQUIRE(error(Filter([](auto* f) { f->set_workplace("a\nb"); })).find("control") !=
          std::string::npos);
  REQUIRE(error(Filter([](auto* f) { f->set_phone("\xff\xfe"); })).find("UTF-8") !=
          std::string::npos);
  v1::QueryFilter grid = Filter([](auto* f) { f->set_residence_grid("WH-MAYI-01"); });
  REQUIRE(error(grid, 1001).find("limit") == 0);
  REQUIRE(error(grid, -1).find("limit") == 0);

  // A token of one filter is refused for another, and a damaged one too.
  absl::StatusOr<Page> first = fx.engine.Search(grid, 1, "");
  REQUIRE(first.ok());
  REQUIRE_FALSE(first->next_page_token.empty());
  v1::QueryFilter other = Filter([](auto* f) { f->set_list("WHITE"); });
  REQUIRE(error(other, 1, first->next_page_token).find("page_token") == 0);
  REQUIRE(error(grid, 1, first->next_page_token + "zz").find("page_token") == 0);
  REQUIRE(error(grid, 1, "q2.nonsense").find("page_token") == 0);
  // A token of the layout before the stamps (q1) asks for a new query.
  std::string old = first->next_page_token;
  REQUIRE(old.starts_with("q2."));
  old[1] = '1';
  REQUIRE(error(grid, 1, old).find("start the query again") != std::string::npos);
}

TEST_CASE("Query: indexes follow every edit and deregistration", "[query]") {
  Fixture fx;
  fx.node.Register({Person(1, "waihai"), Person(2, "waihai")});
  std::string pid = fx.PidOf(1);

  REQUIRE(fx.node.Set(pid, "phone", "13999999999")[0].status.ok());
  REQUIRE(fx.All(Filter([](auto* f) { f->set_phone("13810000001"); })).empty());
  REQUIRE(fx.All(Filter([](auto* f) { f->set_phone("13999999999"); })) ==
          std::vector<std::string>{pid});

  REQUIRE(fx.node.Set(pid, "residence_grid", "GZ-GUYI-02")[0].status.ok());
  REQUIRE(fx.All(Filter([](auto* f) { f->set_residence_grid("GZ-GUYI-02"); })) ==
          std::vector<std::string>{pid});

  REQUIRE(fx.node.Deregister(pid)[0].status.ok());
  REQUIRE(fx.All(Filter([](auto* f) { f->set_status("DEREGISTERED"); })) ==
          std::vector<std::string>{pid});
  REQUIRE(fx.All(Filter([](auto* f) { f->set_status("REGISTERED"); })) ==
          std::vector<std::string>{fx.PidOf(2)});
  RequireIndexMatchesRecords(fx.node.store());
}

TEST_CASE("Query: random edits keep the indexes equal to the records", "[query]") {
  Fixture fx;
  fx.RegisterWaihai(40);
  std::mt19937 rng(7);
  const char* fields[] = {"phone", "residence_grid", "list", "workplace", "last_test_result"};
  for (int i = 0; i < 200; ++i) {
    std::string pid = fx.PidOf(1 + static_cast<int>(rng() % 40));
    std::string field = fields[rng() % 5];
    std::string value = field == "phone" ? "139" + std::to_string(10000000 + rng() % 1000)
                        : field == "residence_grid" ? (rng() % 2 ? "GZ-GUYI-02" : "WH-MAYI-01")
                        : field == "list" ? "WHITE"
                        : field == "workplace" ? "厂" + std::to_string(rng() % 5)
                                               : (rng() % 2 ? "POSITIVE" : "NEGATIVE");
    fx.node.Set(pid, field, value);
    if (rng() % 50 == 0) fx.node.Deregister(pid);
  }
  RequireIndexMatchesRecords(fx.node.store());
}

TEST_CASE("Query: changed-since finds the people written after a time", "[query]") {
  Fixture fx;
  fx.node.Register({Person(1, "waihai"), Person(2, "waihai")});
  fx.node.wall().now_ms += 60000;
  int64_t cut = fx.node.wall().NowMs();
  fx.node.Set(fx.PidOf(2), "phone", "13900000002");
  REQUIRE(fx.All(Filter([&](auto* f) { f->set_changed_since_unix_ms(cut); })) ==
          std::vector<std::string>{fx.PidOf(2)});
  REQUIRE(fx.All(Filter([&](auto* f) { f->set_changed_since_unix_ms(cut - 120000); })).size() == 2);
}

TEST_CASE("Query: the audit description hashes phones and identity numbers", "[query]") {
  v1::QueryFilter f;
  f.set_phone("13812345678");
  f.mutable_person()->set_id_doc("44070419900101123X");
  f.set_residence_grid("WH-MAYI-01");
  std::string d = DescribeFilter(f, std::string(32, 'k'));
  REQUIRE(d.find("13812345678") == std::string::npos);
  REQUIRE(d.find("44070419900101123X") == std::string::npos);
  REQUIRE(d.find("phone=h:") != std::string::npos);
  REQUIRE(d.find("id_doc=h:") != std::string::npos);
  REQUIRE(d.find("residence_grid=WH-MAYI-01") != std::string::npos);
  REQUIRE(DescribeFilter(f, std::string(32, 'k')) == d);
  REQUIRE(DescribeFilter(f, std::string(32, 'j')) != d);
}

}  // namespace
}  // namespace wlsync::query
