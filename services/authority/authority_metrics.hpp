#pragma once
// The authority's metrics (docs/operations.md, "Metrics"): what it decided,
// counted as it happens, and what is waiting, read from the database when
// scraped.
//
// Counted in this process, after the transaction that records the event
// committed (a retried or rolled-back attempt counts nothing), so that the
// counters agree with the ledger:
//   cantdo_authority_decisions_total{action, decision}
//       policy decisions recorded (DECISION entries): ALLOW, DENY,
//       REQUIRE_APPROVAL (a new approval; finding an existing one is no
//       new decision)
//   cantdo_authority_approvals_decided_total{action, outcome}
//       approvals closed: APPROVED, DENIED, EXPIRED, INVALID
//   cantdo_authority_approvals_asked_again_total
//   cantdo_authority_grant_transitions_total{transition}
//       issued, claimed, reclaimed (the same claimer again), consumed,
//       revoked, expired
//   cantdo_authority_grant_denials_total{operation, reason}
//       refused claims and consumes (GRANT_DENIED entries), by reason
//   cantdo_authority_ledger_chain_failures_total,
//   cantdo_authority_ledger_checkpoints_total,
//   cantdo_authority_ledger_checkpoint_failures_total{code}
// Read when scraped:
//   cantdo_authority_grant_denials_max_per_principal, ..._denied_principals
//       the most grant denials one principal had in the last 5 minutes on
//       this replica, and how many principals had any (DenialWindow)
//   cantdo_authority_approvals_pending{required_role}
//   cantdo_authority_approvals_oldest_pending_age_seconds{required_role}
//   cantdo_authority_credentials_live{kind}
//   cantdo_authority_ledger_pending_entries, ..._oldest_pending_age_seconds
//       entries committed but not hash-chained yet
//   cantdo_authority_ledger_chained_entries
//   with checkpoints: cantdo_authority_ledger_checkpoint_entries,
//   ..._checkpoint_age_seconds (since the newest was written),
//   ..._uncheckpointed_oldest_age_seconds (the oldest chained entry no
//   checkpoint covers yet; 0 when all are)
//
// Label values are bounded: an action or a role the policy does not name
// counts as "other"; reasons and outcomes come from closed sets in code.
//
// Hot path: a successful claim or consume increments one pre-resolved
// counter (an atomic add, no lock); only refusals touch the DenialWindow.

#include <set>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "authority/denial_window.hpp"
#include "authority/policy.hpp"
#include "cantdo/base/clock.hpp"
#include "cantdo/metrics/registry.hpp"
#include "cantdo/pg/pool.hpp"

namespace cantdo::authority {

class LedgerCheckpointer;

enum class GrantTransition { kIssued, kClaimed, kReclaimed, kConsumed, kRevoked, kExpired };

class AuthorityMetrics {
 public:
  // Registers the counters on `registry`; `policy` bounds the action and
  // role labels. Everything must outlive this.
  AuthorityMetrics(metrics::Registry& registry, const Policy& policy, Clock& clock);

  // Registers the scrape-time families (see above) read through `pool`,
  // and from `checkpointer` if not null.
  void AddCollectors(metrics::Registry& registry, pg::Pool& pool, const LedgerCheckpointer* checkpointer);

  void Decided(const std::string& action, common::v1::Decision decision);
  void ApprovalClosed(const std::string& action, std::string_view outcome);
  void ApprovalAskedAgain() { asked_again_.Inc(); }
  void Grant(GrantTransition t) { transitions_[static_cast<int>(t)]->Inc(); }
  void GrantDenied(std::string_view operation, std::string_view reason, const std::string& principal);
  void LedgerChainFailed() { chain_failures_.Inc(); }
  void LedgerCheckpointed() { checkpoints_.Inc(); }
  void LedgerCheckpointFailed(absl::StatusCode code);

  // `action` if the policy names it, else "other".
  std::string_view ActionLabel(const std::string& action) const;
  // `role` if the policy names it, else "other".
  std::string_view RoleLabel(const std::string& role) const;

 private:
  std::set<std::string, std::less<>> actions_;
  std::set<std::string, std::less<>> roles_;
  DenialWindow denials_by_principal_;
  metrics::Family<metrics::Counter>& decisions_;
  metrics::Family<metrics::Counter>& approvals_decided_;
  metrics::Counter& asked_again_;
  metrics::Counter* transitions_[6];
  metrics::Family<metrics::Counter>& grant_denials_;
  metrics::Counter& chain_failures_;
  metrics::Counter& checkpoints_;
  metrics::Family<metrics::Counter>& checkpoint_failures_;
  Clock& clock_;
};

}  // namespace cantdo::authority
