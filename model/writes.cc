#include "model/writes.h"

#include "absl/strings/ascii.h"
#include "base/strings.h"
#include "model/fields.h"
#include "model/merge.h"
#include "model/validate.h"

namespace wlsync::model {
namespace {

std::string_view HomeOf(const v1::Record& record) {
  return GroupOf(record, v1::HOME).value().home();
}

}  // namespace

absl::StatusOr<std::string> WritePlanner::PrepareUpsert(v1::PersonFields* fields) const {
  for (std::string_view column : DataColumns()) {
    std::string* value = MutableField(fields, column);
    absl::StripAsciiWhitespace(value);
    if (column == "id_doc") *value = NormalizeIdDoc(*value);
    if (absl::Status s = ValidateField(column, *value, grids_); !s.ok()) return s;
  }
  fields->clear_status();
  return key_.Pid(fields->id_doc());
}

absl::StatusOr<std::string> WritePlanner::PidOf(std::string_view id_doc) const {
  std::string normalized = NormalizeIdDoc(id_doc);
  if (absl::Status s = ValidateField("id_doc", normalized, grids_); !s.ok()) return s;
  return key_.Pid(normalized);
}

absl::Status WritePlanner::PrepareEdit(FieldEdit* edit) const {
  absl::StripAsciiWhitespace(&edit->field);
  absl::StripAsciiWhitespace(&edit->value);
  if (edit->field == "id_doc") {
    return absl::InvalidArgumentError(
        "id_doc: cannot be changed (it defines the person; deregister and register anew)");
  }
  if (edit->field == "status") {
    return absl::InvalidArgumentError("status: change it with register or deregister");
  }
  if (!GroupOfField(edit->field).has_value()) {
    return absl::InvalidArgumentError(base::StrCat("field: unknown column name"));
  }
  return ValidateField(edit->field, edit->value, grids_);
}

absl::Status WritePlanner::CheckLocal(v1::Group group, const v1::PersonFields& value,
                                      const v1::Record& current, bool creating,
                                      std::string_view new_home) const {
  std::string_view home = creating ? new_home : HomeOf(current);
  return policy_.Check(group, value, home, node_, creating);
}

absl::StatusOr<PlannedWrite> WritePlanner::PlanUpsert(const v1::PersonFields& fields,
                                                      const v1::Record& current,
                                                      bool must_be_new) const {
  PlannedWrite plan;
  plan.pid = current.pid();
  bool registered = IsRegistered(current);
  if (registered && must_be_new) {
    return absl::AlreadyExistsError("person: already registered (use update)");
  }

  bool creating = !Exists(current);
  plan.registration = creating;
  plan.groups.reserve(kGroupCount);
  for (int g = 1; g < kGroupCount; ++g) {
    auto group = static_cast<v1::Group>(g);
    if (HasGroup(current, group) && GroupEquals(GroupOf(current, group).value(), fields, group)) {
      continue;
    }
    v1::PersonFields value = ProjectGroup(fields, group);
    if (absl::Status s = CheckLocal(group, value, current, creating, fields.home()); !s.ok()) {
      return s;
    }
    plan.groups.emplace_back(group, std::move(value));
  }

  if (!registered) {
    v1::PersonFields status;
    status.set_status(std::string(kRegistered));
    if (absl::Status s = CheckLocal(v1::STATUS, status, current, creating, fields.home());
        !s.ok()) {
      return s;
    }
    plan.groups.emplace_back(v1::STATUS, std::move(status));
  }
  plan.outcome = !registered       ? WriteOutcome::kCreated
                 : plan.groups.empty() ? WriteOutcome::kUnchanged
                                       : WriteOutcome::kUpdated;
  return plan;
}

absl::StatusOr<PlannedWrite> WritePlanner::PlanUpdate(const v1::Record& current,
                                                      const std::vector<FieldEdit>& edits) const {
  if (!Exists(current)) return absl::NotFoundError("person: not registered");
  if (!IsRegistered(current)) {
    return absl::FailedPreconditionError("person: deregistered; register again first");
  }

  // Start every touched group from its stored value so that the whole group is rewritten.
  std::vector<std::pair<v1::Group, v1::PersonFields>> touched;
  for (const FieldEdit& edit : edits) {
    v1::Group group = *GroupOfField(edit.field);
    auto it = std::find_if(touched.begin(), touched.end(),
                           [group](const auto& t) { return t.first == group; });
    if (it == touched.end()) {
      touched.emplace_back(group, GroupOf(current, group).value());
      it = touched.end() - 1;
    }
    *MutableField(&it->second, edit.field) = edit.value;
  }

  PlannedWrite plan;
  plan.pid = current.pid();
  for (auto& [group, value] : touched) {
    if (GroupEquals(GroupOf(current, group).value(), value, group)) continue;
    if (absl::Status s = CheckLocal(group, value, current, /*creating=*/false, ""); !s.ok()) {
      return s;
    }
    plan.groups.emplace_back(group, std::move(value));
  }
  plan.outcome = plan.groups.empty() ? WriteOutcome::kUnchanged : WriteOutcome::kUpdated;
  return plan;
}

absl::StatusOr<PlannedWrite> WritePlanner::PlanDeregister(const v1::Record& current) const {
  if (!Exists(current)) return absl::NotFoundError("person: not registered");
  PlannedWrite plan;
  plan.pid = current.pid();
  if (!IsRegistered(current)) return plan;  // already deregistered: unchanged

  v1::PersonFields status;
  status.set_status(std::string(kDeregistered));
  if (absl::Status s = CheckLocal(v1::STATUS, status, current, /*creating=*/false, "");
      !s.ok()) {
    return s;
  }
  plan.groups.emplace_back(v1::STATUS, std::move(status));
  plan.outcome = WriteOutcome::kUpdated;
  return plan;
}

absl::StatusOr<PlannedWrite> WritePlanner::PlanErase(const v1::Record& current,
                                                     const std::vector<v1::Group>& groups) const {
  if (!Exists(current)) return absl::NotFoundError("person: not registered");
  if (HomeOf(current) != node_) {
    return absl::PermissionDeniedError("erase: only the home jurisdiction erases a person");
  }
  PlannedWrite plan;
  plan.pid = current.pid();
  const v1::PersonFields empty;
  for (v1::Group group : groups) {
    if (group == v1::HOME || group == v1::STATUS) {
      return absl::InvalidArgumentError("erase: home and status stay (the tombstone)");
    }
    if (IsRegistered(current) && group != v1::TEST) {
      return absl::FailedPreconditionError("erase: the person is registered");
    }
    if (!HasGroup(current, group) || GroupEquals(GroupOf(current, group).value(), empty, group)) {
      continue;
    }
    plan.groups.emplace_back(group, empty);
  }
  plan.outcome = plan.groups.empty() ? WriteOutcome::kUnchanged : WriteOutcome::kUpdated;
  return plan;
}

absl::StatusOr<PlannedWrite> WritePlanner::PlanPurge(const v1::Record& current) const {
  if (!Exists(current)) return absl::NotFoundError("person: not known here");
  if (HomeOf(current) != node_) {
    return absl::PermissionDeniedError("purge: only the home jurisdiction purges a tombstone");
  }
  if (IsRegistered(current)) return absl::FailedPreconditionError("purge: the person is registered");
  const v1::PersonFields empty;
  for (int g = v1::IDENTITY; g <= model::kGroupCount; ++g) {
    auto group = static_cast<v1::Group>(g);
    if (group == v1::HOME || group == v1::STATUS) continue;
    if (HasGroup(current, group) && !GroupEquals(GroupOf(current, group).value(), empty, group)) {
      return absl::FailedPreconditionError("purge: erase the personal fields first");
    }
  }
  PlannedWrite plan;
  plan.pid = current.pid();
  plan.purge = true;
  plan.outcome = WriteOutcome::kUpdated;
  plan.groups.emplace_back(v1::STATUS, empty);
  return plan;
}

// LIMITATION: apart from registrations, the check uses the receiver's current view of the
// person's home; while two jurisdictions change a person's home concurrently, a foreign
// identity edit or deregistration may be judged differently on each side. The refused
// event is kept in quarantine and reconciliation reports the difference. Peers send
// deltas in causal order (sync/peer_service.cc), so a registration arrives before the
// edits others made of it; but while a stream is stopped here (a fork, a frozen link, a
// revoked key), another origin's edits of the people it registered meet no home and are
// quarantined too.
absl::Status WritePlanner::CheckRemote(const v1::Event& event, const v1::Record& current,
                                       std::string_view home_hint) const {
  // A registration is judged by the event alone (deterministic on every node); other
  // writes against the person's home as known here, or as the same delta states it.
  if (event.purge()) {
    // Only the home removes a tombstone; where the person is unknown the purge only
    // remembers the pid, which any jurisdiction's event could do no harm with.
    std::string_view known_home = HomeOf(current);
    if (event.group() != v1::STATUS || event.registration() ||
        (!known_home.empty() && known_home != event.stamp().node())) {
      return absl::PermissionDeniedError("purge: only the home jurisdiction purges a tombstone");
    }
    return absl::OkStatus();
  }
  bool creating = event.registration();
  // A registration never deregisters: without this, any peer could deregister another
  // jurisdiction's people by flagging the event as a registration.
  // LIMITATION: other groups of a registration-flagged event are judged by the "register"
  // rule alone (so that concurrent registrations converge), so under register = "any" a
  // peer can rewrite a known person's identity by re-registering them; set register =
  // "home" where that matters, until registrations of known people are judged by home.
  if (creating && event.group() == v1::STATUS && event.value().status() != kRegistered) {
    return absl::PermissionDeniedError(
        "status: a registration must set REGISTERED (deregistration is for the home)");
  }
  std::string_view home = creating ? home_hint : HomeOf(current);
  if (home.empty()) home = home_hint;
  return policy_.Check(event.group(), event.value(), home, event.stamp().node(), creating);
}

}  // namespace wlsync::model
