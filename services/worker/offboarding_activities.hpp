#pragma once
// The offboarding workflow's activities: the I/O it does, each idempotent
// under its activity's idempotency key (see offboarding.hpp for the flow).
//
//   offboarding.request_approval   RequestApprovalRequest -> RequestApprovalResponse
//   offboarding.get_approval       StringValue(approval id) -> GetApprovalResponse
//   offboarding.revoke_access      CustomerRef -> StepEffect
//   offboarding.export_billing     CustomerRef -> StepEffect
//   offboarding.cancel_subscriptions CustomerRef -> StepEffect
//   offboarding.issue_refund       GuardedAction -> StepEffect
//   offboarding.erase_customer_data GuardedAction -> StepEffect
//
// The two guarded activities claim the grant (idempotency key: the
// activity's), open a connection with the released credential, act with
// the values of the action exactly as approved (the claim's answer, never
// the GuardedAction's copy, which only names the grant to claim), and
// consume the grant with the SHA-256 of the effect. The platform checks
// those values again against the credential's scope. Retried after a
// crash they re-claim with the same key (the authority allows exactly
// that), find their earlier write, and consume; after a crash past the
// consume they find the write with the worker's own login, by the
// approved values the authority returns for the grant's approval.
//
// Errors the authority or platform will repeat (PERMISSION_DENIED,
// INVALID_ARGUMENT, NOT_FOUND, FAILED_PRECONDITION, ...) are non-retryable;
// UNAVAILABLE, DEADLINE_EXCEEDED, ABORTED, RESOURCE_EXHAUSTED and UNKNOWN
// are retried.

#include "absl/status/status.h"
#include "cantdo/workflow/registry.hpp"
#include "worker/authority_client.hpp"
#include "worker/customer_platform.hpp"

namespace cantdo::worker {

inline constexpr char kRequestApprovalActivity[] = "offboarding.request_approval";
inline constexpr char kGetApprovalActivity[] = "offboarding.get_approval";
inline constexpr char kRevokeAccessActivity[] = "offboarding.revoke_access";
inline constexpr char kExportBillingActivity[] = "offboarding.export_billing";
inline constexpr char kCancelSubscriptionsActivity[] = "offboarding.cancel_subscriptions";
inline constexpr char kIssueRefundActivity[] = "offboarding.issue_refund";
inline constexpr char kEraseCustomerDataActivity[] = "offboarding.erase_customer_data";

absl::Status RegisterOffboardingActivities(workflow::Registry& registry, AuthorityClient& authority,
                                           CustomerPlatform& platform);

}  // namespace cantdo::worker
