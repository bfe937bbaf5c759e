#include "worker/offboarding_activities.hpp"

#include <google/protobuf/wrappers.pb.h>

#include <map>

#include "absl/strings/str_cat.h"
#include "cantdo/base/ids.hpp"
#include "cantdo/base/log.hpp"
#include "cantdo/base/status.hpp"
#include "cantdo/workflow/payload.hpp"
#include "worker/fail_point.hpp"

namespace cantdo::worker {
namespace {

namespace av1 = authority::v1;
namespace cv1 = common::v1;
namespace ov1 = offboarding::v1;
using workflow::ActivityContext;
using workflow::Pack;
using workflow::Payload;
using workflow::Result;
using workflow::Unpack;

// Errors that another attempt can outlive are retried; the rest end the
// activity at once (the workflow then decides).
absl::Status Classify(absl::Status s) {
  switch (s.code()) {
    case absl::StatusCode::kUnavailable:
    case absl::StatusCode::kDeadlineExceeded:
    case absl::StatusCode::kAborted:
    case absl::StatusCode::kResourceExhausted:
    case absl::StatusCode::kUnknown:
      return s;
    default:
      return workflow::NonRetryable(std::move(s));
  }
}

template <typename T>
absl::StatusOr<T> Input(const Payload& p) {
  auto v = Unpack<T>(p);
  if (!v.ok()) return workflow::NonRetryable(v.status());
  return v;
}

// ClaimGrant wants 1-128 printable ASCII characters.
std::string ClaimKey(const std::string& idempotency_key) {
  if (idempotency_key.size() <= 128) return idempotency_key;
  return "sha256:" + Sha256Hex(idempotency_key);
}

// The outcome digest: SHA-256 over the effect's details in key order.
std::string Digest(const StepEffect& effect) {
  std::map<std::string, std::string> sorted(effect.details().begin(), effect.details().end());
  std::string text;
  for (const auto& [k, v] : sorted) absl::StrAppend(&text, k, "=", v, "\n");
  return Sha256Hex(text);
}

std::string StringParam(const cv1::ActionRef& a, const std::string& key) {
  auto it = a.parameters().fields().find(key);
  return it == a.parameters().fields().end() ? "" : it->second.string_value();
}

int64_t IntParam(const cv1::ActionRef& a, const std::string& key) {
  auto it = a.parameters().fields().find(key);
  return it == a.parameters().fields().end() ? 0 : static_cast<int64_t>(it->second.number_value());
}

// Both act on `approved`, the grant's action exactly as approved (what
// ClaimGrant answers with, from the authority's record of the approval),
// never on the values the activity was handed.
using ActWithCredential = std::function<absl::StatusOr<StepEffect>(pg::Connection&, const cv1::ActionRef& approved)>;
using FindEarlier = std::function<absl::StatusOr<std::optional<StepEffect>>(const cv1::ActionRef& approved)>;

// Claim -> act with the released credential -> consume. See the header.
absl::StatusOr<StepEffect> RunGuarded(AuthorityClient& authority, ActivityContext& ctx, const ov1::GuardedAction& in,
                                      const std::string& fail_point, const ActWithCredential& act,
                                      const FindEarlier& find_earlier, const std::string& platform_dsn) {
  av1::ClaimGrantRequest claim_request;
  claim_request.set_grant_id(in.grant_id());
  *claim_request.mutable_action() = in.action();
  claim_request.set_idempotency_key(ClaimKey(ctx.idempotency_key()));
  auto claim = authority.ClaimGrant(claim_request);
  if (!claim.ok()) {
    if (GetReason(claim.status()).value_or("") == "GRANT_ALREADY_CONSUMED") {
      // Consumed by an earlier attempt of this very activity that died
      // before its result was recorded: its write is there, found by the
      // approved values in the authority's record of this grant's approval.
      auto approval = authority.GetApproval(in.approval_id());
      if (!approval.ok()) return Classify(approval.status());
      if (approval->approval().grant_id() != in.grant_id()) return Classify(claim.status());
      CANTDO_ASSIGN_OR_RETURN(std::optional<StepEffect> earlier, find_earlier(approval->approval().action()));
      if (earlier.has_value()) {
        if (approval->approval().approvers_size() > 0) {
          earlier->set_approver_subject(approval->approval().approvers(0).subject());
        }
        log::Info("guarded action already done by an earlier attempt",
                  {{"grant_id", in.grant_id()}, {"activity", ctx.info().activity_type}});
        return *earlier;
      }
    }
    return Classify(claim.status());
  }
  if (claim->credential().kind() != cv1::EXECUTION_CREDENTIAL_KIND_POSTGRES_ROLE) {
    return workflow::NonRetryable(
        FailedPrecondition("CREDENTIAL_UNAVAILABLE", "the grant released no database credential for the platform"));
  }
  const std::string approver =
      claim->grant().approver_subjects_size() > 0 ? claim->grant().approver_subjects(0) : std::string();
  absl::StatusOr<StepEffect> effect;
  {
    auto conn =
        pg::Connection::Connect(DsnForLogin(claim->credential().postgres_login(), platform_dsn), absl::Seconds(10));
    if (!conn.ok()) return Classify(conn.status());
    effect = act(**conn, claim->action());
  }  // closed before the consume drops the login
  if (!effect.ok()) return Classify(effect.status());
  FailPoint(fail_point);
  av1::ConsumeGrantRequest consume;
  consume.set_grant_id(in.grant_id());
  consume.set_outcome_digest(Digest(*effect));
  auto consumed = authority.ConsumeGrant(consume);
  if (!consumed.ok()) return Classify(consumed.status());
  effect->set_approver_subject(approver);
  log::Info("guarded action done", {{"grant_id", in.grant_id()},
                                    {"action", claim->action().action()},
                                    {"activity", ctx.info().activity_type},
                                    {"run_id", ctx.info().run_id}});
  return effect;
}

Result PackEffect(absl::StatusOr<StepEffect> effect) {
  if (!effect.ok()) return Classify(effect.status());
  return Pack(*effect);
}

}  // namespace

absl::Status RegisterOffboardingActivities(workflow::Registry& registry, AuthorityClient& authority,
                                           CustomerPlatform& platform) {
  CANTDO_RETURN_IF_ERROR(
      registry.RegisterActivity(kRequestApprovalActivity, [&authority](ActivityContext&, const Payload& p) -> Result {
        CANTDO_ASSIGN_OR_RETURN(auto req, Input<av1::RequestApprovalRequest>(p));
        auto resp = authority.RequestApproval(req);
        if (!resp.ok()) return Classify(resp.status());
        return Pack(*resp);
      }));
  CANTDO_RETURN_IF_ERROR(
      registry.RegisterActivity(kGetApprovalActivity, [&authority](ActivityContext&, const Payload& p) -> Result {
        CANTDO_ASSIGN_OR_RETURN(auto id, Input<google::protobuf::StringValue>(p));
        auto resp = authority.GetApproval(id.value());
        if (!resp.ok()) return Classify(resp.status());
        return Pack(*resp);
      }));
  CANTDO_RETURN_IF_ERROR(
      registry.RegisterActivity(kRevokeAccessActivity, [&platform](ActivityContext&, const Payload& p) -> Result {
        CANTDO_ASSIGN_OR_RETURN(auto in, Input<ov1::CustomerRef>(p));
        return PackEffect(platform.RevokeAccess(in.customer_id()));
      }));
  CANTDO_RETURN_IF_ERROR(
      registry.RegisterActivity(kExportBillingActivity, [&platform](ActivityContext& ctx, const Payload& p) -> Result {
        CANTDO_ASSIGN_OR_RETURN(auto in, Input<ov1::CustomerRef>(p));
        return PackEffect(platform.ExportBilling(in.customer_id(), ctx.idempotency_key()));
      }));
  CANTDO_RETURN_IF_ERROR(registry.RegisterActivity(kCancelSubscriptionsActivity,
                                                   [&platform](ActivityContext&, const Payload& p) -> Result {
                                                     CANTDO_ASSIGN_OR_RETURN(auto in, Input<ov1::CustomerRef>(p));
                                                     return PackEffect(platform.CancelSubscriptions(in.customer_id()));
                                                   }));
  CANTDO_RETURN_IF_ERROR(registry.RegisterActivity(
      kIssueRefundActivity, [&authority, &platform](ActivityContext& ctx, const Payload& p) -> Result {
        CANTDO_ASSIGN_OR_RETURN(auto in, Input<ov1::GuardedAction>(p));
        const std::string reason =
            in.reason().empty() ? "customer offboarding: unused subscription period" : in.reason();
        const std::string key = ctx.idempotency_key();
        return PackEffect(RunGuarded(
            authority, ctx, in, "offboarding.issue_refund.after_write",
            [&](pg::Connection& conn, const cv1::ActionRef& approved) {
              RefundRecord refund;
              refund.customer_id = StringParam(approved, "customer_id");
              refund.amount_cents = IntParam(approved, "amount_cents");
              refund.currency = StringParam(approved, "currency");
              refund.reason = reason;
              refund.idempotency_key = key;
              return CustomerPlatform::WriteRefund(conn, refund);
            },
            [&](const cv1::ActionRef&) { return platform.FindRefund(key); }, platform.Dsn()));
      }));
  CANTDO_RETURN_IF_ERROR(registry.RegisterActivity(
      kEraseCustomerDataActivity, [&authority, &platform](ActivityContext& ctx, const Payload& p) -> Result {
        CANTDO_ASSIGN_OR_RETURN(auto in, Input<ov1::GuardedAction>(p));
        const std::string key = ctx.idempotency_key();
        return PackEffect(RunGuarded(
            authority, ctx, in, "offboarding.erase_customer_data.after_write",
            [&](pg::Connection& conn, const cv1::ActionRef& approved) {
              return CustomerPlatform::EraseCustomer(conn, ErasureRecord{StringParam(approved, "customer_id"), key});
            },
            [&](const cv1::ActionRef& approved) { return platform.FindErasure(StringParam(approved, "customer_id")); },
            platform.Dsn()));
      }));
  return absl::OkStatus();
}

}  // namespace cantdo::worker
