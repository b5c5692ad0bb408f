// Ownership policy: which jurisdiction may write which part of a person's record.
// Default: only the person's home jurisdiction may change identity or home, or deregister;
// any jurisdiction may register a newcomer and write the other groups.
#pragma once

#include <array>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "model/fields.h"
#include "wlsync/v1/records.pb.h"

namespace wlsync::model {

enum class Owner { kAny, kHome };

// Immutable after configuration; thread safe for reads.
class OwnershipPolicy {
 public:
  // The default table described above.
  OwnershipPolicy();

  // Sets one rule. `what` is a group name ("identity", "contact", ...), "register" or
  // "deregister"; `owner` is "home" or "any". The error names the bad key or value.
  absl::Status Set(std::string_view what, std::string_view owner);

  // May `writer` write `group` of a person whose home is `home`? A deregistration is a
  // STATUS write with value DEREGISTERED; registering a person not yet known is checked
  // with `creating` = true. Returns PERMISSION_DENIED naming the rule.
  absl::Status Check(v1::Group group, const v1::PersonFields& value, std::string_view home,
                     std::string_view writer, bool creating) const;

  // "identity=home home=home ..." for the start-up log.
  std::string Describe() const;

 private:
  std::array<Owner, kGroupCount + 1> groups_;
  Owner register_ = Owner::kAny;
  Owner deregister_ = Owner::kHome;
};

}  // namespace wlsync::model
