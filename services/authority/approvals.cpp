#include "authority/approvals.hpp"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "authority/approval_limits.hpp"
#include "authority/binding_message.hpp"
#include "authority/grant_store.hpp"
#include "authority/ledger.hpp"
#include "authority/ledger_records.hpp"
#include "authority/parameters.hpp"
#include "authority/pg_time.hpp"
#include "cantdo/base/ids.hpp"
#include "cantdo/base/log.hpp"
#include "cantdo/base/status.hpp"
#include "cantdo/base/trace_context.hpp"
#include "cantdo/pg/transaction.hpp"

namespace cantdo::authority {
namespace {

namespace cv1 = common::v1;

// How long a dispatch attempt holds an approval before another replica (or
// the next sweep) may try again.
constexpr absl::Duration kDispatchLease = absl::Seconds(30);

// The approver for `role`: the first in the directory who is not the
// requester (separation of duties), or a refusal.
absl::StatusOr<std::string> ChooseApprover(const Policy& policy, const std::string& role, const std::string& requester,
                                           const std::string& issuer) {
  const auto& candidates = policy.Approvers(role);
  for (const auto& s : candidates) {
    if (s != requester && absl::StrCat("user:", issuer, "#", s) != requester) return s;
  }
  if (candidates.empty()) {
    return PermissionDenied("POLICY_NO_APPROVER", absl::StrCat("no approver has role '", role, "'"));
  }
  return PermissionDenied("POLICY_SELF_APPROVAL",
                          "the only approver for this action is its requester (separation of duties)");
}

}  // namespace

Approvals::Approvals(pg::Pool& pool, Clock& clock, const Policy& policy, const auth::JwtVerifier& tokens,
                     ApprovalsOptions options, DecisionSink* sink, BridgeStarter* bridge, AuthorityMetrics& metrics)
    : pool_(pool),
      clock_(clock),
      policy_(policy),
      tokens_(tokens),
      verifier_(policy, options.verifier),
      options_(std::move(options)),
      sink_(sink),
      bridge_(bridge),
      metrics_(metrics) {}

absl::StatusOr<v1::RequestApprovalResponse> Approvals::Request(const Caller& caller,
                                                               const v1::RequestApprovalRequest& req) {
  const cv1::ActionRef& action = req.action();
  CANTDO_ASSIGN_OR_RETURN(CanonicalParameters params, CanonicaliseParameters(action.parameters()));
  const nlohmann::json params_doc = nlohmann::json::parse(params.json);
  const absl::Time now = clock_.Now();

  LedgerRecord decision;
  decision.kind = cv1::LEDGER_EVENT_KIND_DECISION;
  decision.actor = caller.principal();
  decision.acting_service = caller.identity;
  decision.action = action.action();
  decision.resource = action.resource();
  decision.parameters_hash = params.sha256;
  decision.workflow_id = action.workflow_id();
  decision.run_id = action.run_id();
  decision.step = action.step();
  decision.policy_version = policy_.version();
  decision.policy_hash = policy_.hash();
  decision.detail = {{"requester", req.requester()}};

  v1::RequestApprovalResponse resp;
  resp.set_policy_version(policy_.version());
  resp.set_policy_hash(policy_.hash());
  resp.set_parameters_hash(params.sha256);

  absl::StatusOr<Classification> cls = policy_.Classify(action.action(), action.resource(), params_doc);
  std::string approver;
  if (cls.ok() && cls->decision == cv1::DECISION_REQUIRE_APPROVAL) {
    absl::StatusOr<std::string> chosen =
        ChooseApprover(policy_, cls->rule->required_role(), req.requester(), options_.issuer);
    if (chosen.ok()) {
      approver = *chosen;
    } else {
      cls = chosen.status();
    }
  }

  if (!cls.ok() || cls->decision == cv1::DECISION_ALLOW) {
    // Denied by policy (recorded, then refused), or allowed (recorded).
    if (cls.ok()) {
      decision.decision = cv1::DECISION_ALLOW;
    } else {
      decision.decision = cv1::DECISION_DENY;
      decision.reason = GetReason(cls.status()).value_or("POLICY_ACTION_UNKNOWN");
      decision.detail["message"] = std::string(cls.status().message());
    }
    int64_t entry = 0;
    CANTDO_RETURN_IF_ERROR(pg::RunInTransaction(pool_, {}, [&](pg::Connection& tx) -> absl::Status {
      CANTDO_ASSIGN_OR_RETURN(entry, Ledger::Append(tx, decision, now));
      return absl::OkStatus();
    }));
    metrics_.Decided(action.action(), decision.decision);
    CANTDO_RETURN_IF_ERROR(cls.status());
    resp.set_decision(cv1::DECISION_ALLOW);
    resp.set_ledger_entry_id(entry);
    return resp;
  }

  // REQUIRE_APPROVAL: open (or find) the approval.
  absl::Duration timeout = cls->approval_timeout;
  if (req.has_approval_timeout()) timeout = std::min(timeout, absl::Seconds(req.approval_timeout().seconds()));
  NewApproval fresh;
  fresh.approval_id = NewUuid();
  fresh.principal = caller.principal();
  fresh.requester = req.requester();
  fresh.action = action;
  fresh.parameters_json = params.json;
  fresh.parameters_hash = params.sha256;
  fresh.required_role = cls->rule->required_role();
  fresh.approver_subject = approver;
  CANTDO_ASSIGN_OR_RETURN(fresh.binding_message, cls->binding->Compose(params_doc, BindingCode(fresh.approval_id)));
  fresh.policy_version = policy_.version();
  fresh.policy_hash = policy_.hash();
  fresh.create_time = now;
  fresh.expire_time = now + timeout;
  fresh.accountable = AccountablePrincipal(caller, req.requester());
  // Only an external principal's approvals collapse: a workflow run waits
  // for, and claims the grant of, an approval bound to that run.
  fresh.collapsible = !caller.on_behalf_of.empty();
  fresh.traceparent = trace::CurrentTraceparent();
  absl::Status refusal;
  cv1::Decision recorded = cv1::DECISION_UNSPECIFIED;
  CANTDO_RETURN_IF_ERROR(pg::RunInTransaction(pool_, {}, [&](pg::Connection& tx) -> absl::Status {
    refusal = absl::OkStatus();
    recorded = cv1::DECISION_UNSPECIFIED;
    CANTDO_ASSIGN_OR_RETURN(RequestScope scope, ApprovalStore::LockAndRead(tx, fresh, policy_.limits(), now));
    bool created = false;
    ApprovalRow row;
    if (scope.existing) {
      row = *std::move(scope.existing);
    } else {
      // Only a request that would ring someone is limited.
      refusal = RefuseOverLimit(tx, fresh, scope.facts, decision, now);
      if (!refusal.ok()) {
        recorded = cv1::DECISION_DENY;
        return absl::OkStatus();
      }
      CANTDO_ASSIGN_OR_RETURN(row, ApprovalStore::InsertOrFind(tx, fresh, &created));
    }
    if (!created &&
        (row.proto.parameters_hash() != params.sha256 || row.proto.action().resource() != action.resource())) {
      refusal = WithReason(
          absl::AlreadyExistsError("this (workflow, run, step, action) already has an approval for other parameters"),
          "IDEMPOTENCY_KEY_REUSED");
      return absl::OkStatus();
    }
    resp.set_created(created);
    resp.set_decision(cv1::DECISION_REQUIRE_APPROVAL);
    *resp.mutable_approval() = row.proto;
    if (!row.proto.grant_id().empty()) {
      CANTDO_ASSIGN_OR_RETURN(auto g, GrantStore::Load(tx, row.proto.grant_id(), false));
      if (g) *resp.mutable_grant() = g->proto;
    }
    if (created) {
      decision.decision = cv1::DECISION_REQUIRE_APPROVAL;
      decision.approval_id = fresh.approval_id;
      decision.detail["required_role"] = fresh.required_role;
      CANTDO_ASSIGN_OR_RETURN(int64_t entry, Ledger::Append(tx, decision, now));
      resp.set_ledger_entry_id(entry);
      LedgerRecord requested = ApprovalRecord(cv1::LEDGER_EVENT_KIND_APPROVAL_REQUESTED, caller.principal(), row.proto);
      requested.acting_service = caller.identity;
      requested.detail = {{"approver", approver}, {"binding_message", fresh.binding_message}};
      CANTDO_RETURN_IF_ERROR(Ledger::Append(tx, requested, now).status());
      recorded = cv1::DECISION_REQUIRE_APPROVAL;
    }
    return absl::OkStatus();
  }));
  if (recorded != cv1::DECISION_UNSPECIFIED) metrics_.Decided(action.action(), recorded);
  CANTDO_RETURN_IF_ERROR(refusal);
  // Best effort now; the dispatcher retries whatever this does not send.
  if (resp.created() && bridge_ != nullptr) (void)DispatchPending(1);
  return resp;
}

absl::Status Approvals::RefuseOverLimit(pg::Connection& tx, const NewApproval& fresh, const LimitFacts& facts,
                                        const LedgerRecord& decision, absl::Time now) {
  absl::Status limited = CheckLimits(policy_.limits(), facts, now, fresh.accountable, fresh.required_role);
  if (limited.ok()) return limited;
  LedgerRecord denied = decision;
  denied.decision = cv1::DECISION_DENY;
  denied.reason = GetReason(limited).value_or("INTERNAL_ERROR");
  for (const auto& [key, value] : GetMetadata(limited)) denied.detail[key] = value;
  denied.detail["approver"] = fresh.approver_subject;
  denied.detail["message"] = std::string(limited.message());
  CANTDO_RETURN_IF_ERROR(Ledger::Append(tx, denied, now).status());
  return limited;
}

absl::StatusOr<v1::GetApprovalResponse> Approvals::Get(const Caller& caller, const std::string& approval_id,
                                                       bool any_principal) {
  CANTDO_ASSIGN_OR_RETURN(auto conn, pool_.Acquire(absl::Now() + absl::Seconds(10)));
  CANTDO_ASSIGN_OR_RETURN(auto row, ApprovalStore::Load(*conn, approval_id, false));
  if (!row || (!any_principal && row->proto.principal() != caller.principal())) {
    return WithReason(absl::NotFoundError(absl::StrCat("no approval ", approval_id)), "APPROVAL_NOT_FOUND");
  }
  v1::GetApprovalResponse resp;
  *resp.mutable_approval() = row->proto;
  if (!row->proto.grant_id().empty()) {
    CANTDO_ASSIGN_OR_RETURN(auto g, GrantStore::Load(*conn, row->proto.grant_id(), false));
    if (g) *resp.mutable_grant() = g->proto;
  }
  return resp;
}

absl::StatusOr<v1::CompleteApprovalResponse> Approvals::Complete(const v1::CompleteApprovalRequest& req) {
  v1::CompleteApprovalResponse resp;
  absl::Status refusal;
  Decided decided;
  CANTDO_RETURN_IF_ERROR(pg::RunInTransaction(pool_, {}, [&](pg::Connection& tx) -> absl::Status {
    resp.Clear();
    refusal = absl::OkStatus();
    decided = Decided();
    return Decide(tx, req, &resp, &refusal, &decided);
  }));
  if (!decided.outcome.empty()) metrics_.ApprovalClosed(decided.action, decided.outcome);
  if (decided.asked_again) metrics_.ApprovalAskedAgain();
  if (decided.minted) metrics_.Grant(GrantTransition::kIssued);
  CANTDO_RETURN_IF_ERROR(refusal);
  return resp;
}

absl::Status Approvals::Decide(pg::Connection& tx, const v1::CompleteApprovalRequest& req,
                               v1::CompleteApprovalResponse* out, absl::Status* refusal, Decided* decided) {
  const absl::Time now = clock_.Now();
  const std::string& approval_id = req.approval_id();
  CANTDO_ASSIGN_OR_RETURN(auto row, ApprovalStore::Load(tx, approval_id, /*lock=*/true));
  if (!row) {
    *refusal = WithReason(absl::NotFoundError(absl::StrCat("no approval ", approval_id)), "APPROVAL_NOT_FOUND");
    return absl::OkStatus();
  }
  const cv1::Approval& a = row->proto;

  // A result already recorded for this auth_req_id: answer as before.
  CANTDO_ASSIGN_OR_RETURN(auto prior, ApprovalStore::FindResult(tx, approval_id, req.auth_req_id()));
  if (prior) {
    if (!prior->verified && req.outcome() == v1::CIBA_OUTCOME_APPROVED && !prior->reason.empty()) {
      *refusal = PermissionDenied(prior->reason, prior->message);
      return absl::OkStatus();
    }
    out->set_already_recorded(true);
    *out->mutable_approval() = a;
    if (!a.grant_id().empty()) {
      CANTDO_ASSIGN_OR_RETURN(auto g, GrantStore::Load(tx, a.grant_id(), false));
      if (g) *out->mutable_grant() = g->proto;
    }
    return absl::OkStatus();
  }

  if (row->auth_req_id.empty()) {
    // The bridge answered before we recorded its auth_req_id (a fast
    // approver): nothing to compare with yet. Retryable; nothing recorded.
    return Unavailable("DEPENDENCY_UNAVAILABLE", "this approval's CIBA request is not recorded yet; retry shortly");
  }
  if (row->auth_req_id != req.auth_req_id()) {
    LedgerRecord rec = ApprovalRecord(cv1::LEDGER_EVENT_KIND_APPROVAL_REJECTED, kBridgeId, a);
    rec.reason = "APPROVAL_REQUEST_MISMATCH";
    rec.detail = {{"message", "result for an auth_req_id this approval did not open"}};
    CANTDO_RETURN_IF_ERROR(Ledger::Append(tx, rec, now).status());
    *refusal = PermissionDenied("APPROVAL_REQUEST_MISMATCH",
                                "this auth_req_id was not opened for this approval; the approval is unchanged");
    return absl::OkStatus();
  }
  if (a.state() != cv1::APPROVAL_STATE_PENDING) {
    *refusal = FailedPrecondition("APPROVAL_ALREADY_DECIDED",
                                  absl::StrCat("approval is already ", cv1::ApprovalState_Name(a.state())));
    return absl::OkStatus();
  }

  ApprovalResult result;
  result.approval_id = approval_id;
  result.auth_req_id = req.auth_req_id();
  result.outcome = v1::CibaOutcome_Name(req.outcome());
  result.receive_time = now;
  std::string new_state;
  switch (req.outcome()) {
    case v1::CIBA_OUTCOME_APPROVED: {
      result.id_token = req.id_token();
      result.id_token_sha256 = Sha256Hex(req.id_token());
      absl::StatusOr<auth::VerifiedToken> token = tokens_.Verify(req.id_token());
      if (!token.ok() && token.status().code() != absl::StatusCode::kPermissionDenied) {
        return token.status();  // e.g. keys unreachable: record nothing, the bridge retries
      }
      absl::Status check = token.status();
      if (check.ok()) {
        result.subject = token->subject;
        result.token_id = TokenId(*token);
        check = verifier_.Check(
            {a.required_role(), row->approver_subject, a.requester(), row->auth_req_id, row->dispatch_time}, *token);
      }
      if (check.ok() && policy_.RuleFor(a.action().action(), a.action().resource()) == nullptr) {
        check = PermissionDenied("POLICY_ACTION_UNKNOWN", "the policy in force has no rule for this action any more");
      }
      if (check.ok() && !result.token_id.empty()) {
        // The provider made the token distinguishable: it approves once.
        CANTDO_ASSIGN_OR_RETURN(bool used, ApprovalStore::TokenApprovedBefore(tx, result.token_id));
        if (used)
          check = PermissionDenied("APPROVAL_REQUEST_MISMATCH", "this ID token already approved another request");
      } else if (check.ok()) {
        // Identical tokens for several requests exist only for requests
        // that were all pending when the provider issued them: one that
        // already approved something approves only requests sent before.
        CANTDO_ASSIGN_OR_RETURN(std::optional<absl::Time> first,
                                ApprovalStore::FirstApprovalBy(tx, result.id_token_sha256));
        if (first && row->dispatch_time >= *first) {
          check = PermissionDenied("APPROVAL_REQUEST_MISMATCH",
                                   "this ID token already approved a request, before this one was sent");
        }
      }
      if (check.ok()) {
        result.verified = true;
        new_state = "APPROVED";
      } else {
        new_state = "INVALID";
        result.reason = GetReason(check).value_or("ID_TOKEN_MALFORMED");
        result.message = std::string(check.message());
        *refusal = check;
      }
      break;
    }
    case v1::CIBA_OUTCOME_DENIED:
      new_state = "DENIED", result.reason = "APPROVAL_DENIED", result.message = "the approver denied the request";
      break;
    case v1::CIBA_OUTCOME_EXPIRED:
    case v1::CIBA_OUTCOME_LOST: {
      // The provider's request ended and nobody decided: not a denial. Ask
      // again while the approval's own deadline allows.
      CANTDO_ASSIGN_OR_RETURN(bool asked, AskAgain(tx, *row, req, result, now, out));
      if (asked) {
        decided->asked_again = true;
        return absl::OkStatus();
      }
      new_state = "EXPIRED", result.reason = "APPROVAL_EXPIRED";
      result.message =
          absl::StrCat("the provider ended the request unanswered (",
                       req.provider_error().empty() ? "expired" : req.provider_error(),
                       ") and too little of the approval's time is left to ask again; the approver was asked ",
                       row->ask, " time(s)");
      break;
    }
    default:
      new_state = "INVALID", result.reason = "APPROVAL_PROVIDER_FAILED";
      result.message = absl::StrCat("identity provider error: ", req.provider_error());
  }
  if (absl::Status recorded = ApprovalStore::RecordResult(tx, result); !recorded.ok()) {
    // The same distinguishable token won a concurrent delivery for another
    // approval: retryable, and the retry is refused with the final answer
    // (a final ALREADY_EXISTS here once left approvals PENDING forever).
    if (absl::IsAlreadyExists(recorded)) {
      return WithReason(absl::AbortedError("a concurrent result carried the same ID token; retry"),
                        "APPROVAL_RESULT_CONFLICT");
    }
    return recorded;
  }

  std::string grant_id;
  if (result.verified) {
    CANTDO_ASSIGN_OR_RETURN(grant_id, Mint(tx, *row, result.subject, now));
  }
  CANTDO_RETURN_IF_ERROR(
      ApprovalStore::Decide(tx, approval_id, new_state, result.reason, result.message, now, grant_id));
  CANTDO_ASSIGN_OR_RETURN(row, ApprovalStore::Load(tx, approval_id, false));
  *out->mutable_approval() = row->proto;
  if (result.verified) {
    auto* v = out->mutable_approval()->add_approvers();
    v->set_issuer(options_.issuer);
    v->set_subject(result.subject);
    v->set_role(a.required_role());
    v->set_auth_req_id(req.auth_req_id());
    v->set_id_token_sha256(result.id_token_sha256);
    v->mutable_verify_time()->set_seconds(absl::ToUnixSeconds(now));
  }

  LedgerRecord rec = ApprovalRecord(
      result.verified ? cv1::LEDGER_EVENT_KIND_APPROVAL_VERIFIED : cv1::LEDGER_EVENT_KIND_APPROVAL_REJECTED, kBridgeId,
      row->proto);
  rec.reason = result.reason;
  rec.detail = {{"outcome", result.outcome}, {"auth_req_id", req.auth_req_id()}};
  if (!result.subject.empty()) rec.detail["approver"] = result.subject;
  if (!result.id_token_sha256.empty()) rec.detail["id_token_sha256"] = result.id_token_sha256;
  if (!result.message.empty()) rec.detail["message"] = result.message;
  CANTDO_ASSIGN_OR_RETURN(int64_t entry, Ledger::Append(tx, rec, now));
  out->set_ledger_entry_id(entry);
  if (result.verified) {
    CANTDO_ASSIGN_OR_RETURN(auto g, GrantStore::Load(tx, grant_id, false));
    if (!g) return absl::InternalError("the grant just minted is missing");
    *out->mutable_grant() = g->proto;
    LedgerRecord issued = GrantRecord(cv1::LEDGER_EVENT_KIND_GRANT_ISSUED, kBridgeId, g->proto);
    issued.detail = {{"principal", g->proto.principal()},
                     {"approver", result.subject},
                     {"expire_time", PgTime(absl::FromUnixSeconds(g->proto.expire_time().seconds()))}};
    CANTDO_RETURN_IF_ERROR(Ledger::Append(tx, issued, now).status());
  }
  if (sink_ != nullptr) CANTDO_RETURN_IF_ERROR(sink_->ApprovalDecided(tx, out->approval()));
  decided->action = a.action().action();
  decided->outcome = new_state;
  decided->minted = result.verified;
  return absl::OkStatus();
}

absl::StatusOr<bool> Approvals::AskAgain(pg::Connection& tx, const ApprovalRow& row,
                                         const v1::CompleteApprovalRequest& req, ApprovalResult& result, absl::Time now,
                                         v1::CompleteApprovalResponse* out) {
  const std::string& provider_error = req.provider_error();
  const AskAgainOptions& o = options_.ask_again;
  absl::Duration delay = o.delay;
  for (int i = 1; i < row.ask && delay < o.max_delay; ++i) delay *= 2;
  delay = std::min(delay, o.max_delay);
  absl::Time due = now + delay;
  CANTDO_ASSIGN_OR_RETURN(std::optional<absl::Time> last, ApprovalStore::LastDispatchTo(tx, row.approver_subject));
  if (last) due = std::max(due, *last + o.approver_gap);
  const absl::Time deadline = absl::FromUnixSeconds(row.proto.expire_time().seconds());
  // Less than a minute left once asked: the approver could hardly answer.
  if (due + absl::Minutes(1) > deadline) return false;

  const bool lost = req.outcome() == v1::CIBA_OUTCOME_LOST;
  const std::string what = lost ? "the provider no longer knew the request (" + provider_error +
                                      "; restarted, or its tokens were collected but never recorded)"
                                : "the provider's request ended unanswered (" +
                                      (provider_error.empty() ? std::string("expired") : provider_error) +
                                      "), before the approval's deadline";
  result.reason = "APPROVAL_ASKED_AGAIN";
  result.message = absl::StrCat(what, "; asking again (ask ", row.ask + 1, ") at ", PgTime(due));
  CANTDO_RETURN_IF_ERROR(ApprovalStore::RecordResult(tx, result));
  CANTDO_RETURN_IF_ERROR(
      ApprovalStore::AskAgain(tx, row.proto.approval_id(), due,
                              absl::StrCat("not decided yet: ", what, "; the approver is asked again (ask ",
                                           row.ask + 1, ") at ", PgTime(due))));
  LedgerRecord rec = ApprovalRecord(cv1::LEDGER_EVENT_KIND_APPROVAL_REQUESTED, kBridgeId, row.proto);
  rec.reason = "APPROVAL_ASKED_AGAIN";
  rec.detail = {
      {"ask", row.ask + 1},        {"approver", row.approver_subject}, {"previous_auth_req_id", result.auth_req_id},
      {"outcome", result.outcome}, {"provider_error", provider_error}, {"next_ask_time", PgTime(due)}};
  CANTDO_RETURN_IF_ERROR(Ledger::Append(tx, rec, now).status());
  log::Info("approval asked again", {{"approval_id", row.proto.approval_id()},
                                     {"ask", row.ask + 1},
                                     {"outcome", result.outcome},
                                     {"provider_error", provider_error},
                                     {"next_ask_time", PgTime(due)}});
  CANTDO_ASSIGN_OR_RETURN(auto after, ApprovalStore::Load(tx, row.proto.approval_id(), false));
  if (!after) return absl::InternalError("the approval asked again is missing");
  *out->mutable_approval() = after->proto;
  return true;
}

absl::StatusOr<std::string> Approvals::Mint(pg::Connection& tx, const ApprovalRow& approval,
                                            const std::string& approver, absl::Time now) {
  // The grant carries the policy that decided the request (copied from the
  // approval), and the lifetime and credential of the rule in force.
  const cv1::ActionRef& act = approval.proto.action();
  const v1::PolicyRule* rule = policy_.RuleFor(act.action(), act.resource());
  if (rule == nullptr) return absl::InternalError("minting a grant for an action the policy has no rule for");
  NewGrant g;
  g.grant_id = NewUuid();
  g.approval_id = approval.proto.approval_id();
  g.approver_subject = approver;
  g.issue_time = now;
  g.expire_time = now + absl::Seconds(rule->grant_ttl().seconds());
  g.credential_kind = CredentialKindName(rule->credential_kind());
  if (!g.credential_kind.empty()) g.credential_target = rule->credential_target();
  CANTDO_RETURN_IF_ERROR(GrantStore::Mint(tx, g));
  return g.grant_id;
}

absl::StatusOr<int> Approvals::DispatchPending(int limit) {
  if (bridge_ == nullptr) return 0;
  const absl::Time now = clock_.Now();
  CANTDO_ASSIGN_OR_RETURN(std::vector<ApprovalRow> due, pg::RunInTransaction(pool_, {}, [&](pg::Connection& tx) {
                            return ApprovalStore::LeaseDueDispatch(tx, now, kDispatchLease, limit);
                          }));
  int sent = 0;
  for (const ApprovalRow& row : due) {
    // The call to the bridge, and these lines, continue the approval's trace.
    trace::ScopedTrace traced(row.traceparent);
    const absl::Duration expiry = absl::FromUnixSeconds(row.proto.expire_time().seconds()) - now;
    auto auth_req_id = bridge_->Start(row.proto, row.approver_subject, expiry, row.ask);
    if (!auth_req_id.ok()) {
      log::Warn("bridge did not start the approval request; will retry",
                {{"approval_id", row.proto.approval_id()}, {"error", std::string(auth_req_id.status().message())}});
      continue;
    }
    CANTDO_RETURN_IF_ERROR(pg::RunInTransaction(pool_, {}, [&](pg::Connection& tx) {
      return ApprovalStore::RecordAuthReqId(tx, row.proto.approval_id(), *auth_req_id);
    }));
    ++sent;
  }
  return sent;
}

absl::StatusOr<int> Approvals::ExpireOverdue(int limit) {
  const absl::Time now = clock_.Now();
  std::vector<std::string> actions;
  CANTDO_RETURN_IF_ERROR(pg::RunInTransaction(pool_, {}, [&](pg::Connection& tx) -> absl::Status {
    actions.clear();
    CANTDO_ASSIGN_OR_RETURN(std::vector<ApprovalRow> expired, ApprovalStore::ExpireOverdue(tx, now, limit));
    for (const ApprovalRow& a : expired) {
      LedgerRecord rec = ApprovalRecord(cv1::LEDGER_EVENT_KIND_APPROVAL_REJECTED, kAuthorityId, a.proto);
      rec.reason = "APPROVAL_EXPIRED";
      CANTDO_RETURN_IF_ERROR(Ledger::Append(tx, rec, now).status());
      if (sink_ != nullptr) CANTDO_RETURN_IF_ERROR(sink_->ApprovalDecided(tx, a.proto));
      actions.push_back(a.proto.action().action());
    }
    return absl::OkStatus();
  }));
  for (const std::string& action : actions) metrics_.ApprovalClosed(action, "EXPIRED");
  return static_cast<int>(actions.size());
}

}  // namespace cantdo::authority
