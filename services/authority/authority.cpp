#include "authority/authority.hpp"

#include <google/protobuf/util/json_util.h>

#include <algorithm>
#include <regex>

#include "absl/strings/str_cat.h"
#include "cantdo/base/canonical_json.hpp"
#include "cantdo/base/ids.hpp"
#include "cantdo/base/log.hpp"
#include "cantdo/base/status.hpp"
#include "cantdo/pg/transaction.hpp"
#include "cantdo/workflow/client.hpp"
#include "cantdo/workflow/payload.hpp"

namespace cantdo::authority {
namespace {

namespace cv1 = common::v1;
using pg::Int64Param;
using pg::TextParam;

constexpr char kAuthReqIdClaim[] = "urn:openid:params:jwt:claim:auth_req_id";

std::string Ts(absl::Time t) { return absl::FormatTime("%Y-%m-%dT%H:%M:%E6SZ", t, absl::UTCTimeZone()); }

void SetTs(google::protobuf::Timestamp* ts, int64_t micros) {
  ts->set_seconds(micros / 1000000);
  ts->set_nanos(static_cast<int>((micros % 1000000) * 1000));
}

// Micros since the epoch of a timestamptz column, NULL-safe.
#define US(col) "coalesce((extract(epoch from " col ") * 1000000)::bigint, 0)"

constexpr char kApprovalColumns[] =
    "approval_id, principal, requester, workflow_id, run_id, step, action, resource, parameters, parameters_hash, "
    "state, state_reason, state_message, required_role, approver_subject, binding_message, policy_version, "
    "policy_hash, " US("create_time") ", " US("decide_time") ", " US("expire_time") ", coalesce(auth_req_id, ''), "
    "coalesce(grant_id::text, '')";

constexpr char kGrantColumns[] =
    "grant_id, state, approval_id, workflow_id, run_id, step, action, resource, parameters_hash, "
    "array_to_string(approver_subjects, ' '), policy_version, policy_hash, principal, " US("issue_time") ", "
    US("expire_time") ", " US("claim_time") ", " US("consume_time") ", " US("revoke_time") ", "
    "coalesce(outcome_digest, ''), coalesce(revoke_reason, ''), credential_kind, credential_target, "
    "coalesce(claim_key_sha256, ''), coalesce(credential_handle, '')";

struct ApprovalRow {
  cv1::Approval proto;
  std::string parameters_json;
};

absl::StatusOr<ApprovalRow> ReadApproval(const pg::Result& r, int i) {
  ApprovalRow row;
  auto& a = row.proto;
  std::string s[18];
  for (int c = 0; c < 18; ++c) {
    CANTDO_ASSIGN_OR_RETURN(s[c], r.GetString(i, c));
  }
  a.set_approval_id(s[0]);
  a.set_principal(s[1]);
  a.set_requester(s[2]);
  auto* act = a.mutable_action();
  act->set_workflow_id(s[3]);
  act->set_run_id(s[4]);
  act->set_step(s[5]);
  act->set_action(s[6]);
  act->set_resource(s[7]);
  row.parameters_json = s[8];
  (void)google::protobuf::util::JsonStringToMessage(s[8], act->mutable_parameters());
  a.set_parameters_hash(s[9]);
  cv1::ApprovalState state;
  if (cv1::ApprovalState_Parse("APPROVAL_STATE_" + s[10], &state)) a.set_state(state);
  cv1::ErrorReason reason;
  if (!s[11].empty() && cv1::ErrorReason_Parse(s[11], &reason)) a.set_state_reason(reason);
  a.set_state_message(s[12]);
  a.set_required_role(s[13]);
  a.set_approvals_required(1);
  // s[14] approver_subject: who was asked; not exposed beyond the verified approvers.
  a.set_binding_message(s[15]);
  a.set_policy_version(s[16]);
  a.set_policy_hash(s[17]);
  CANTDO_ASSIGN_OR_RETURN(int64_t create_us, r.GetInt64(i, 18));
  CANTDO_ASSIGN_OR_RETURN(int64_t decide_us, r.GetInt64(i, 19));
  CANTDO_ASSIGN_OR_RETURN(int64_t expire_us, r.GetInt64(i, 20));
  SetTs(a.mutable_create_time(), create_us);
  if (decide_us) SetTs(a.mutable_decide_time(), decide_us);
  SetTs(a.mutable_expire_time(), expire_us);
  CANTDO_ASSIGN_OR_RETURN(std::string grant_id, r.GetString(i, 22));
  a.set_grant_id(grant_id);
  return row;
}

struct GrantRow {
  cv1::Grant proto;
  std::string credential_target;
  std::string claim_key_sha256;
  std::string credential_handle;
  // The approval's canonical parameters, where the query selects them
  // (kApprovedParameters after the grant columns).
  std::string approved_parameters;
};

// Selected after kGrantColumns of a row aliased g: the parameters exactly as
// approved.
constexpr char kApprovedParameters[] =
    "(SELECT a.parameters FROM cantdo.approvals a WHERE a.approval_id = g.approval_id)";

absl::StatusOr<GrantRow> ReadGrant(const pg::Result& r, int i) {
  GrantRow row;
  auto& g = row.proto;
  std::string s[13];
  for (int c = 0; c < 13; ++c) {
    CANTDO_ASSIGN_OR_RETURN(s[c], r.GetString(i, c));
  }
  g.set_grant_id(s[0]);
  cv1::GrantState state;
  if (cv1::GrantState_Parse("GRANT_STATE_" + s[1], &state)) g.set_state(state);
  g.set_approval_id(s[2]);
  g.set_workflow_id(s[3]);
  g.set_run_id(s[4]);
  g.set_step(s[5]);
  g.set_action(s[6]);
  g.set_resource(s[7]);
  g.set_parameters_hash(s[8]);
  if (!s[9].empty()) g.add_approver_subjects(s[9]);
  g.set_policy_version(s[10]);
  g.set_policy_hash(s[11]);
  g.set_principal(s[12]);
  int64_t t[5];
  for (int c = 0; c < 5; ++c) {
    CANTDO_ASSIGN_OR_RETURN(t[c], r.GetInt64(i, 13 + c));
  }
  SetTs(g.mutable_issue_time(), t[0]);
  SetTs(g.mutable_expire_time(), t[1]);
  if (t[2]) SetTs(g.mutable_claim_time(), t[2]);
  if (t[3]) SetTs(g.mutable_consume_time(), t[3]);
  if (t[4]) SetTs(g.mutable_revoke_time(), t[4]);
  CANTDO_ASSIGN_OR_RETURN(std::string digest, r.GetString(i, 18));
  g.set_outcome_digest(digest);
  CANTDO_ASSIGN_OR_RETURN(std::string revoke_reason, r.GetString(i, 19));
  g.set_revoke_reason(revoke_reason);
  CANTDO_ASSIGN_OR_RETURN(std::string kind, r.GetString(i, 20));
  cv1::ExecutionCredentialKind k;
  if (!kind.empty() && cv1::ExecutionCredentialKind_Parse("EXECUTION_CREDENTIAL_KIND_" + kind, &k)) {
    g.set_credential_kind(k);
  }
  CANTDO_ASSIGN_OR_RETURN(row.credential_target, r.GetString(i, 21));
  CANTDO_ASSIGN_OR_RETURN(row.claim_key_sha256, r.GetString(i, 22));
  CANTDO_ASSIGN_OR_RETURN(row.credential_handle, r.GetString(i, 23));
  if (r.Columns() > 24) {
    CANTDO_ASSIGN_OR_RETURN(row.approved_parameters, r.GetString(i, 24));
  }
  return row;
}

absl::StatusOr<std::optional<GrantRow>> LoadGrant(pg::Connection& tx, const std::string& grant_id, bool lock) {
  CANTDO_ASSIGN_OR_RETURN(
      pg::Result r, tx.Exec(absl::StrCat("SELECT ", kGrantColumns, ", ", kApprovedParameters,
                                         " FROM cantdo.grants g WHERE grant_id = $1::uuid", lock ? " FOR UPDATE OF g" : ""),
                            {grant_id}));
  if (r.Rows() == 0) return std::optional<GrantRow>();
  CANTDO_ASSIGN_OR_RETURN(GrantRow g, ReadGrant(r, 0));
  return std::optional<GrantRow>(std::move(g));
}

absl::StatusOr<std::optional<ApprovalRow>> LoadApproval(pg::Connection& tx, const std::string& approval_id,
                                                        bool lock) {
  CANTDO_ASSIGN_OR_RETURN(
      pg::Result r,
      tx.Exec(absl::StrCat("SELECT ", kApprovalColumns, ", approver_subject FROM cantdo.approvals WHERE approval_id = $1::uuid",
                           lock ? " FOR UPDATE" : ""),
              {approval_id}));
  if (r.Rows() == 0) return std::optional<ApprovalRow>();
  CANTDO_ASSIGN_OR_RETURN(ApprovalRow a, ReadApproval(r, 0));
  return std::optional<ApprovalRow>(std::move(a));
}

// The action exactly as approved: the grant's binding with the approval's
// parameters.
absl::StatusOr<cv1::ActionRef> ApprovedAction(const GrantRow& g) {
  cv1::ActionRef a;
  a.set_action(g.proto.action());
  a.set_resource(g.proto.resource());
  a.set_workflow_id(g.proto.workflow_id());
  a.set_run_id(g.proto.run_id());
  a.set_step(g.proto.step());
  if (!google::protobuf::util::JsonStringToMessage(g.approved_parameters, a.mutable_parameters()).ok()) {
    return absl::DataLossError("the approval's stored parameters do not parse");
  }
  return a;
}

std::string StateName(cv1::GrantState s) { return cv1::GrantState_Name(s).substr(std::string("GRANT_STATE_").size()); }

LedgerRecord GrantRecord(cv1::LedgerEventKind kind, const std::string& actor, const cv1::Grant& g) {
  LedgerRecord rec;
  rec.kind = kind;
  rec.actor = actor;
  rec.action = g.action();
  rec.resource = g.resource();
  rec.parameters_hash = g.parameters_hash();
  rec.workflow_id = g.workflow_id();
  rec.run_id = g.run_id();
  rec.step = g.step();
  rec.grant_id = g.grant_id();
  rec.approval_id = g.approval_id();
  rec.policy_version = g.policy_version();
  rec.policy_hash = g.policy_hash();
  return rec;
}

LedgerRecord ApprovalRecord(cv1::LedgerEventKind kind, const std::string& actor, const cv1::Approval& a) {
  LedgerRecord rec;
  rec.kind = kind;
  rec.actor = actor;
  rec.action = a.action().action();
  rec.resource = a.action().resource();
  rec.parameters_hash = a.parameters_hash();
  rec.workflow_id = a.action().workflow_id();
  rec.run_id = a.action().run_id();
  rec.step = a.action().step();
  rec.approval_id = a.approval_id();
  rec.grant_id = a.grant_id();
  rec.policy_version = a.policy_version();
  rec.policy_hash = a.policy_hash();
  return rec;
}

// A refusal to be committed (with its ledger entry) and then returned.
struct Refusal {
  absl::Status status;
};

bool HasRole(const nlohmann::json& claims, const std::string& claim, const std::string& role) {
  if (!claims.contains(claim)) return false;
  const auto& v = claims[claim];
  if (v.is_string()) return v.get<std::string>() == role;
  if (v.is_array()) {
    for (const auto& e : v) {
      if (e.is_string() && e.get<std::string>() == role) return true;
    }
  }
  return false;
}

}  // namespace

absl::Status NotifyDecisionSink::ApprovalDecided(pg::Connection& tx, const cv1::Approval& approval) {
  return tx.Exec("SELECT pg_notify('cantdo_approval_decided', $1)", {approval.approval_id()}).status();
}

absl::Status WorkflowSignalSink::ApprovalDecided(pg::Connection& tx, const cv1::Approval& approval) {
  CANTDO_RETURN_IF_ERROR(notify_.ApprovalDecided(tx, approval));
  // Engine run ids are UUIDs; anything else names no run of ours (an agent
  // platform's own reference), so there is nothing to signal.
  const std::string& run_id = approval.action().run_id();
  static const std::regex kUuid("^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$");
  if (approval.action().workflow_id().empty() || !std::regex_match(run_id, kUuid)) return absl::OkStatus();
  cv1::ApprovalDecidedSignal body;
  body.set_approval_id(approval.approval_id());
  body.set_state(approval.state());
  body.set_state_reason(approval.state_reason());
  body.set_step(approval.action().step());
  body.set_grant_id(approval.grant_id());
  workflow::SignalRequest req;
  req.workflow_id = approval.action().workflow_id();
  req.run_id = approval.action().run_id();
  req.signal_name = "cantdo.approval_decided";
  req.signal_id = approval.approval_id();
  req.payload = workflow::Pack(body);
  req.identity = "spiffe://cantdo/authority";
  auto sent = workflow::WorkflowClient(clock_).Signal(tx, req);
  if (!sent.ok()) {
    if (sent.status().code() == absl::StatusCode::kNotFound ||
        sent.status().code() == absl::StatusCode::kFailedPrecondition ||
        sent.status().code() == absl::StatusCode::kInvalidArgument) {
      log::Info("approval decided; no running workflow to signal",
                {{"approval_id", approval.approval_id()}, {"workflow_id", req.workflow_id},
                 {"reason", GetReason(sent.status()).value_or("")}});
      return absl::OkStatus();
    }
    return sent.status();
  }
  return absl::OkStatus();
}

absl::StatusOr<CanonicalParameters> CanonicaliseParameters(const google::protobuf::Struct& parameters) {
  std::string json;
  if (!google::protobuf::util::MessageToJsonString(parameters, &json).ok()) {
    return InvalidArgument("action.parameters", "cannot be rendered as JSON");
  }
  nlohmann::json doc = nlohmann::json::parse(json, nullptr, false);
  if (doc.is_discarded()) return InvalidArgument("action.parameters", "cannot be rendered as JSON");
  auto text = CanonicalJson(doc);
  if (!text.ok()) return InvalidArgument("action.parameters", text.status().message());
  return CanonicalParameters{*text, Sha256Hex(*text)};
}

Authority::Authority(pg::Pool& pool, Clock& clock, const Policy& policy, const auth::JwtVerifier& verifier,
                     AuthorityOptions options, CredentialIssuer* postgres_credentials, CredentialIssuer* secrets,
                     DecisionSink* sink, BridgeStarter* bridge)
    : pool_(pool),
      clock_(clock),
      policy_(policy),
      verifier_(verifier),
      options_(std::move(options)),
      postgres_credentials_(postgres_credentials),
      secrets_(secrets),
      sink_(sink),
      bridge_(bridge) {}

CredentialIssuer* Authority::IssuerFor(cv1::ExecutionCredentialKind kind) const {
  switch (kind) {
    case cv1::EXECUTION_CREDENTIAL_KIND_POSTGRES_ROLE: return postgres_credentials_;
    case cv1::EXECUTION_CREDENTIAL_KIND_STATIC_SECRET: return secrets_;
    default: return nullptr;
  }
}

// ---------------------------------------------------------------- approvals

absl::StatusOr<v1::RequestApprovalResponse> Authority::RequestApproval(const Caller& caller,
                                                                       const v1::RequestApprovalRequest& req) {
  const auto& action = req.action();
  CANTDO_ASSIGN_OR_RETURN(CanonicalParameters params, CanonicaliseParameters(action.parameters()));
  nlohmann::json params_doc = nlohmann::json::parse(params.json);
  const absl::Time now = clock_.Now();

  LedgerRecord decision;
  decision.kind = cv1::LEDGER_EVENT_KIND_DECISION;
  decision.actor = caller.principal();
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
    // The approver: the first in the directory for the role who is not the
    // requester (separation of duties).
    const auto& candidates = policy_.Approvers(cls->rule->required_role());
    for (const auto& s : candidates) {
      if (s != req.requester() && absl::StrCat("user:", options_.issuer, "#", s) != req.requester()) {
        approver = s;
        break;
      }
    }
    if (approver.empty()) {
      cls = candidates.empty()
                ? PermissionDenied("POLICY_NO_APPROVER", absl::StrCat("no approver has role '",
                                                                      cls->rule->required_role(), "'"))
                : PermissionDenied("POLICY_SELF_APPROVAL",
                                   "the only approver for this action is its requester (separation of duties)");
    }
  }

  if (!cls.ok()) {
    // Denied by policy: recorded, then refused.
    decision.decision = cv1::DECISION_DENY;
    decision.reason = GetReason(cls.status()).value_or("POLICY_ACTION_UNKNOWN");
    decision.detail["message"] = std::string(cls.status().message());
    CANTDO_RETURN_IF_ERROR(pg::RunInTransaction(pool_, {}, [&](pg::Connection& tx) {
      return Ledger::Append(tx, decision, now).status();
    }));
    return cls.status();
  }

  if (cls->decision == cv1::DECISION_ALLOW) {
    decision.decision = cv1::DECISION_ALLOW;
    CANTDO_RETURN_IF_ERROR(pg::RunInTransaction(pool_, {}, [&](pg::Connection& tx) {
      return Ledger::Append(tx, decision, now).status();
    }));
    resp.set_decision(cv1::DECISION_ALLOW);
    return resp;
  }

  // REQUIRE_APPROVAL: open (or find) the approval.
  absl::Duration timeout = cls->approval_timeout;
  if (req.has_approval_timeout()) {
    timeout = std::min(timeout, absl::Seconds(req.approval_timeout().seconds()));
  }
  const std::string binding = Policy::BindingMessage(*cls->rule, params_doc);
  const std::string approval_id = NewUuid();
  absl::Status refusal;
  absl::Status st = pg::RunInTransaction(pool_, {}, [&](pg::Connection& tx) -> absl::Status {
    refusal = absl::OkStatus();
    CANTDO_ASSIGN_OR_RETURN(
        pg::Result ins,
        tx.Exec("INSERT INTO cantdo.approvals (approval_id, principal, requester, workflow_id, run_id, step, action, "
                 "resource, parameters, parameters_hash, state, required_role, approver_subject, binding_message, "
                 "policy_version, policy_hash, create_time, expire_time, next_dispatch_time) "
                 "VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,'PENDING',$11,$12,$13,$14,$15,$16,$17,$16) "
                 "ON CONFLICT (principal, workflow_id, run_id, step, action) DO NOTHING RETURNING approval_id",
                 {approval_id, caller.principal(), req.requester(), action.workflow_id(), action.run_id(),
                  action.step(), action.action(), action.resource(), params.json, params.sha256,
                  cls->rule->required_role(), approver, binding, policy_.version(), policy_.hash(), Ts(now),
                  Ts(now + timeout)}));
    const bool created = ins.Rows() == 1;
    std::optional<ApprovalRow> row;
    if (created) {
      CANTDO_ASSIGN_OR_RETURN(row, LoadApproval(tx, approval_id, false));
    } else {
      CANTDO_ASSIGN_OR_RETURN(
          pg::Result existing,
          tx.Exec("SELECT approval_id::text FROM cantdo.approvals WHERE principal = $1 AND workflow_id = $2 AND "
                  "run_id = $3 AND step = $4 AND action = $5",
                  {caller.principal(), action.workflow_id(), action.run_id(), action.step(), action.action()}));
      if (existing.Rows() != 1) return absl::AbortedError("approval vanished; retry");
      CANTDO_ASSIGN_OR_RETURN(std::string id, existing.GetString(0, 0));
      CANTDO_ASSIGN_OR_RETURN(row, LoadApproval(tx, id, false));
    }
    if (!row) return absl::AbortedError("approval vanished; retry");
    if (!created && (row->proto.parameters_hash() != params.sha256 || row->proto.action().resource() != action.resource())) {
      refusal = WithReason(absl::AlreadyExistsError(
                               "this (workflow, run, step, action) already has an approval for other parameters"),
                           "IDEMPOTENCY_KEY_REUSED");
      return absl::OkStatus();
    }
    resp.set_created(created);
    resp.set_decision(cv1::DECISION_REQUIRE_APPROVAL);
    *resp.mutable_approval() = row->proto;
    if (!row->proto.grant_id().empty()) {
      CANTDO_ASSIGN_OR_RETURN(auto g, LoadGrant(tx, row->proto.grant_id(), false));
      if (g) *resp.mutable_grant() = g->proto;
    }
    if (created) {
      decision.decision = cv1::DECISION_REQUIRE_APPROVAL;
      decision.approval_id = approval_id;
      decision.detail["required_role"] = cls->rule->required_role();
      CANTDO_RETURN_IF_ERROR(Ledger::Append(tx, decision, now).status());
      LedgerRecord requested = ApprovalRecord(cv1::LEDGER_EVENT_KIND_APPROVAL_REQUESTED, caller.principal(), row->proto);
      requested.detail = {{"approver", approver}, {"binding_message", binding}};
      CANTDO_RETURN_IF_ERROR(Ledger::Append(tx, requested, now).status());
    }
    return absl::OkStatus();
  });
  CANTDO_RETURN_IF_ERROR(st);
  CANTDO_RETURN_IF_ERROR(refusal);
  if (resp.created() && bridge_ != nullptr) {
    // Best effort now; the dispatcher retries whatever this does not send.
    (void)DispatchPending(1);
  }
  return resp;
}

absl::StatusOr<v1::GetApprovalResponse> Authority::GetApproval(const Caller& caller, const std::string& approval_id,
                                                               bool any_principal) {
  CANTDO_ASSIGN_OR_RETURN(auto conn, pool_.Acquire(absl::Now() + absl::Seconds(10)));
  CANTDO_ASSIGN_OR_RETURN(auto row, LoadApproval(*conn, approval_id, false));
  if (!row || (!any_principal && row->proto.principal() != caller.principal())) {
    return WithReason(absl::NotFoundError(absl::StrCat("no approval ", approval_id)), "APPROVAL_NOT_FOUND");
  }
  v1::GetApprovalResponse resp;
  *resp.mutable_approval() = row->proto;
  if (!row->proto.grant_id().empty()) {
    CANTDO_ASSIGN_OR_RETURN(auto g, LoadGrant(*conn, row->proto.grant_id(), false));
    if (g) *resp.mutable_grant() = g->proto;
  }
  return resp;
}

absl::StatusOr<v1::CompleteApprovalResponse> Authority::CompleteApproval(const Caller& caller,
                                                                         const v1::CompleteApprovalRequest& req) {
  v1::CompleteApprovalResponse resp;
  absl::Status refusal;
  absl::Status st = pg::RunInTransaction(pool_, {}, [&](pg::Connection& tx) -> absl::Status {
    resp.Clear();
    refusal = absl::OkStatus();
    return DecideAfterVerify(tx, req.approval_id(), req, &resp, &refusal);
  });
  CANTDO_RETURN_IF_ERROR(st);
  (void)caller;
  CANTDO_RETURN_IF_ERROR(refusal);
  return resp;
}

absl::Status Authority::DecideAfterVerify(pg::Connection& tx, const std::string& approval_id,
                                          const v1::CompleteApprovalRequest& req, v1::CompleteApprovalResponse* out,
                                          absl::Status* refusal) {
  const absl::Time now = clock_.Now();
  const std::string actor = "spiffe://cantdo/ciba-bridge";
  CANTDO_ASSIGN_OR_RETURN(auto row, LoadApproval(tx, approval_id, /*lock=*/true));
  if (!row) {
    *refusal = WithReason(absl::NotFoundError(absl::StrCat("no approval ", approval_id)), "APPROVAL_NOT_FOUND");
    return absl::OkStatus();
  }
  cv1::Approval& a = row->proto;

  // A result already recorded for this auth_req_id: answer as before.
  CANTDO_ASSIGN_OR_RETURN(pg::Result prior,
                          tx.Exec("SELECT verified, reason, message FROM cantdo.approval_results "
                                  "WHERE approval_id = $1::uuid AND auth_req_id = $2",
                                  {approval_id, req.auth_req_id()}));
  if (prior.Rows() == 1) {
    CANTDO_ASSIGN_OR_RETURN(bool verified, prior.GetBool(0, 0));
    CANTDO_ASSIGN_OR_RETURN(std::string reason, prior.GetString(0, 1));
    CANTDO_ASSIGN_OR_RETURN(std::string message, prior.GetString(0, 2));
    if (!verified && req.outcome() == v1::CIBA_OUTCOME_APPROVED && !reason.empty()) {
      *refusal = PermissionDenied(reason, message);
      return absl::OkStatus();
    }
    out->set_already_recorded(true);
    *out->mutable_approval() = a;
    if (!a.grant_id().empty()) {
      CANTDO_ASSIGN_OR_RETURN(auto g, LoadGrant(tx, a.grant_id(), false));
      if (g) *out->mutable_grant() = g->proto;
    }
    return absl::OkStatus();
  }

  CANTDO_ASSIGN_OR_RETURN(pg::Result asked, tx.Exec("SELECT coalesce(auth_req_id, ''), approver_subject FROM "
                                                    "cantdo.approvals WHERE approval_id = $1::uuid",
                                                    {approval_id}));
  CANTDO_ASSIGN_OR_RETURN(std::string auth_req_id, asked.GetString(0, 0));
  CANTDO_ASSIGN_OR_RETURN(std::string approver_subject, asked.GetString(0, 1));
  if (auth_req_id.empty()) {
    // The bridge answered before we recorded its auth_req_id (a fast
    // approver): nothing to compare with yet. Retryable; nothing recorded.
    return Unavailable("DEPENDENCY_UNAVAILABLE",
                       "this approval's CIBA request is not recorded yet; retry shortly");
  }
  if (auth_req_id != req.auth_req_id()) {
    LedgerRecord rec = ApprovalRecord(cv1::LEDGER_EVENT_KIND_APPROVAL_REJECTED, actor, a);
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

  std::string new_state, reason, message, subject, token_sha;
  bool verified = false;
  switch (req.outcome()) {
    case v1::CIBA_OUTCOME_APPROVED: {
      token_sha = Sha256Hex(req.id_token());
      absl::StatusOr<auth::VerifiedToken> token = verifier_.Verify(req.id_token());
      if (!token.ok() && token.status().code() != absl::StatusCode::kPermissionDenied) {
        return token.status();  // e.g. keys unreachable: record nothing, the bridge retries
      }
      absl::Status check = token.status();
      if (check.ok()) {
        subject = token->subject;
        const auto& claims = token->claims;
        const std::string& role = a.required_role();
        const auto& directory = policy_.Approvers(role);
        if (!HasRole(claims, policy_.role_claim(), role)) {
          check = PermissionDenied("APPROVAL_ROLE_MISMATCH",
                                   absl::StrCat("the approver's ID token does not carry role '", role, "'"));
        } else if (std::find(directory.begin(), directory.end(), subject) == directory.end()) {
          check = PermissionDenied("APPROVAL_SUBJECT_NOT_IN_DIRECTORY",
                                   absl::StrCat("the approver is not in the directory for role '", role, "'"));
        } else if (subject == a.requester() || absl::StrCat("user:", token->issuer, "#", subject) == a.requester()) {
          check = PermissionDenied("POLICY_SELF_APPROVAL", "the approver requested this action");
        } else if (claims.contains(kAuthReqIdClaim)
                       ? claims[kAuthReqIdClaim] != req.auth_req_id()
                       : options_.require_auth_req_id_claim) {
          check = PermissionDenied("APPROVAL_REQUEST_MISMATCH", "the ID token answers another CIBA request");
        } else if (subject != approver_subject) {
          check = PermissionDenied("APPROVAL_REQUEST_MISMATCH", "the ID token is not from the approver who was asked");
        } else {
          CANTDO_ASSIGN_OR_RETURN(pg::Result used, tx.Exec("SELECT 1 FROM cantdo.approval_results WHERE "
                                                           "id_token_sha256 = $1 AND verified",
                                                           {token_sha}));
          if (used.Rows() > 0) {
            check = PermissionDenied("APPROVAL_REQUEST_MISMATCH", "this ID token already approved another request");
          }
        }
      }
      if (check.ok()) {
        verified = true;
        new_state = "APPROVED";
      } else {
        new_state = "INVALID";
        reason = GetReason(check).value_or("ID_TOKEN_MALFORMED");
        message = std::string(check.message());
        *refusal = check;
      }
      break;
    }
    case v1::CIBA_OUTCOME_DENIED:
      new_state = "DENIED", reason = "APPROVAL_DENIED", message = "the approver denied the request";
      break;
    case v1::CIBA_OUTCOME_EXPIRED:
      new_state = "EXPIRED", reason = "APPROVAL_EXPIRED", message = "the approver did not answer in time";
      break;
    default:
      new_state = "INVALID", reason = "APPROVAL_PROVIDER_FAILED";
      message = absl::StrCat("identity provider error: ", req.provider_error());
  }

  CANTDO_RETURN_IF_ERROR(
      tx.Exec("INSERT INTO cantdo.approval_results (approval_id, auth_req_id, outcome, id_token, id_token_sha256, "
              "subject, verified, reason, message, receive_time) VALUES ($1::uuid,$2,$3,$4,$5,$6,$7,$8,$9,$10)",
              {approval_id, req.auth_req_id(), v1::CibaOutcome_Name(req.outcome()),
               req.id_token().empty() ? pg::NullParam() : pg::Param(req.id_token()),
               token_sha.empty() ? pg::NullParam() : pg::Param(token_sha),
               subject.empty() ? pg::NullParam() : pg::Param(subject), pg::BoolParam(verified), reason, message,
               Ts(now)})
          .status());

  std::string grant_id;
  if (verified) {
    grant_id = NewUuid();
    // The rule may have changed since the request; the grant carries the
    // policy that decided the request, and the TTL of the rule in force.
    absl::Duration ttl = absl::Minutes(15);
    std::string kind, target;
    for (const auto& rule : policy_.proto().rules()) {
      if (rule.action() == a.action().action() && (rule.resource().empty() || rule.resource() == a.action().resource())) {
        ttl = absl::Seconds(rule.grant_ttl().seconds());
        if (rule.credential_kind() != cv1::EXECUTION_CREDENTIAL_KIND_UNSPECIFIED) {
          kind = cv1::ExecutionCredentialKind_Name(rule.credential_kind())
                     .substr(std::string("EXECUTION_CREDENTIAL_KIND_").size());
          target = rule.credential_target();
        }
        break;
      }
    }
    CANTDO_RETURN_IF_ERROR(
        tx.Exec("INSERT INTO cantdo.grants (grant_id, approval_id, state, workflow_id, run_id, step, action, resource, "
                "parameters_hash, approver_subjects, policy_version, policy_hash, principal, issue_time, expire_time, "
                "credential_kind, credential_target) "
                "SELECT $1::uuid, approval_id, 'ISSUED', workflow_id, run_id, step, action, resource, parameters_hash, "
                "ARRAY[$2], policy_version, policy_hash, principal, $3, $4, $5, $6 FROM cantdo.approvals "
                "WHERE approval_id = $7::uuid",
                {grant_id, subject, Ts(now), Ts(now + ttl), kind, target, approval_id})
            .status());
  }
  CANTDO_RETURN_IF_ERROR(
      tx.Exec("UPDATE cantdo.approvals SET state = $2, state_reason = $3, state_message = $4, decide_time = $5, "
              "grant_id = $6::uuid WHERE approval_id = $1::uuid",
              {approval_id, new_state, reason, message, Ts(now), grant_id.empty() ? pg::NullParam() : pg::Param(grant_id)})
          .status());
  CANTDO_ASSIGN_OR_RETURN(row, LoadApproval(tx, approval_id, false));
  *out->mutable_approval() = row->proto;
  if (verified) {
    auto* v = out->mutable_approval()->add_approvers();
    v->set_issuer(options_.issuer);
    v->set_subject(subject);
    v->set_role(a.required_role());
    v->set_auth_req_id(req.auth_req_id());
    v->set_id_token_sha256(token_sha);
    v->mutable_verify_time()->set_seconds(absl::ToUnixSeconds(now));
  }

  LedgerRecord rec = ApprovalRecord(
      verified ? cv1::LEDGER_EVENT_KIND_APPROVAL_VERIFIED : cv1::LEDGER_EVENT_KIND_APPROVAL_REJECTED, actor, row->proto);
  rec.reason = reason;
  rec.detail = {{"outcome", v1::CibaOutcome_Name(req.outcome())}, {"auth_req_id", req.auth_req_id()}};
  if (!subject.empty()) rec.detail["approver"] = subject;
  if (!token_sha.empty()) rec.detail["id_token_sha256"] = token_sha;
  if (!message.empty()) rec.detail["message"] = message;
  CANTDO_RETURN_IF_ERROR(Ledger::Append(tx, rec, now).status());
  if (verified) {
    CANTDO_ASSIGN_OR_RETURN(auto g, LoadGrant(tx, grant_id, false));
    *out->mutable_grant() = g->proto;
    LedgerRecord issued = GrantRecord(cv1::LEDGER_EVENT_KIND_GRANT_ISSUED, actor, g->proto);
    issued.detail = {{"principal", g->proto.principal()}, {"approver", subject},
                     {"expire_time", Ts(absl::FromUnixSeconds(g->proto.expire_time().seconds()))}};
    CANTDO_RETURN_IF_ERROR(Ledger::Append(tx, issued, now).status());
  }
  if (sink_ != nullptr) CANTDO_RETURN_IF_ERROR(sink_->ApprovalDecided(tx, out->approval()));
  return absl::OkStatus();
}

// ------------------------------------------------------------------- grants

namespace {

// A workflow.start grant for step "admission" gates the run named by its
// binding (the gateway requests it when it creates the run).
bool IsAdmissionGrant(const cv1::Grant& g) { return g.action() == "workflow.start" && g.step() == "admission"; }

// Admits the grant's run through cantdo.workflow_admit (V0005), in `tx`.
// Returns the function's outcome (ADMITTED or ALREADY_ADMITTED); any other
// outcome fails the transaction, so the grant is not consumed for a run that
// cannot run (closed meanwhile, gated by another approval).
absl::StatusOr<std::string> AdmitRun(pg::Connection& tx, const cv1::Grant& g, absl::Time now) {
  CANTDO_ASSIGN_OR_RETURN(
      pg::Result r,
      tx.Exec("SELECT outcome FROM cantdo.workflow_admit($1, $2, $3, $4::text,"
              " (SELECT approver_subjects FROM cantdo.grants WHERE grant_id = $4::text::uuid), $5::timestamptz)",
              {g.workflow_id(), g.run_id(), g.approval_id(), g.grant_id(), Ts(now)}));
  CANTDO_ASSIGN_OR_RETURN(std::string outcome, r.GetString(0, 0));
  if (outcome == "ADMITTED" || outcome == "ALREADY_ADMITTED") return outcome;
  const char* reason = outcome == "NOT_FOUND" ? "WORKFLOW_NOT_FOUND"
                       : outcome == "CLOSED"  ? "WORKFLOW_ALREADY_CLOSED"
                                              : "WORKFLOW_NOT_ADMITTED";
  absl::Status s = FailedPrecondition(reason, absl::StrCat("run ", g.run_id(), " of workflow ", g.workflow_id(),
                                                           " cannot be admitted: ", outcome));
  s = WithMetadata(std::move(s), "workflow_id", g.workflow_id());
  return WithMetadata(std::move(s), "run_id", g.run_id());
}

}  // namespace


// The common case of a state change in one round trip: a single statement
// (so one implicit transaction) that moves the grant with a conditional
// UPDATE and writes its ledger entry from the updated row, or does nothing.
// Returns the grant as updated, or nothing if no row matched (the
// caller then takes the full path, which decides why).
namespace {

absl::StatusOr<std::optional<GrantRow>> TransitionInOneStatement(
    pg::Pool& pool, const std::string& update, std::vector<pg::Param> params, cv1::LedgerEventKind kind, const std::string& actor,
    const nlohmann::json& detail, absl::Time now) {
  CANTDO_ASSIGN_OR_RETURN(std::string entry, Ledger::GrantEntryInsert("won", kind, actor, detail, now,
                                                                      static_cast<int>(params.size()) + 1, params));
  const std::string sql =
      absl::StrCat("WITH won AS (", update, " RETURNING *), entry AS (", entry, ") SELECT ", kGrantColumns, ", ",
                   kApprovedParameters, " FROM won g");
  CANTDO_ASSIGN_OR_RETURN(auto conn, pool.Acquire(absl::Now() + absl::Seconds(10)));
  CANTDO_ASSIGN_OR_RETURN(pg::Result r, conn->Exec(sql, params));
  if (r.Rows() == 0) return std::optional<GrantRow>();
  CANTDO_ASSIGN_OR_RETURN(GrantRow g, ReadGrant(r, 0));
  return std::optional<GrantRow>(std::move(g));
}

}  // namespace

absl::StatusOr<v1::ClaimGrantResponse> Authority::ClaimGrant(const Caller& caller, const v1::ClaimGrantRequest& req) {
  CANTDO_ASSIGN_OR_RETURN(CanonicalParameters params, CanonicaliseParameters(req.action().parameters()));
  const std::string key_sha = Sha256Hex(req.idempotency_key());
  const auto& act = req.action();
  v1::ClaimGrantResponse resp;
  {
    // Fast path: a live ISSUED grant whose every binding matches and that
    // releases no credential is claimed, and recorded, in one statement.
    // Anything else (a credential to issue, a re-claim, a refusal) takes
    // the transaction below, which re-checks from scratch.
    const absl::Time now = clock_.Now();
    CANTDO_ASSIGN_OR_RETURN(
        std::optional<GrantRow> won,
        TransitionInOneStatement(
            pool_, "UPDATE cantdo.grants SET state = 'CLAIMED', claim_time = $8, claim_key_sha256 = $9 "
            "WHERE grant_id = $1::uuid AND state = 'ISSUED' AND principal = $2 AND action = $3 AND "
            "workflow_id = $4 AND run_id = $5 AND step = $6 AND parameters_hash = $7 AND "
            "resource = $10 AND expire_time > $8 AND credential_kind = ''",
            {req.grant_id(), caller.principal(), act.action(), act.workflow_id(), act.run_id(), act.step(),
             params.sha256, Ts(now), key_sha, act.resource()},
            cv1::LEDGER_EVENT_KIND_GRANT_CLAIMED, caller.principal(),
            {{"reclaim", false}, {"idempotency_key_sha256", key_sha}}, now));
    if (won) {
      CANTDO_ASSIGN_OR_RETURN(*resp.mutable_action(), ApprovedAction(*won));
      *resp.mutable_grant() = std::move(won->proto);
      return resp;
    }
  }
  absl::Status refusal;
  std::string issued_handle;
  CredentialIssuer* issuer = nullptr;

  absl::Status st = pg::RunInTransaction(pool_, {}, [&](pg::Connection& tx) -> absl::Status {
    resp.Clear();
    refusal = absl::OkStatus();
    issued_handle.clear();
    const absl::Time now = clock_.Now();
    // The fast path, and the atomic winner selection: one conditional
    // UPDATE that only an ISSUED, live grant with every binding equal and
    // the caller as principal passes.
    CANTDO_ASSIGN_OR_RETURN(
        pg::Result won,
        tx.Exec(absl::StrCat("UPDATE cantdo.grants SET state = 'CLAIMED', claim_time = $8, claim_key_sha256 = $9 "
                             "WHERE grant_id = $1::uuid AND state = 'ISSUED' AND principal = $2 AND action = $3 AND "
                             "workflow_id = $4 AND run_id = $5 AND step = $6 AND parameters_hash = $7 AND "
                             "resource = $10 AND expire_time > $8 RETURNING ",
                             kGrantColumns),
                {req.grant_id(), caller.principal(), act.action(), act.workflow_id(), act.run_id(), act.step(),
                 params.sha256, Ts(now), key_sha, act.resource()}));
    std::optional<GrantRow> grant;
    bool reclaim = false;
    if (won.Rows() == 1) {
      CANTDO_ASSIGN_OR_RETURN(GrantRow g, ReadGrant(won, 0));
      grant = std::move(g);
    } else {
      // Why not: read the row (locked, so concurrent claimers queue here)
      // and name the first binding or state that fails.
      CANTDO_ASSIGN_OR_RETURN(auto current, LoadGrant(tx, req.grant_id(), true));
      std::string reason;
      if (!current) reason = "GRANT_NOT_FOUND";
      else {
        const cv1::Grant& g = current->proto;
        if (g.principal() != caller.principal()) reason = "GRANT_PRINCIPAL_MISMATCH";
        else if (g.action() != act.action() || g.resource() != act.resource()) reason = "GRANT_ACTION_MISMATCH";
        else if (g.workflow_id() != act.workflow_id() || g.run_id() != act.run_id()) reason = "GRANT_WORKFLOW_MISMATCH";
        else if (g.step() != act.step()) reason = "GRANT_STEP_MISMATCH";
        else if (g.parameters_hash() != params.sha256) reason = "GRANT_PARAMETERS_MISMATCH";
        else if (g.state() == cv1::GRANT_STATE_CONSUMED) reason = "GRANT_ALREADY_CONSUMED";
        else if (g.state() == cv1::GRANT_STATE_REVOKED) reason = "GRANT_REVOKED";
        else if (g.state() == cv1::GRANT_STATE_EXPIRED || g.expire_time().seconds() <= absl::ToUnixSeconds(now)) reason = "GRANT_EXPIRED";
        else if (g.state() == cv1::GRANT_STATE_CLAIMED && current->claim_key_sha256 == key_sha) reclaim = true;
        else reason = "GRANT_ALREADY_CLAIMED";
      }
      if (!reclaim) {
        LedgerRecord rec;
        if (current) {
          rec = GrantRecord(cv1::LEDGER_EVENT_KIND_GRANT_DENIED, caller.principal(), current->proto);
        } else {
          // No such grant: record what was attempted, so the attempt shows
          // up under its workflow and action.
          rec.action = act.action();
          rec.resource = act.resource();
          rec.workflow_id = act.workflow_id();
          rec.run_id = act.run_id();
          rec.step = act.step();
          rec.parameters_hash = params.sha256;
        }
        rec.kind = cv1::LEDGER_EVENT_KIND_GRANT_DENIED;
        rec.actor = caller.principal();
        rec.grant_id = req.grant_id();
        rec.reason = reason;
        rec.detail = {{"operation", "claim"},
                      {"presented_action", act.action()},
                      {"presented_workflow_id", act.workflow_id()},
                      {"presented_step", act.step()},
                      {"presented_parameters_hash", params.sha256}};
        CANTDO_RETURN_IF_ERROR(Ledger::Append(tx, rec, now).status());
        refusal = WithMetadata(PermissionDenied(reason, absl::StrCat("grant refused: ", reason)), "grant_id",
                               req.grant_id());
        return absl::OkStatus();
      }
      // The same claimer again (crash between claim and consume): same
      // execution, fresh credential; the old one is destroyed below.
      CANTDO_RETURN_IF_ERROR(tx.Exec("UPDATE cantdo.grants SET claim_time = $2 WHERE grant_id = $1::uuid",
                                     {req.grant_id(), Ts(now)})
                                 .status());
      grant = std::move(current);
    }

    const cv1::Grant& g = grant->proto;
    issuer = IssuerFor(g.credential_kind());
    if (g.credential_kind() != cv1::EXECUTION_CREDENTIAL_KIND_UNSPECIFIED) {
      if (issuer == nullptr) {
        return WithReason(absl::InternalError("no issuer configured for this grant's credential kind"),
                          "CREDENTIAL_UNAVAILABLE");
      }
      if (reclaim && !grant->credential_handle.empty()) {
        CANTDO_RETURN_IF_ERROR(issuer->Destroy(grant->credential_handle));
      }
      const absl::Time until = std::min(now + options_.credential_ttl, absl::FromUnixSeconds(g.expire_time().seconds()));
      CANTDO_ASSIGN_OR_RETURN(IssuedCredential cred, issuer->Issue(g, grant->credential_target, until));
      issued_handle = cred.handle;
      *resp.mutable_credential() = std::move(cred.credential);
      CANTDO_RETURN_IF_ERROR(tx.Exec("UPDATE cantdo.grants SET credential_handle = $2 WHERE grant_id = $1::uuid",
                                     {req.grant_id(), issued_handle.empty() ? pg::NullParam() : pg::Param(issued_handle)})
                                 .status());
    }
    CANTDO_ASSIGN_OR_RETURN(auto fresh, LoadGrant(tx, req.grant_id(), false));
    *resp.mutable_grant() = fresh->proto;
    CANTDO_ASSIGN_OR_RETURN(*resp.mutable_action(), ApprovedAction(*fresh));
    LedgerRecord rec = GrantRecord(cv1::LEDGER_EVENT_KIND_GRANT_CLAIMED, caller.principal(), fresh->proto);
    rec.detail = {{"reclaim", reclaim}, {"idempotency_key_sha256", key_sha}};
    if (resp.has_credential()) rec.detail["credential_kind"] = fresh->proto.credential_kind();
    return Ledger::Append(tx, rec, now).status();
  });
  if (!st.ok()) {
    // The claim rolled back: a credential made for it must not outlive it.
    if (!issued_handle.empty() && issuer != nullptr) (void)issuer->Destroy(issued_handle);
    return st;
  }
  CANTDO_RETURN_IF_ERROR(refusal);
  return resp;
}

absl::StatusOr<v1::ConsumeGrantResponse> Authority::ConsumeGrant(const Caller& caller,
                                                                 const v1::ConsumeGrantRequest& req) {
  v1::ConsumeGrantResponse resp;
  absl::Status refusal;
  std::string handle;
  // Fast path: a CLAIMED live grant of the caller's is consumed, and
  // recorded, in one statement, unless it is an admission grant (whose
  // consume admits a run in the same transaction) or the consume is not
  // the first (the transaction below tells a repeat from a reuse).
  const absl::Time fast_now = clock_.Now();
  CANTDO_ASSIGN_OR_RETURN(
      std::optional<GrantRow> fast,
      TransitionInOneStatement(
          pool_, "UPDATE cantdo.grants SET state = 'CONSUMED', consume_time = $3, outcome_digest = $4 "
          "WHERE grant_id = $1::uuid AND state = 'CLAIMED' AND principal = $2 AND expire_time > $3 "
          "AND NOT (action = 'workflow.start' AND step = 'admission')",
          {req.grant_id(), caller.principal(), Ts(fast_now), req.outcome_digest()},
          cv1::LEDGER_EVENT_KIND_GRANT_CONSUMED, caller.principal(), {{"outcome_digest", req.outcome_digest()}},
          fast_now));
  bool done = false;
  if (fast) {
    handle = fast->credential_handle;
    *resp.mutable_grant() = std::move(fast->proto);
    done = true;
  }
  absl::Status st = done ? absl::OkStatus() : pg::RunInTransaction(pool_, {}, [&](pg::Connection& tx) -> absl::Status {
    resp.Clear();
    refusal = absl::OkStatus();
    handle.clear();
    const absl::Time now = clock_.Now();
    CANTDO_ASSIGN_OR_RETURN(
        pg::Result won,
        tx.Exec(absl::StrCat("UPDATE cantdo.grants SET state = 'CONSUMED', consume_time = $3, outcome_digest = $4 "
                             "WHERE grant_id = $1::uuid AND state = 'CLAIMED' AND principal = $2 AND expire_time > $3 "
                             "RETURNING ",
                             kGrantColumns),
                {req.grant_id(), caller.principal(), Ts(now), req.outcome_digest()}));
    if (won.Rows() == 1) {
      CANTDO_ASSIGN_OR_RETURN(GrantRow g, ReadGrant(won, 0));
      handle = g.credential_handle;
      *resp.mutable_grant() = g.proto;
      LedgerRecord rec = GrantRecord(cv1::LEDGER_EVENT_KIND_GRANT_CONSUMED, caller.principal(), g.proto);
      rec.detail = {{"outcome_digest", req.outcome_digest()}};
      if (IsAdmissionGrant(g.proto)) {
        // Consuming a workflow.start grant IS the admission: the run gets its
        // first task in this transaction or the consume does not happen.
        CANTDO_ASSIGN_OR_RETURN(std::string admitted, AdmitRun(tx, g.proto, now));
        rec.detail["admission"] = admitted;
      }
      return Ledger::Append(tx, rec, now).status();
    }
    CANTDO_ASSIGN_OR_RETURN(auto current, LoadGrant(tx, req.grant_id(), true));
    std::string reason;
    if (!current) reason = "GRANT_NOT_FOUND";
    else {
      const cv1::Grant& g = current->proto;
      if (g.principal() != caller.principal()) reason = "GRANT_PRINCIPAL_MISMATCH";
      else if (g.state() == cv1::GRANT_STATE_CONSUMED && g.outcome_digest() == req.outcome_digest()) {
        *resp.mutable_grant() = g;  // a repeat of the same consume
        return absl::OkStatus();
      } else if (g.state() == cv1::GRANT_STATE_CONSUMED) reason = "GRANT_ALREADY_CONSUMED";
      else if (g.state() == cv1::GRANT_STATE_REVOKED) reason = "GRANT_REVOKED";
      else if (g.state() == cv1::GRANT_STATE_ISSUED) reason = "GRANT_NOT_CLAIMED";
      else reason = "GRANT_EXPIRED";
    }
    LedgerRecord rec;
    if (current) rec = GrantRecord(cv1::LEDGER_EVENT_KIND_GRANT_DENIED, caller.principal(), current->proto);
    rec.kind = cv1::LEDGER_EVENT_KIND_GRANT_DENIED;
    rec.actor = caller.principal();
    rec.grant_id = req.grant_id();
    rec.reason = reason;
    rec.detail = {{"operation", "consume"}};
    CANTDO_RETURN_IF_ERROR(Ledger::Append(tx, rec, now).status());
    refusal = WithMetadata(PermissionDenied(reason, absl::StrCat("consume refused: ", reason)), "grant_id",
                           req.grant_id());
    return absl::OkStatus();
  });
  CANTDO_RETURN_IF_ERROR(st);
  CANTDO_RETURN_IF_ERROR(refusal);
  if (!handle.empty()) {
    // Committed as consumed: the credential goes now (the sweeper retries
    // if this fails).
    if (absl::Status gone = ForgetCredential(resp.grant(), handle, "spiffe://cantdo/authority"); !gone.ok()) {
      log::Warn("credential not destroyed at consume; the sweeper retries",
                {{"grant_id", req.grant_id()}, {"error", std::string(gone.message())}});
    }
  }
  return resp;
}

absl::StatusOr<v1::RevokeGrantResponse> Authority::RevokeGrant(const Caller& caller, const v1::RevokeGrantRequest& req) {
  v1::RevokeGrantResponse resp;
  absl::Status refusal;
  std::string handle;
  cv1::ExecutionCredentialKind kind = cv1::EXECUTION_CREDENTIAL_KIND_UNSPECIFIED;
  absl::Status st = pg::RunInTransaction(pool_, {}, [&](pg::Connection& tx) -> absl::Status {
    resp.Clear();
    refusal = absl::OkStatus();
    const absl::Time now = clock_.Now();
    CANTDO_ASSIGN_OR_RETURN(auto current, LoadGrant(tx, req.grant_id(), true));
    if (!current) {
      refusal = WithReason(absl::NotFoundError(absl::StrCat("no grant ", req.grant_id())), "GRANT_NOT_FOUND");
      return absl::OkStatus();
    }
    const auto state = current->proto.state();
    if (state == cv1::GRANT_STATE_REVOKED) {
      *resp.mutable_grant() = current->proto;
      return absl::OkStatus();
    }
    if (state == cv1::GRANT_STATE_CONSUMED || state == cv1::GRANT_STATE_EXPIRED) {
      refusal = FailedPrecondition(state == cv1::GRANT_STATE_CONSUMED ? "GRANT_ALREADY_CONSUMED" : "GRANT_EXPIRED",
                                   absl::StrCat("grant is ", StateName(state), " and cannot be revoked"));
      return absl::OkStatus();
    }
    CANTDO_RETURN_IF_ERROR(tx.Exec("UPDATE cantdo.grants SET state = 'REVOKED', revoke_time = $2, revoke_reason = $3 "
                                   "WHERE grant_id = $1::uuid",
                                   {req.grant_id(), Ts(now), req.reason()})
                               .status());
    handle = current->credential_handle;
    kind = current->proto.credential_kind();
    CANTDO_ASSIGN_OR_RETURN(auto fresh, LoadGrant(tx, req.grant_id(), false));
    *resp.mutable_grant() = fresh->proto;
    LedgerRecord rec = GrantRecord(cv1::LEDGER_EVENT_KIND_GRANT_REVOKED, caller.principal(), fresh->proto);
    rec.detail = {{"reason", req.reason()}};
    return Ledger::Append(tx, rec, now).status();
  });
  CANTDO_RETURN_IF_ERROR(st);
  CANTDO_RETURN_IF_ERROR(refusal);
  if (!handle.empty()) (void)SweepExpired();  // destroys the revoked grant's credential
  return resp;
}

// --------------------------------------------------------------- background

absl::StatusOr<int> Authority::DispatchPending(int limit) {
  if (bridge_ == nullptr) return 0;
  const absl::Time now = clock_.Now();
  // Lease due approvals for 30 s so replicas do not send the same one at
  // once (a duplicate would be harmless: the bridge is idempotent per id).
  CANTDO_ASSIGN_OR_RETURN(
      std::vector<ApprovalRow> due,
      pg::RunInTransaction(pool_, {}, [&](pg::Connection& tx) -> absl::StatusOr<std::vector<ApprovalRow>> {
        CANTDO_ASSIGN_OR_RETURN(
            pg::Result r,
            tx.Exec(absl::StrCat("UPDATE cantdo.approvals SET next_dispatch_time = $1::timestamptz + interval '30 "
                                 "seconds', dispatch_attempts = dispatch_attempts + 1 WHERE approval_id IN (SELECT "
                                 "approval_id FROM cantdo.approvals WHERE state = 'PENDING' AND auth_req_id IS NULL "
                                 "AND next_dispatch_time <= $1 ORDER BY next_dispatch_time LIMIT $2 FOR UPDATE SKIP "
                                 "LOCKED) RETURNING ",
                                 kApprovalColumns, ", approver_subject"),
                    {Ts(now), pg::Int64Param(limit)}));
        std::vector<ApprovalRow> rows;
        for (int i = 0; i < r.Rows(); ++i) {
          CANTDO_ASSIGN_OR_RETURN(ApprovalRow row, ReadApproval(r, i));
          CANTDO_ASSIGN_OR_RETURN(std::string subject, r.GetString(i, 23));
          row.proto.add_approvers()->set_subject(subject);  // carries the login hint to the starter
          rows.push_back(std::move(row));
        }
        return rows;
      }));
  int sent = 0;
  for (auto& row : due) {
    const absl::Duration expiry =
        absl::FromUnixSeconds(row.proto.expire_time().seconds()) - now;
    auto auth_req_id = bridge_->Start(row.proto, expiry);
    if (!auth_req_id.ok()) {
      log::Warn("bridge did not start the approval request; will retry",
                {{"approval_id", row.proto.approval_id()}, {"error", std::string(auth_req_id.status().message())}});
      continue;
    }
    CANTDO_RETURN_IF_ERROR(pg::RunInTransaction(pool_, {}, [&](pg::Connection& tx) {
      return tx.Exec("UPDATE cantdo.approvals SET auth_req_id = $2 WHERE approval_id = $1::uuid AND auth_req_id IS NULL",
                     {row.proto.approval_id(), *auth_req_id})
          .status();
    }));
    ++sent;
  }
  return sent;
}

absl::StatusOr<int> Authority::SweepExpired(int limit) {
  int handled = 0;
  const absl::Time now = clock_.Now();
  const std::string actor = "spiffe://cantdo/authority";
  // Approvals nobody answered in time.
  CANTDO_RETURN_IF_ERROR(pg::RunInTransaction(pool_, {}, [&](pg::Connection& tx) -> absl::Status {
    CANTDO_ASSIGN_OR_RETURN(
        pg::Result r,
        tx.Exec("UPDATE cantdo.approvals SET state = 'EXPIRED', state_reason = 'APPROVAL_EXPIRED', "
                "state_message = 'no decision before the deadline', decide_time = $1 WHERE approval_id IN "
                "(SELECT approval_id FROM cantdo.approvals WHERE state = 'PENDING' AND expire_time <= $1 LIMIT $2 "
                "FOR UPDATE SKIP LOCKED) RETURNING approval_id::text",
                {Ts(now), pg::Int64Param(limit)}));
    for (int i = 0; i < r.Rows(); ++i) {
      CANTDO_ASSIGN_OR_RETURN(std::string id, r.GetString(i, 0));
      CANTDO_ASSIGN_OR_RETURN(auto a, LoadApproval(tx, id, false));
      LedgerRecord rec = ApprovalRecord(cv1::LEDGER_EVENT_KIND_APPROVAL_REJECTED, actor, a->proto);
      rec.reason = "APPROVAL_EXPIRED";
      CANTDO_RETURN_IF_ERROR(Ledger::Append(tx, rec, now).status());
      if (sink_ != nullptr) CANTDO_RETURN_IF_ERROR(sink_->ApprovalDecided(tx, a->proto));
      ++handled;
    }
    return absl::OkStatus();
  }));
  // Grants past their lifetime.
  CANTDO_RETURN_IF_ERROR(pg::RunInTransaction(pool_, {}, [&](pg::Connection& tx) -> absl::Status {
    CANTDO_ASSIGN_OR_RETURN(
        pg::Result r,
        tx.Exec(absl::StrCat("UPDATE cantdo.grants SET state = 'EXPIRED' WHERE grant_id IN (SELECT grant_id FROM "
                             "cantdo.grants WHERE state IN ('ISSUED','CLAIMED') AND expire_time <= $1 LIMIT $2 FOR "
                             "UPDATE SKIP LOCKED) RETURNING ",
                             kGrantColumns),
                {Ts(now), pg::Int64Param(limit)}));
    for (int i = 0; i < r.Rows(); ++i) {
      CANTDO_ASSIGN_OR_RETURN(GrantRow g, ReadGrant(r, i));
      CANTDO_RETURN_IF_ERROR(
          Ledger::Append(tx, GrantRecord(cv1::LEDGER_EVENT_KIND_GRANT_EXPIRED, actor, g.proto), now).status());
      ++handled;
    }
    return absl::OkStatus();
  }));
  // Credentials whose grant is no longer CLAIMED.
  CANTDO_ASSIGN_OR_RETURN(
      std::vector<GrantRow> stale,
      pg::RunInTransaction(pool_, {}, [&](pg::Connection& tx) -> absl::StatusOr<std::vector<GrantRow>> {
        CANTDO_ASSIGN_OR_RETURN(pg::Result r,
                                tx.Exec(absl::StrCat("SELECT ", kGrantColumns,
                                                     " FROM cantdo.grants WHERE credential_handle IS NOT NULL AND "
                                                     "state <> 'CLAIMED' LIMIT $1"),
                                        {pg::Int64Param(limit)}));
        std::vector<GrantRow> rows;
        for (int i = 0; i < r.Rows(); ++i) {
          CANTDO_ASSIGN_OR_RETURN(GrantRow g, ReadGrant(r, i));
          rows.push_back(std::move(g));
        }
        return rows;
      }));
  for (const auto& g : stale) {
    if (!ForgetCredential(g.proto, g.credential_handle, actor).ok()) continue;  // retried on the next sweep
    ++handled;
  }
  return handled;
}

absl::Status Authority::ForgetCredential(const cv1::Grant& g, const std::string& handle, const std::string& actor) {
  CredentialIssuer* issuer = IssuerFor(g.credential_kind());
  if (issuer == nullptr) return absl::FailedPreconditionError("no issuer for the grant's credential kind");
  CANTDO_RETURN_IF_ERROR(issuer->Destroy(handle));
  return pg::RunInTransaction(pool_, {}, [&](pg::Connection& tx) -> absl::Status {
    CANTDO_ASSIGN_OR_RETURN(pg::Result r, tx.Exec("UPDATE cantdo.grants SET credential_handle = NULL WHERE "
                                                  "grant_id = $1::uuid AND credential_handle = $2",
                                                  {g.grant_id(), handle}));
    if (r.CommandTuples() == 0) return absl::OkStatus();  // the other path recorded it
    return Ledger::Append(tx, GrantRecord(cv1::LEDGER_EVENT_KIND_CREDENTIAL_DESTROYED, actor, g), clock_.Now())
        .status();
  });
}

}  // namespace cantdo::authority
