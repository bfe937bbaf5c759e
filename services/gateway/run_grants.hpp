#pragma once
// Revocation of a cancelled run's unconsumed grants, through the authority
// (the gateway may call RevokeGrant for the runs it cancels).
//
// The run's grants are found in the authority's ledger: every grant has a
// GRANT_ISSUED entry naming its workflow id and run id (indexed by workflow
// id), and a grant with a GRANT_CONSUMED, GRANT_REVOKED or GRANT_EXPIRED
// entry is already done with. ListLedgerEntries chains pending entries
// first, so every grant issued before the call is seen.
//
// Safe to repeat and to run concurrently: revoking a REVOKED grant returns
// it unchanged, and a grant consumed or expired meanwhile
// (GRANT_ALREADY_CONSUMED / GRANT_EXPIRED) is simply not revocable any more.
// A grant issued after the listing (an approval decided later) is not
// covered; repeating the call covers it.

#include <string>

#include "absl/status/statusor.h"
#include "gateway/authority_client.hpp"

namespace cantdo::gateway {

class RunGrants {
 public:
  // `authority` must outlive this.
  explicit RunGrants(const AuthorityClient& authority) : authority_(authority) {}

  // The ids of the run's grants that are ISSUED or CLAIMED, as far as the
  // ledger says.
  absl::StatusOr<std::vector<std::string>> Unconsumed(const std::string& workflow_id, const std::string& run_id) const;

  // Revokes each of Unconsumed() with `reason` (truncated to the
  // authority's 1024 characters) on behalf of `on_behalf_of`. Tries every
  // grant even when one fails; returns how many it revoked, or the first
  // failure.
  absl::StatusOr<int> RevokeAll(const std::string& workflow_id, const std::string& run_id, const std::string& reason,
                                const std::string& on_behalf_of) const;

  // Revokes one grant; OK as well when it is already consumed, expired or
  // revoked.
  absl::Status Revoke(const std::string& grant_id, const std::string& reason, const std::string& on_behalf_of) const;

 private:
  const AuthorityClient& authority_;
};

}  // namespace cantdo::gateway
