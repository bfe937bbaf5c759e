#include "authority/approval_store.hpp"

#include <google/protobuf/util/json_util.h>

#include "absl/strings/str_cat.h"
#include "authority/pg_time.hpp"
#include "cantdo/base/status.hpp"

namespace cantdo::authority {
namespace {

namespace cv1 = common::v1;

constexpr char kColumns[] =
    "approval_id::text AS approval_id, principal, requester, workflow_id, run_id, step, action, resource, "
    "parameters, parameters_hash, state, state_reason, state_message, required_role, approver_subject, "
    "binding_message, policy_version, policy_hash, " CANTDO_PG_US("create_time", "create_us") ", "
    CANTDO_PG_US("decide_time", "decide_us") ", " CANTDO_PG_US("expire_time", "expire_us") ", "
    "coalesce(auth_req_id, '') AS auth_req_id, coalesce(grant_id::text, '') AS grant_id, "
    CANTDO_PG_US("coalesce(dispatch_time, create_time)", "dispatch_us");

absl::StatusOr<ApprovalRow> Read(const pg::Result& r, int i) {
  ApprovalRow row;
  cv1::Approval& a = row.proto;
  auto text = [&](const char* column) { return r.GetString(i, column); };
  CANTDO_ASSIGN_OR_RETURN(*a.mutable_approval_id(), text("approval_id"));
  CANTDO_ASSIGN_OR_RETURN(*a.mutable_principal(), text("principal"));
  CANTDO_ASSIGN_OR_RETURN(*a.mutable_requester(), text("requester"));
  cv1::ActionRef* act = a.mutable_action();
  CANTDO_ASSIGN_OR_RETURN(*act->mutable_workflow_id(), text("workflow_id"));
  CANTDO_ASSIGN_OR_RETURN(*act->mutable_run_id(), text("run_id"));
  CANTDO_ASSIGN_OR_RETURN(*act->mutable_step(), text("step"));
  CANTDO_ASSIGN_OR_RETURN(*act->mutable_action(), text("action"));
  CANTDO_ASSIGN_OR_RETURN(*act->mutable_resource(), text("resource"));
  CANTDO_ASSIGN_OR_RETURN(row.parameters_json, text("parameters"));
  if (!google::protobuf::util::JsonStringToMessage(row.parameters_json, act->mutable_parameters()).ok()) {
    return absl::DataLossError(absl::StrCat("approval ", a.approval_id(), ": stored parameters do not parse"));
  }
  CANTDO_ASSIGN_OR_RETURN(*a.mutable_parameters_hash(), text("parameters_hash"));
  CANTDO_ASSIGN_OR_RETURN(std::string state, text("state"));
  cv1::ApprovalState s;
  if (cv1::ApprovalState_Parse("APPROVAL_STATE_" + state, &s)) a.set_state(s);
  CANTDO_ASSIGN_OR_RETURN(std::string reason, text("state_reason"));
  cv1::ErrorReason er;
  if (!reason.empty() && cv1::ErrorReason_Parse(reason, &er)) a.set_state_reason(er);
  CANTDO_ASSIGN_OR_RETURN(*a.mutable_state_message(), text("state_message"));
  CANTDO_ASSIGN_OR_RETURN(*a.mutable_required_role(), text("required_role"));
  a.set_approvals_required(1);
  CANTDO_ASSIGN_OR_RETURN(row.approver_subject, text("approver_subject"));
  CANTDO_ASSIGN_OR_RETURN(*a.mutable_binding_message(), text("binding_message"));
  CANTDO_ASSIGN_OR_RETURN(*a.mutable_policy_version(), text("policy_version"));
  CANTDO_ASSIGN_OR_RETURN(*a.mutable_policy_hash(), text("policy_hash"));
  CANTDO_ASSIGN_OR_RETURN(int64_t create_us, r.GetInt64(i, "create_us"));
  CANTDO_ASSIGN_OR_RETURN(int64_t decide_us, r.GetInt64(i, "decide_us"));
  CANTDO_ASSIGN_OR_RETURN(int64_t expire_us, r.GetInt64(i, "expire_us"));
  SetMicros(a.mutable_create_time(), create_us);
  if (decide_us != 0) SetMicros(a.mutable_decide_time(), decide_us);
  SetMicros(a.mutable_expire_time(), expire_us);
  CANTDO_ASSIGN_OR_RETURN(row.auth_req_id, text("auth_req_id"));
  CANTDO_ASSIGN_OR_RETURN(*a.mutable_grant_id(), text("grant_id"));
  CANTDO_ASSIGN_OR_RETURN(int64_t dispatch_us, r.GetInt64(i, "dispatch_us"));
  row.dispatch_time = absl::FromUnixMicros(dispatch_us);
  return row;
}

absl::StatusOr<std::vector<ApprovalRow>> ReadAll(const pg::Result& r) {
  std::vector<ApprovalRow> rows;
  for (int i = 0; i < r.Rows(); ++i) {
    CANTDO_ASSIGN_OR_RETURN(ApprovalRow row, Read(r, i));
    rows.push_back(std::move(row));
  }
  return rows;
}

}  // namespace

absl::StatusOr<ApprovalRow> ApprovalStore::InsertOrFind(pg::Connection& tx, const NewApproval& a, bool* created) {
  const cv1::ActionRef& act = a.action;
  CANTDO_ASSIGN_OR_RETURN(
      pg::Result ins,
      tx.Exec(absl::StrCat(
                  "INSERT INTO cantdo.approvals (approval_id, principal, requester, workflow_id, run_id, step, action, "
                  "resource, parameters, parameters_hash, state, required_role, approver_subject, binding_message, "
                  "policy_version, policy_hash, create_time, expire_time, next_dispatch_time) "
                  "VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,'PENDING',$11,$12,$13,$14,$15,$16,$17,$16) "
                  "ON CONFLICT (principal, workflow_id, run_id, step, action) DO NOTHING RETURNING ",
                  kColumns),
              {a.approval_id, a.principal, a.requester, act.workflow_id(), act.run_id(), act.step(), act.action(),
               act.resource(), a.parameters_json, a.parameters_hash, a.required_role, a.approver_subject,
               a.binding_message, a.policy_version, a.policy_hash, PgTime(a.create_time), PgTime(a.expire_time)}));
  *created = ins.Rows() == 1;
  if (*created) return Read(ins, 0);
  CANTDO_ASSIGN_OR_RETURN(
      pg::Result existing,
      tx.Exec(absl::StrCat("SELECT ", kColumns,
                           " FROM cantdo.approvals WHERE principal = $1 AND workflow_id = $2 AND run_id = $3 AND "
                           "step = $4 AND action = $5"),
              {a.principal, act.workflow_id(), act.run_id(), act.step(), act.action()}));
  // Lost a race with a concurrent insert that has not committed: retry.
  if (existing.Rows() != 1) return absl::AbortedError("approval vanished; retry");
  return Read(existing, 0);
}

absl::StatusOr<std::optional<ApprovalRow>> ApprovalStore::Load(pg::Connection& conn, const std::string& approval_id,
                                                               bool lock) {
  CANTDO_ASSIGN_OR_RETURN(pg::Result r, conn.Exec(absl::StrCat("SELECT ", kColumns,
                                                               " FROM cantdo.approvals WHERE approval_id = $1::uuid",
                                                               lock ? " FOR UPDATE" : ""),
                                                  {approval_id}));
  if (r.Rows() == 0) return std::optional<ApprovalRow>();
  CANTDO_ASSIGN_OR_RETURN(ApprovalRow row, Read(r, 0));
  return std::optional<ApprovalRow>(std::move(row));
}

absl::StatusOr<std::vector<ApprovalRow>> ApprovalStore::LeaseDueDispatch(pg::Connection& tx, absl::Time now,
                                                                         absl::Duration lease, int limit) {
  CANTDO_ASSIGN_OR_RETURN(
      pg::Result r,
      tx.Exec(absl::StrCat("UPDATE cantdo.approvals SET next_dispatch_time = $1::timestamptz + $3::interval, "
                           "dispatch_attempts = dispatch_attempts + 1, dispatch_time = coalesce(dispatch_time, $1) "
                           "WHERE approval_id IN (SELECT approval_id FROM "
                           "cantdo.approvals WHERE state = 'PENDING' AND auth_req_id IS NULL AND next_dispatch_time "
                           "<= $1 ORDER BY next_dispatch_time LIMIT $2 FOR UPDATE SKIP LOCKED) RETURNING ",
                           kColumns),
              {PgTime(now), pg::Int64Param(limit), absl::StrCat(absl::ToInt64Microseconds(lease), " microseconds")}));
  return ReadAll(r);
}

absl::Status ApprovalStore::RecordAuthReqId(pg::Connection& conn, const std::string& approval_id,
                                            const std::string& auth_req_id) {
  return conn
      .Exec("UPDATE cantdo.approvals SET auth_req_id = $2 WHERE approval_id = $1::uuid AND auth_req_id IS NULL",
            {approval_id, auth_req_id})
      .status();
}

absl::StatusOr<std::vector<ApprovalRow>> ApprovalStore::ExpireOverdue(pg::Connection& tx, absl::Time now, int limit) {
  CANTDO_ASSIGN_OR_RETURN(
      pg::Result r,
      tx.Exec(absl::StrCat("UPDATE cantdo.approvals SET state = 'EXPIRED', state_reason = 'APPROVAL_EXPIRED', "
                           "state_message = 'no decision before the deadline', decide_time = $1 WHERE approval_id IN "
                           "(SELECT approval_id FROM cantdo.approvals WHERE state = 'PENDING' AND expire_time <= $1 "
                           "LIMIT $2 FOR UPDATE SKIP LOCKED) RETURNING ",
                           kColumns),
              {PgTime(now), pg::Int64Param(limit)}));
  return ReadAll(r);
}

absl::Status ApprovalStore::Decide(pg::Connection& tx, const std::string& approval_id, const std::string& state,
                                   const std::string& reason, const std::string& message, absl::Time now,
                                   const std::string& grant_id) {
  return tx
      .Exec("UPDATE cantdo.approvals SET state = $2, state_reason = $3, state_message = $4, decide_time = $5, "
            "grant_id = $6::uuid WHERE approval_id = $1::uuid",
            {approval_id, state, reason, message, PgTime(now), grant_id.empty() ? pg::NullParam() : pg::Param(grant_id)})
      .status();
}

absl::StatusOr<std::optional<ApprovalResult>> ApprovalStore::FindResult(pg::Connection& conn,
                                                                        const std::string& approval_id,
                                                                        const std::string& auth_req_id) {
  CANTDO_ASSIGN_OR_RETURN(pg::Result r, conn.Exec("SELECT outcome, verified, reason, message FROM "
                                                  "cantdo.approval_results WHERE approval_id = $1::uuid AND "
                                                  "auth_req_id = $2",
                                                  {approval_id, auth_req_id}));
  if (r.Rows() == 0) return std::optional<ApprovalResult>();
  ApprovalResult out;
  out.approval_id = approval_id;
  out.auth_req_id = auth_req_id;
  CANTDO_ASSIGN_OR_RETURN(out.outcome, r.GetString(0, "outcome"));
  CANTDO_ASSIGN_OR_RETURN(out.verified, r.GetBool(0, "verified"));
  CANTDO_ASSIGN_OR_RETURN(out.reason, r.GetString(0, "reason"));
  CANTDO_ASSIGN_OR_RETURN(out.message, r.GetString(0, "message"));
  return std::optional<ApprovalResult>(std::move(out));
}

absl::Status ApprovalStore::RecordResult(pg::Connection& tx, const ApprovalResult& r) {
  auto or_null = [](const std::string& s) { return s.empty() ? pg::NullParam() : pg::Param(s); };
  return tx
      .Exec("INSERT INTO cantdo.approval_results (approval_id, auth_req_id, outcome, id_token, id_token_sha256, "
            "subject, verified, reason, message, receive_time, token_id) "
            "VALUES ($1::uuid,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11)",
            {r.approval_id, r.auth_req_id, r.outcome, or_null(r.id_token), or_null(r.id_token_sha256),
             or_null(r.subject), pg::BoolParam(r.verified), r.reason, r.message, PgTime(r.receive_time),
             or_null(r.token_id)})
      .status();
}

absl::StatusOr<bool> ApprovalStore::TokenApprovedBefore(pg::Connection& conn, const std::string& token_id) {
  CANTDO_ASSIGN_OR_RETURN(pg::Result r, conn.Exec("SELECT 1 FROM cantdo.approval_results WHERE token_id = $1 "
                                                  "AND verified",
                                                  {token_id}));
  return r.Rows() > 0;
}

absl::StatusOr<std::optional<absl::Time>> ApprovalStore::FirstApprovalBy(pg::Connection& conn,
                                                                         const std::string& id_token_sha256) {
  CANTDO_ASSIGN_OR_RETURN(
      pg::Result r, conn.Exec(absl::StrCat("SELECT ", CANTDO_PG_US("min(receive_time)", "first_us"),
                                           " FROM cantdo.approval_results WHERE id_token_sha256 = $1 AND verified"),
                              {id_token_sha256}));
  CANTDO_ASSIGN_OR_RETURN(int64_t first_us, r.GetInt64(0, "first_us"));
  if (first_us == 0) return std::optional<absl::Time>();
  return std::optional<absl::Time>(absl::FromUnixMicros(first_us));
}

}  // namespace cantdo::authority
