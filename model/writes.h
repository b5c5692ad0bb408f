// Turns local requests (register, upsert, field changes, deregister) into the group
// writes of one person, and checks remote events against the ownership policy.
// Validation is stateless and may run on any thread; planning compares with the stored
// record and runs on the single writer thread that owns the read-modify-write.
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "model/grids.h"
#include "model/pid.h"
#include "model/policy.h"
#include "wlsync/v1/records.pb.h"

namespace wlsync::model {

enum class WriteOutcome { kCreated, kUpdated, kUnchanged };

// The groups one request writes, before they are stamped.
struct PlannedWrite {
  std::string pid;
  WriteOutcome outcome = WriteOutcome::kUnchanged;
  bool registration = false;  // the person was not known here: see Event.registration
  bool purge = false;         // the tombstone goes: see Event.purge
  std::vector<std::pair<v1::Group, v1::PersonFields>> groups;
};

struct FieldEdit {
  std::string field;
  std::string value;
};

// Holds references to configuration that must outlive it. Thread safe (const methods).
class WritePlanner {
 public:
  WritePlanner(std::string node, const FederationKey& key, const Grids& grids,
               const OwnershipPolicy& policy)
      : node_(std::move(node)), key_(key), grids_(grids), policy_(policy) {}

  const std::string& node() const { return node_; }

  // Normalizes (trims every value, uppercases the check digit) and validates all data
  // columns of a full person; returns the pid. Errors name the field and the rule.
  absl::StatusOr<std::string> PrepareUpsert(v1::PersonFields* fields) const;

  // Normalizes and validates an identity number; returns its pid.
  absl::StatusOr<std::string> PidOf(std::string_view id_doc) const;

  // Validates one field edit (the field must exist and be editable).
  absl::Status PrepareEdit(FieldEdit* edit) const;

  // Registration or upsert of a prepared person against the stored record. With
  // `must_be_new`, an already registered person is ALREADY_EXISTS.
  absl::StatusOr<PlannedWrite> PlanUpsert(const v1::PersonFields& fields, const v1::Record& current,
                                          bool must_be_new) const;

  // Field edits of a registered person (FAILED_PRECONDITION once deregistered).
  absl::StatusOr<PlannedWrite> PlanUpdate(const v1::Record& current,
                                          const std::vector<FieldEdit>& edits) const;

  // Deregistration; UNCHANGED when already deregistered.
  absl::StatusOr<PlannedWrite> PlanDeregister(const v1::Record& current) const;

  // Retention: empties the given groups of a person (their fields become ""), leaving what
  // is already empty. Only the home jurisdiction may erase; deregistered people may have
  // every group but HOME and STATUS erased, registered ones only TEST. UNCHANGED when
  // nothing is left to erase.
  absl::StatusOr<PlannedWrite> PlanErase(const v1::Record& current,
                                         const std::vector<v1::Group>& groups) const;

  // Retention: removes the tombstone of a person deregistered here (the home) whose personal
  // fields are all erased. One STATUS event flagged `purge`.
  absl::StatusOr<PlannedWrite> PlanPurge(const v1::Record& current) const;

  // Checks a remote event written by `writer` against the policy. `home_hint` is the home
  // carried by the same delta for a person the receiver does not know yet.
  absl::Status CheckRemote(const v1::Event& event, const v1::Record& current,
                           std::string_view home_hint) const;

 private:
  absl::Status CheckLocal(v1::Group group, const v1::PersonFields& value,
                          const v1::Record& current, bool creating,
                          std::string_view new_home) const;

  const std::string node_;
  const FederationKey& key_;
  const Grids& grids_;
  const OwnershipPolicy& policy_;
};

}  // namespace wlsync::model
