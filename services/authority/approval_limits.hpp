#pragma once
// Approval spam and approver fatigue (docs/security.md): whether a new
// approval may be opened, given what the accountable principal and the
// approver have been through recently. The policy sets the numbers (its
// "limits", Policy::limits()); ApprovalStore::LoadLimitFacts reads the
// facts in the requesting transaction, under locks that make the check
// exact; CheckLimits decides. No I/O: tests/unit/authority.
//
// Limits apply only to approvals that would be opened (and would ring an
// approver's device): an idempotent repeat or a collapsed request opens
// nothing and is never refused here. A limit of 0 is off (the policy said
// null).

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "authority/caller.hpp"
#include "cantdo/authority/v1/authority_service.pb.h"

namespace cantdo::authority {

// Approvals within a window, counted up to the limit (no further: the
// check only needs to know whether the limit is reached).
struct RecentApprovals {
  int64_t count = 0;
  // create_time of the oldest one counted; meaningful when count > 0.
  absl::Time oldest;
};

struct LimitFacts {
  // Opened by the accountable principal within limits.requester.window.
  RecentApprovals requester;
  // Sent to the approver, by anyone, within limits.approver.window.
  RecentApprovals approver;
  // The approver's PENDING approvals, counted up to the limit.
  int64_t approver_pending = 0;
  // decide_time of every approval of the accountable principal that this
  // approver denied since now - denial_window - denial_cooldown (older
  // ones cannot matter), in any order.
  std::vector<absl::Time> denials;
};

// The principal a new approval counts against: the external principal the
// gateway acts for (on_behalf_of; the gateway authenticated it), else the
// requester the caller names (for the worker, whose one identity carries
// every run, the operator recorded as the run's requester; for admission,
// the operator starting the run).
std::string AccountablePrincipal(const Caller& caller, const std::string& requester);

// When the cool-down of (principal, approver) that `denials` belong to
// ends: the latest d + denial_cooldown over every denial d that ends a
// run of max_denials denials within denial_window. absl::InfinitePast()
// if none.
absl::Time CooldownEnd(const v1::ApprovalLimits& limits, std::vector<absl::Time> denials);

// OK, or the refusal (with its reason and metadata) of a new approval for
// `accountable`, sent to an approver of `required_role`, at `now`. In
// order: APPROVAL_DENIALS_COOLDOWN (PERMISSION_DENIED),
// APPROVAL_REQUESTER_RATE_LIMITED, APPROVAL_APPROVER_QUEUE_FULL,
// APPROVAL_APPROVER_RATE_LIMITED (RESOURCE_EXHAUSTED). The approver's
// subject is not in the status: callers see roles, never the directory.
absl::Status CheckLimits(const v1::ApprovalLimits& limits, const LimitFacts& facts, absl::Time now,
                         const std::string& accountable, const std::string& required_role);

}  // namespace cantdo::authority
