#pragma once
// Sweeper: the authority's background clean-up, safe to run from several
// replicas at once (every row it takes is locked SKIP LOCKED or moved by a
// conditional UPDATE): approvals nobody decided in time expire, grants past
// their lifetime expire, credentials whose grant is no longer CLAIMED are
// destroyed, and so are credentials no committed claim ever owned (found by
// their intents, Grants::DestroyOrphanCredentials). Each with its ledger
// entry, as the authority.

#include "absl/status/statusor.h"
#include "authority/approvals.hpp"
#include "authority/authority_metrics.hpp"
#include "authority/grants.hpp"
#include "cantdo/base/clock.hpp"
#include "cantdo/pg/pool.hpp"

namespace cantdo::authority {

class Sweeper {
 public:
  // Everything must outlive this.
  Sweeper(pg::Pool& pool, Clock& clock, Approvals& approvals, Grants& grants, AuthorityMetrics& metrics)
      : pool_(pool), clock_(clock), approvals_(approvals), grants_(grants), metrics_(metrics) {}

  // One pass over each kind, at most `limit` rows each; returns how many
  // rows it handled.
  absl::StatusOr<int> Sweep(int limit);

 private:
  absl::StatusOr<int> ExpireGrants(int limit);
  absl::StatusOr<int> DestroyStaleCredentials(int limit);

  pg::Pool& pool_;
  Clock& clock_;
  Approvals& approvals_;
  Grants& grants_;
  AuthorityMetrics& metrics_;
};

}  // namespace cantdo::authority
