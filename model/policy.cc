#include "model/policy.h"

#include "base/strings.h"

namespace wlsync::model {
namespace {

std::string_view OwnerName(Owner o) { return o == Owner::kHome ? "home" : "any"; }

absl::Status Denied(std::string_view action, std::string_view key, std::string_view home) {
  if (home.empty()) {
    // A remote edit of a person whose registration has not arrived here yet.
    return absl::PermissionDeniedError(base::StrCat(
        "ownership: only the home jurisdiction may ", action,
        ", and the person is not known here yet (policy ownership.", key, " = \"home\")"));
  }
  return absl::PermissionDeniedError(
      base::StrCat("ownership: only the home jurisdiction (", home, ") may ", action,
                   " (policy ownership.", key, " = \"home\")"));
}

}  // namespace

OwnershipPolicy::OwnershipPolicy() {
  groups_.fill(Owner::kAny);
  groups_[v1::IDENTITY] = Owner::kHome;
  groups_[v1::HOME] = Owner::kHome;
}

absl::Status OwnershipPolicy::Set(std::string_view what, std::string_view owner) {
  Owner o;
  if (owner == "home") {
    o = Owner::kHome;
  } else if (owner == "any") {
    o = Owner::kAny;
  } else {
    return absl::InvalidArgumentError(
        base::StrCat("ownership.", what, ": must be \"home\" or \"any\""));
  }
  if (what == "register") {
    register_ = o;
    return absl::OkStatus();
  }
  if (what == "deregister") {
    deregister_ = o;
    return absl::OkStatus();
  }
  for (int g = 1; g < kGroupCount; ++g) {  // STATUS is governed by (de)register.
    if (GroupName(static_cast<v1::Group>(g)) == what) {
      groups_[g] = o;
      return absl::OkStatus();
    }
  }
  return absl::InvalidArgumentError(base::StrCat(
      "ownership.", what,
      ": unknown key (expected a group name, \"register\" or \"deregister\")"));
}

absl::Status OwnershipPolicy::Check(v1::Group group, const v1::PersonFields& value,
                                    std::string_view home, std::string_view writer,
                                    bool creating) const {
  if (writer == home) return absl::OkStatus();
  if (creating) {
    if (register_ == Owner::kHome) return Denied("register", "register", home);
    return absl::OkStatus();
  }
  if (group == v1::STATUS) {
    if (value.status() == kDeregistered && deregister_ == Owner::kHome) {
      return Denied("deregister", "deregister", home);
    }
    if (value.status() != kDeregistered && register_ == Owner::kHome) {
      return Denied("register", "register", home);
    }
    return absl::OkStatus();
  }
  if (group >= 1 && group <= kGroupCount && groups_[group] == Owner::kHome) {
    return Denied(base::StrCat("change ", GroupName(group)), GroupName(group), home);
  }
  return absl::OkStatus();
}

std::string OwnershipPolicy::Describe() const {
  std::string out;
  for (int g = 1; g < kGroupCount; ++g) {
    base::StrAppend(&out, GroupName(static_cast<v1::Group>(g)), "=", OwnerName(groups_[g]),
                    " ");
  }
  base::StrAppend(&out, "register=", OwnerName(register_),
                  " deregister=", OwnerName(deregister_));
  return out;
}

}  // namespace wlsync::model
