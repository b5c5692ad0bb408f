// Field groups of a person: which commuters-CSV column belongs to which group, and access
// to PersonFields by column name. Start here to see how a CSV column maps onto a record.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "wlsync/v1/records.pb.h"

namespace wlsync::model {

// Number of groups; groups are numbered 1..kGroupCount as in wlsync::v1::Group.
inline constexpr int kGroupCount = 9;

inline constexpr std::string_view kRegistered = "REGISTERED";
inline constexpr std::string_view kDeregistered = "DEREGISTERED";

// Group holding a CSV column, or nullopt for an unknown name ("status" maps to STATUS).
std::optional<v1::Group> GroupOfField(std::string_view field);

// Columns of a group, in CSV order.
const std::vector<std::string_view>& FieldsOfGroup(v1::Group group);

// The accessors of a group's columns, in CSV order: FieldsOfGroup without a lookup by name,
// for code that reads every column of every record (digests).
using ColumnGetter = const std::string& (v1::PersonFields::*)() const;
const std::vector<ColumnGetter>& GettersOfGroup(v1::Group group);

// Lowercase group name for messages and metrics, e.g. "contact".
std::string_view GroupName(v1::Group group);

// Value of a column by CSV name; nullptr for an unknown name.
const std::string* GetField(const v1::PersonFields& fields, std::string_view field);
std::string* MutableField(v1::PersonFields* fields, std::string_view field);

// Copy of only the columns of `group`.
v1::PersonFields ProjectGroup(const v1::PersonFields& from, v1::Group group);
// The same into `out` (on out's arena, if any): sets the columns of `group`, leaves the rest.
void ProjectGroupInto(const v1::PersonFields& from, v1::Group group, v1::PersonFields* out);

// True when the columns of `group` are equal in both.
bool GroupEquals(const v1::PersonFields& a, const v1::PersonFields& b, v1::Group group);

}  // namespace wlsync::model
