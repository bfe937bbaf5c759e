#pragma once
// CredentialIntentStore: execution credentials the authority is about to
// create or has created (table cantdo.credential_intents, V0012). An intent
// is recorded, and committed on its own, before its credential exists, and
// removed once the credential is destroyed, so no crash, rollback or retry
// between the two can leave a credential nobody knows of: the sweeper
// destroys every credential whose intent no committed claim owns.

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "cantdo/pg/connection.hpp"

namespace cantdo::authority {

struct CredentialIntent {
  std::string handle, grant_id;
  std::string kind;  // ExecutionCredentialKind name without prefix
};

class CredentialIntentStore {
 public:
  static absl::Status Record(pg::Connection& conn, const CredentialIntent& intent, absl::Time now);
  // Removes the intent; returns whether it was there (of several racers,
  // exactly one sees true).
  static absl::StatusOr<bool> Forget(pg::Connection& conn, const std::string& handle);
  // Intents older than `recorded_before` whose credential is not the live
  // credential of its grant (no committed claim owns it), at most `limit`.
  static absl::StatusOr<std::vector<CredentialIntent>> Orphans(pg::Connection& conn, absl::Time recorded_before,
                                                               int limit);
};

}  // namespace cantdo::authority
