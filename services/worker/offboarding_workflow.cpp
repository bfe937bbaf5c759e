#include <google/protobuf/wrappers.pb.h>

#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "cantdo/authority/v1/authority_service.pb.h"
#include "cantdo/base/status.hpp"
#include "cantdo/offboarding/v1/offboarding.pb.h"
#include "cantdo/workflow/admission.hpp"
#include "cantdo/workflow/payload.hpp"
#include "cantdo/workflow_types/catalog.hpp"
#include "worker/offboarding.hpp"
#include "worker/offboarding_activities.hpp"

namespace cantdo::worker {
namespace {

namespace av1 = authority::v1;
namespace cv1 = common::v1;
namespace ov1 = offboarding::v1;
using workflow::ActivityOptions;
using workflow::Future;
using workflow::Pack;
using workflow::Payload;
using workflow::Result;
using workflow::Task;
using workflow::Unpack;
using workflow::WorkflowContext;

// The GetVersion change id of "an approval that failed verification is
// asked again, not a denial" (#20). Runs that passed such an approval
// before (no marker) keep skipping the step as DENIED.
constexpr char kUnverifiedAsksAgain[] = "offboarding.unverified_approval_asks_again";

struct LowRiskStep {
  const char* step;
  const char* action;
  const char* activity;
};
constexpr LowRiskStep kLowRiskSteps[] = {
    {"revoke_access", "access.revoke", kRevokeAccessActivity},
    {"export_billing", "billing.export", kExportBillingActivity},
    {"cancel_subscriptions", "subscriptions.cancel", kCancelSubscriptionsActivity},
};

av1::RequestApprovalRequest ApprovalRequest(const WorkflowContext& ctx, const std::string& action,
                                            const std::string& step, const std::string& customer_id,
                                            const google::protobuf::Struct& parameters, const std::string& requester) {
  av1::RequestApprovalRequest req;
  auto* a = req.mutable_action();
  a->set_action(action);
  a->set_resource("customer/" + customer_id);
  *a->mutable_parameters() = parameters;
  a->set_workflow_id(ctx.workflow_id());
  a->set_run_id(ctx.run_id());
  a->set_step(step);
  req.set_requester(requester);
  return req;
}

google::protobuf::Struct CustomerParameters(const std::string& customer_id) {
  google::protobuf::Struct s;
  (*s.mutable_fields())["customer_id"].set_string_value(customer_id);
  return s;
}

absl::Time TimeOf(const google::protobuf::Timestamp& ts) {
  return absl::FromUnixSeconds(ts.seconds()) + absl::Nanoseconds(ts.nanos());
}

absl::Status Unexpected(const std::string& action, cv1::Decision decision) {
  return WithMetadata(
      WithMetadata(FailedPrecondition("OFFBOARDING_DECISION_UNEXPECTED",
                                      absl::StrCat("the policy answered ", cv1::Decision_Name(decision), " for ",
                                                   action, "; the offboarding workflow cannot run it that way")),
                   "action", action),
      "decision", cv1::Decision_Name(decision));
}

// A low-risk step: the authority records the ALLOW decision, then the
// activity acts with the worker's own platform login.
Task<absl::Status> RunAllowedStep(WorkflowContext& ctx, LowRiskStep s, std::string customer_id, std::string requester,
                                  ActivityOptions ao, ov1::StepResult* out) {
  out->set_step(s.step);
  out->set_action(s.action);
  const av1::RequestApprovalRequest req =
      ApprovalRequest(ctx, s.action, s.step, customer_id, CustomerParameters(customer_id), requester);
  Future asked = ctx.ExecuteActivity(kRequestApprovalActivity, Pack(req), ao);
  Result decided = co_await asked;
  if (!decided.ok()) co_return decided.status();
  auto resp = Unpack<av1::RequestApprovalResponse>(*decided);
  if (!resp.ok()) co_return resp.status();
  if (resp->decision() != cv1::DECISION_ALLOW) co_return Unexpected(s.action, resp->decision());
  ov1::CustomerRef customer;
  customer.set_customer_id(customer_id);
  Future acted = ctx.ExecuteActivity(s.activity, Pack(customer), ao);
  Result done = co_await acted;
  if (!done.ok()) co_return done.status();
  auto effect = Unpack<ov1::StepEffect>(*done);
  if (!effect.ok()) co_return effect.status();
  out->set_outcome(ov1::STEP_OUTCOME_ALLOWED_DONE);
  *out->mutable_details() = effect->details();
  co_return absl::OkStatus();
}

// Asks the authority for an approval's state (the GetApproval activity):
// the only source of a decision the workflow acts on.
Task<absl::Status> LookUpApproval(WorkflowContext& ctx, std::string approval_id, ActivityOptions ao,
                                  cv1::ApprovalState* state, cv1::ErrorReason* reason, std::string* grant_id,
                                  ov1::StepResult* out) {
  Future looked = ctx.ExecuteActivity(kGetApprovalActivity, workflow::PackString(approval_id), ao);
  Result current = co_await looked;
  if (!current.ok()) co_return current.status();
  auto got = Unpack<av1::GetApprovalResponse>(*current);
  if (!got.ok()) co_return got.status();
  *state = got->approval().state();
  *reason = got->approval().state_reason();
  *grant_id = got->approval().grant_id();
  out->set_message(got->approval().state_message());
  co_return absl::OkStatus();
}

struct IrreversibleStep {
  std::string step;
  std::string action;
  std::string activity;
  std::string customer_id;
  google::protobuf::Struct parameters;
  std::string reason;
};

// An irreversible step: approval by the role the policy names, waited for
// durably, re-requested when it expires undecided or its answer fails
// verification (nobody decided either way); on approval one activity
// claims, acts and consumes. OK with out->outcome() APPROVED_DONE or
// DENIED; an error fails the run (after the last re-request:
// APPROVAL_EXPIRED, or the verification's reason when the last answer
// failed it).
Task<absl::Status> RunApprovedStep(WorkflowContext& ctx, IrreversibleStep s, std::string requester,
                                   OffboardingOptions opt, ActivityOptions ao, ov1::StepResult* out) {
  out->set_step(s.step);
  out->set_action(s.action);
  const int requests = 1 + std::max(0, opt.approval_rerequests);
  std::vector<std::string> asked_ids;
  bool last_unverified = false;
  for (int attempt = 1; attempt <= requests; ++attempt) {
    // RequestApproval is idempotent per (workflow, run, step, action): a
    // fresh approval needs a fresh step name.
    const std::string step = attempt == 1 ? s.step : absl::StrCat(s.step, ".attempt", attempt);
    av1::RequestApprovalRequest req = ApprovalRequest(ctx, s.action, step, s.customer_id, s.parameters, requester);
    req.mutable_approval_timeout()->set_seconds(absl::ToInt64Seconds(opt.approval_deadline));
    Future asked = ctx.ExecuteActivity(kRequestApprovalActivity, Pack(req), ao);
    Result answer = co_await asked;
    out->set_approval_requests(attempt);
    if (!answer.ok()) {
      if (answer.status().code() == absl::StatusCode::kPermissionDenied) {
        // The policy refused the action itself (e.g. an amount above its
        // limit): nobody is asked, nothing runs.
        out->set_outcome(ov1::STEP_OUTCOME_DENIED);
        out->set_message(absl::StrCat("refused by policy: ", GetReason(answer.status()).value_or(""), ": ",
                                      answer.status().message()));
        co_return absl::OkStatus();
      }
      co_return answer.status();
    }
    auto resp = Unpack<av1::RequestApprovalResponse>(*answer);
    if (!resp.ok()) co_return resp.status();
    if (resp->decision() != cv1::DECISION_REQUIRE_APPROVAL) co_return Unexpected(s.action, resp->decision());
    const cv1::Approval& approval = resp->approval();
    const std::string approval_id = approval.approval_id();
    asked_ids.push_back(approval_id);
    out->set_approval_id(approval_id);
    out->set_required_role(approval.required_role());
    cv1::ApprovalState state = approval.state();
    cv1::ErrorReason reason = approval.state_reason();
    std::string grant_id = approval.grant_id();

    // Wait for the authority's decision signal, which is only a wake-up:
    // what was decided is what the authority says when asked (GetApproval),
    // never what a signal's payload claims. Signals are buffered, so a
    // decision made before this point wakes it too; signals naming other
    // approvals (e.g. the EXPIRED of a previous attempt) are skipped unasked.
    const absl::Time wait_until = TimeOf(approval.expire_time()) + opt.decision_grace;
    bool asked_authority = false;
    while (state == cv1::APPROVAL_STATE_PENDING) {
      const absl::Duration left = wait_until - ctx.Now();
      if (left <= absl::ZeroDuration()) break;
      Future signal = ctx.WaitSignal(kApprovalDecidedSignal, left);
      Result got = co_await signal;
      if (!got.ok()) {
        if (got.status().code() == absl::StatusCode::kDeadlineExceeded) break;
        co_return got.status();  // cancelled
      }
      auto hint = Unpack<cv1::ApprovalDecidedSignal>(*got);
      if (!hint.ok() || hint->approval_id() != approval_id) continue;
      absl::Status looked = co_await LookUpApproval(ctx, approval_id, ao, &state, &reason, &grant_id, out);
      if (!looked.ok()) co_return looked;
      asked_authority = true;
    }
    if (state == cv1::APPROVAL_STATE_PENDING ||
        (!asked_authority && (state == cv1::APPROVAL_STATE_DENIED || state == cv1::APPROVAL_STATE_INVALID))) {
      // No decision by the deadline (ask before giving up on it), or a
      // refusal known from the request only (read its message).
      absl::Status looked = co_await LookUpApproval(ctx, approval_id, ao, &state, &reason, &grant_id, out);
      if (!looked.ok()) co_return looked;
    }
    out->set_approval_state(state);
    out->set_approval_reason(reason);

    if (state == cv1::APPROVAL_STATE_APPROVED) {
      ov1::GuardedAction guarded;
      *guarded.mutable_action() = req.action();
      guarded.set_grant_id(grant_id);
      guarded.set_approval_id(approval_id);
      guarded.set_reason(s.reason);
      Future acted = ctx.ExecuteActivity(s.activity, Pack(guarded), ao);
      Result done = co_await acted;
      if (!done.ok()) co_return done.status();
      auto effect = Unpack<ov1::StepEffect>(*done);
      if (!effect.ok()) co_return effect.status();
      out->set_outcome(ov1::STEP_OUTCOME_APPROVED_DONE);
      out->set_grant_id(grant_id);
      out->set_approver_subject(effect->approver_subject());
      *out->mutable_details() = effect->details();
      co_return absl::OkStatus();
    }
    if (state == cv1::APPROVAL_STATE_EXPIRED || state == cv1::APPROVAL_STATE_PENDING) {
      last_unverified = false;
      continue;
    }
    // INVALID: the answer failed verification (not the approver's token,
    // no role, the provider's error). Only a human's denial is a denial:
    // ask again like an expiry.
    if (state == cv1::APPROVAL_STATE_INVALID &&
        ctx.GetVersion(kUnverifiedAsksAgain, workflow::kDefaultVersion, 1) == 1) {
      last_unverified = true;
      continue;
    }
    // DENIED, CANCELLED: a decision; skip.
    out->set_outcome(ov1::STEP_OUTCOME_DENIED);
    co_return absl::OkStatus();
  }
  if (last_unverified) {
    out->set_outcome(ov1::STEP_OUTCOME_UNVERIFIED);
    const std::string reason = cv1::ErrorReason_Name(out->approval_reason());
    co_return WithMetadata(
        WithReason(absl::PermissionDeniedError(absl::StrCat(
                       s.action, " was not approved by a verified ", out->required_role(), ": the last answer failed ",
                       "verification (", reason, ": ", out->message(), "); requested ", requests,
                       " time(s) (approvals ", absl::StrJoin(asked_ids, ", "), "), nobody denied it")),
                   reason),
        "step", s.step);
  }
  out->set_outcome(ov1::STEP_OUTCOME_EXPIRED);
  co_return WithMetadata(WithReason(absl::DeadlineExceededError(absl::StrCat(
                                        s.action, " was not decided by a ", out->required_role(), " within ",
                                        absl::FormatDuration(opt.approval_deadline), ", requested ", requests,
                                        " time(s) (approvals ", absl::StrJoin(asked_ids, ", "), ")",
                                        out->message().empty() ? "" : absl::StrCat("; the last: ", out->message()))),
                                    "APPROVAL_EXPIRED"),
                         "step", s.step);
}

// The run failed at a step: keep the reason, say what had run.
absl::Status FailedAt(const absl::Status& cause, const ov1::OffboardingResult& result) {
  std::vector<std::string> steps;
  for (const auto& s : result.steps()) {
    steps.push_back(absl::StrCat(s.step(), "=", ov1::StepOutcome_Name(s.outcome()).substr(13)));
  }
  absl::Status out(cause.code(), absl::StrCat(cause.message(), " [steps: ", absl::StrJoin(steps, ", "), "]"));
  if (auto reason = GetReason(cause)) out = WithReason(std::move(out), *reason);
  return out;
}

Task<Result> Offboarding(WorkflowContext& ctx, Payload payload, OffboardingOptions opt) {
  // The customer is the one the ops manager approved, from the run's
  // admission record; a run whose input names anyone else (or that was
  // never admitted with parameters) fails here, before any step.
  auto approved = workflow::ApprovedParameters(workflow_types::CustomerOffboarding(), payload, ctx.admission());
  if (!approved.ok()) co_return approved.status();
  auto approved_customer = approved->fields().find("customer_id");
  if (approved_customer == approved->fields().end() || approved_customer->second.string_value().empty()) {
    co_return FailedPrecondition("WORKFLOW_INPUT_NOT_APPROVED", "the admission approved no customer");
  }
  const std::string customer_id = approved_customer->second.string_value();
  auto input = Unpack<ov1::OffboardingInput>(payload);
  if (!input.ok()) co_return InvalidArgument("input", input.status().message());
  if (input->refund_amount_cents() < 0) co_return InvalidArgument("input.refund_amount_cents", "must be >= 0");
  // The recorded starter (the operator the gateway authenticated) wins over
  // whatever the input says.
  const std::string requester = ctx.requester().empty() ? input->requester() : ctx.requester();
  if (requester.empty()) co_return InvalidArgument("requester", "the run names no requester");

  ActivityOptions ao;
  ao.start_to_close_timeout = opt.activity_timeout;
  ao.initial_interval = absl::Seconds(1);
  ao.maximum_interval = absl::Minutes(1);

  ov1::OffboardingResult result;
  result.set_customer_id(customer_id);
  for (const LowRiskStep& s : kLowRiskSteps) {
    ov1::StepResult* step = result.add_steps();
    absl::Status st = co_await RunAllowedStep(ctx, s, customer_id, requester, ao, step);
    if (!st.ok()) co_return FailedAt(st, result);
  }
  const auto& cancel = result.steps(2).details();

  // Refund: given at start, or the unused part of the canceled periods.
  int64_t amount = input->refund_amount_cents();
  if (amount == 0 && cancel.count("refundable_cents") > 0) amount = std::stoll(cancel.at("refundable_cents"));
  const std::string currency = cancel.count("currency") > 0 ? cancel.at("currency") : "EUR";
  ov1::StepResult* refund = result.add_steps();
  if (amount <= 0) {
    refund->set_step("issue_refund");
    refund->set_action("refund.issue");
    refund->set_outcome(ov1::STEP_OUTCOME_SKIPPED);
    refund->set_message("nothing to refund: no unused paid period");
  } else {
    IrreversibleStep s{"issue_refund", "refund.issue", kIssueRefundActivity, customer_id, {}, input->reason()};
    (*s.parameters.mutable_fields())["customer_id"].set_string_value(customer_id);
    (*s.parameters.mutable_fields())["amount_cents"].set_number_value(static_cast<double>(amount));
    (*s.parameters.mutable_fields())["currency"].set_string_value(currency);
    absl::Status st = co_await RunApprovedStep(ctx, s, requester, opt, ao, refund);
    if (!st.ok()) co_return FailedAt(st, result);
  }

  ov1::StepResult* erase = result.add_steps();
  IrreversibleStep d{"delete_customer_data",          "customer_data.delete", kEraseCustomerDataActivity, customer_id,
                     CustomerParameters(customer_id), input->reason()};
  absl::Status st = co_await RunApprovedStep(ctx, d, requester, opt, ao, erase);
  if (!st.ok()) co_return FailedAt(st, result);

  result.set_status(ov1::OFFBOARDING_STATUS_COMPLETED);
  for (const auto& s : result.steps()) {
    if (s.outcome() == ov1::STEP_OUTCOME_DENIED) {
      result.add_denied_steps(s.step());
      result.set_status(ov1::OFFBOARDING_STATUS_PARTIALLY_DENIED);
    }
  }
  co_return Pack(result);
}

}  // namespace

absl::Status RegisterOffboarding(workflow::Registry& registry, AuthorityClient& authority, CustomerPlatform& platform,
                                 OffboardingOptions options) {
  if (options.approval_deadline < absl::Minutes(1) || options.approval_deadline > absl::Hours(7 * 24)) {
    return InvalidArgument("approval-deadline", "must be between 1 minute and 7 days");
  }
  CANTDO_RETURN_IF_ERROR(RegisterOffboardingActivities(registry, authority, platform));
  return registry.RegisterWorkflow(kOffboardingWorkflowType, [options](WorkflowContext& ctx, const Payload& in) {
    return Offboarding(ctx, in, options);
  });
}

}  // namespace cantdo::worker
