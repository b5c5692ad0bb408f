#include "model/fields.h"

#include <array>

namespace wlsync::model {
namespace {

using Mutator = std::string* (v1::PersonFields::*)();

struct Column {
  std::string_view name;
  v1::Group group;
  ColumnGetter get;
  Mutator mut;
};

#define WLSYNC_COLUMN(field, group) \
  Column { #field, v1::group, &v1::PersonFields::field, &v1::PersonFields::mutable_##field }

const std::array<Column, 14> kColumns = {
    WLSYNC_COLUMN(id_doc, IDENTITY),
    WLSYNC_COLUMN(name, IDENTITY),
    WLSYNC_COLUMN(phone, CONTACT),
    WLSYNC_COLUMN(home, HOME),
    WLSYNC_COLUMN(residence_address, RESIDENCE),
    WLSYNC_COLUMN(residence_grid, RESIDENCE),
    WLSYNC_COLUMN(workplace, WORK),
    WLSYNC_COLUMN(work_grid, WORK),
    WLSYNC_COLUMN(category, CATEGORY),
    WLSYNC_COLUMN(list, LIST),
    WLSYNC_COLUMN(list_reason, LIST),
    WLSYNC_COLUMN(last_test_date, TEST),
    WLSYNC_COLUMN(last_test_result, TEST),
    WLSYNC_COLUMN(status, STATUS),
};

#undef WLSYNC_COLUMN

const Column* FindColumn(std::string_view field) {
  for (const Column& c : kColumns) {
    if (c.name == field) return &c;
  }
  return nullptr;
}

}  // namespace

std::optional<v1::Group> GroupOfField(std::string_view field) {
  const Column* c = FindColumn(field);
  if (c == nullptr) return std::nullopt;
  return c->group;
}

const std::vector<std::string_view>& FieldsOfGroup(v1::Group group) {
  static const auto* by_group = [] {
    auto* v = new std::array<std::vector<std::string_view>, kGroupCount + 1>();
    for (const Column& c : kColumns) (*v)[c.group].push_back(c.name);
    return v;
  }();
  return (*by_group)[group >= 0 && group <= kGroupCount ? group : 0];
}

const std::vector<ColumnGetter>& GettersOfGroup(v1::Group group) {
  static const auto* by_group = [] {
    auto* v = new std::array<std::vector<ColumnGetter>, kGroupCount + 1>();
    for (const Column& c : kColumns) (*v)[c.group].push_back(c.get);
    return v;
  }();
  return (*by_group)[group >= 0 && group <= kGroupCount ? group : 0];
}

std::string_view GroupName(v1::Group group) {
  static constexpr std::array<std::string_view, kGroupCount + 1> kNames = {
      "unspecified", "identity", "home", "contact", "residence",
      "work",        "category", "list", "test",    "status"};
  return kNames[group >= 0 && group <= kGroupCount ? group : 0];
}

const std::string* GetField(const v1::PersonFields& fields, std::string_view field) {
  const Column* c = FindColumn(field);
  return c == nullptr ? nullptr : &(fields.*(c->get))();
}

std::string* MutableField(v1::PersonFields* fields, std::string_view field) {
  const Column* c = FindColumn(field);
  return c == nullptr ? nullptr : (fields->*(c->mut))();
}

v1::PersonFields ProjectGroup(const v1::PersonFields& from, v1::Group group) {
  v1::PersonFields out;
  ProjectGroupInto(from, group, &out);
  return out;
}

void ProjectGroupInto(const v1::PersonFields& from, v1::Group group, v1::PersonFields* out) {
  for (const Column& c : kColumns) {
    if (c.group == group) *(out->*(c.mut))() = (from.*(c.get))();
  }
}

bool GroupEquals(const v1::PersonFields& a, const v1::PersonFields& b, v1::Group group) {
  for (const Column& c : kColumns) {
    if (c.group == group && (a.*(c.get))() != (b.*(c.get))()) return false;
  }
  return true;
}

}  // namespace wlsync::model
