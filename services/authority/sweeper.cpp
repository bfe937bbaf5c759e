#include "authority/sweeper.hpp"

#include "authority/grant_store.hpp"
#include "authority/ledger_records.hpp"
#include "cantdo/base/status.hpp"
#include "cantdo/pg/transaction.hpp"

namespace cantdo::authority {

absl::StatusOr<int> Sweeper::Sweep(int limit) {
  CANTDO_ASSIGN_OR_RETURN(int approvals, approvals_.ExpireOverdue(limit));
  CANTDO_ASSIGN_OR_RETURN(int grants, ExpireGrants(limit));
  CANTDO_ASSIGN_OR_RETURN(int credentials, DestroyStaleCredentials(limit));
  CANTDO_ASSIGN_OR_RETURN(int orphans, grants_.DestroyOrphanCredentials(limit));
  return approvals + grants + credentials + orphans;
}

absl::StatusOr<int> Sweeper::ExpireGrants(int limit) {
  const absl::Time now = clock_.Now();
  CANTDO_ASSIGN_OR_RETURN(
      int n, pg::RunInTransaction(pool_, {}, [&](pg::Connection& tx) -> absl::StatusOr<int> {
        CANTDO_ASSIGN_OR_RETURN(std::vector<GrantRow> expired, GrantStore::ExpireOverdue(tx, now, limit));
        for (const GrantRow& g : expired) {
          CANTDO_RETURN_IF_ERROR(
              Ledger::Append(tx, GrantRecord(common::v1::LEDGER_EVENT_KIND_GRANT_EXPIRED, kAuthorityId, g.proto), now)
                  .status());
        }
        return static_cast<int>(expired.size());
      }));
  for (int i = 0; i < n; ++i) metrics_.Grant(GrantTransition::kExpired);
  return n;
}

absl::StatusOr<int> Sweeper::DestroyStaleCredentials(int limit) {
  std::vector<GrantRow> stale;
  {
    CANTDO_ASSIGN_OR_RETURN(auto conn, pool_.Acquire(absl::Now() + absl::Seconds(10)));
    CANTDO_ASSIGN_OR_RETURN(stale, GrantStore::WithStaleCredentials(*conn, limit));
  }
  int destroyed = 0;
  for (const GrantRow& g : stale) {
    if (grants_.ReaperHolds(g.credential_handle)) continue;  // the consume's reaper is on it
    if (!grants_.ForgetCredential(g.proto, g.credential_handle, kAuthorityId).ok()) continue;  // next sweep retries
    ++destroyed;
  }
  return destroyed;
}

}  // namespace cantdo::authority
