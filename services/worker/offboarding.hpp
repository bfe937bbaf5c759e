#pragma once
// The customer offboarding workflow and its activities (docs/offboarding.md).
//
// Workflow "customer_offboarding", input cantdo.offboarding.v1.OffboardingInput,
// result cantdo.offboarding.v1.OffboardingResult:
//   0. the customer is the one its admission approved (the run's
//      WorkflowExecutionAdmitted record, declared in libs/workflow/types);
//      a run whose input names another fails (WORKFLOW_INPUT_NOT_APPROVED)
//      before any step;
//   1. revoke_access, export_billing, cancel_subscriptions: each asks the
//      authority first (RequestApproval -> ALLOW, recorded in the ledger),
//      then acts with the worker's own platform login;
//   2. issue_refund (refund.issue, role cfo) and delete_customer_data
//      (customer_data.delete, role dpo): RequestApproval -> wait durably for
//      the signal "cantdo.approval_decided" (or the deadline), which only
//      wakes the workflow: it asks the authority (GetApproval) what was
//      decided, whatever the signal says -> on APPROVED
//      one activity claims the grant, acts with the released credential and
//      consumes the grant. A denial skips the step (result
//      PARTIALLY_DENIED, run COMPLETED); no decision before the deadline,
//      or an answer that failed verification (INVALID: nobody decided),
//      re-requests under a fresh step name ("issue_refund.attempt2", ...),
//      and after the last one the run FAILS with APPROVAL_EXPIRED (or the
//      verification's reason).
//
// Options that change the sequence of commands (re-request count) must not
// change under running runs without a GetVersion guard.

#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "cantdo/base/clock.hpp"
#include "cantdo/workflow/registry.hpp"
#include "cantdo/workflow_types/catalog.hpp"
#include "worker/authority_client.hpp"
#include "worker/customer_platform.hpp"

namespace cantdo::worker {

inline constexpr const char* kOffboardingWorkflowType = workflow_types::kCustomerOffboarding;
inline constexpr char kApprovalDecidedSignal[] = "cantdo.approval_decided";

struct OffboardingOptions {
  // Asked of the authority as approval_timeout (1 minute to 7 days; the
  // policy may lower it). The workflow waits until the approval's
  // expire_time plus `decision_grace` for the decision.
  absl::Duration approval_deadline = absl::Hours(72);
  absl::Duration decision_grace = absl::Minutes(1);
  // How many times an approval that expired undecided is asked again.
  int approval_rerequests = 2;
  // Start-to-close of one activity attempt; also how long a crashed
  // worker's activity stays leased before another attempt starts.
  absl::Duration activity_timeout = absl::Seconds(60);
};

// REQUIRES: authority, platform and clock outlive the registry's use.
absl::Status RegisterOffboarding(workflow::Registry& registry, AuthorityClient& authority, CustomerPlatform& platform,
                                 OffboardingOptions options);

}  // namespace cantdo::worker
