#include "authority/approval_store.hpp"

#include <google/protobuf/util/json_util.h>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "authority/binding_message.hpp"
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
    CANTDO_PG_US("coalesce(dispatch_time, create_time)", "dispatch_us") ", ask, traceparent";

// The approval with a request's idempotency key, in any state.
const std::string& FindByKeySql() {
  static const std::string sql = absl::StrCat("SELECT ", kColumns,
                                              " FROM cantdo.approvals WHERE principal = $1 AND workflow_id = $2 AND "
                                              "run_id = $3 AND step = $4 AND action = $5");
  return sql;
}

// The pending approval an identical collapsible request is answered with
// (none unless $6: the request is collapsible).
const std::string& FindIdenticalSql() {
  static const std::string sql = absl::StrCat("SELECT ", kColumns,
                                              " FROM cantdo.approvals WHERE $6 AND state = 'PENDING' AND collapsible "
                                              "AND principal = $1 AND requester = $2 AND action = $3 AND resource = $4 "
                                              "AND parameters_hash = $5");
  return sql;
}

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
  CANTDO_ASSIGN_OR_RETURN(int64_t ask, r.GetInt64(i, "ask"));
  row.ask = static_cast<int>(ask);
  CANTDO_ASSIGN_OR_RETURN(row.traceparent, text("traceparent"));
  // Approvals opened before codes existed do not show one.
  const std::string code = BindingCode(a.approval_id());
  if (absl::EndsWith(a.binding_message(), BindingCodeSuffix(code))) a.set_binding_code(code);
  return row;
}

absl::StatusOr<std::optional<ApprovalRow>> ReadOptional(const pg::Result& r) {
  if (r.Rows() == 0) return std::optional<ApprovalRow>();
  CANTDO_ASSIGN_OR_RETURN(ApprovalRow row, Read(r, 0));
  return std::optional<ApprovalRow>(std::move(row));
}

// Seeds of the advisory lock keys (hashtextextended(key, seed)) of
// LockAndRead, distinct from each other and from the workflow
// engine's (4), so a requester and an approver never share a lock.
constexpr int64_t kAccountableLockSeed = 2601;
constexpr int64_t kApproverLockSeed = 2602;
constexpr char kLockSql[] = "SELECT pg_advisory_xact_lock(hashtextextended($1, $2))";
// At most this many denials are read for a cool-down check. A pair cannot
// reach it in window + cool-down without limits far above the defaults.
constexpr int64_t kMaxDenialsRead = 10000;

// The approval `a` would duplicate (ApprovalStore::InsertOrFind says which).
absl::StatusOr<std::optional<ApprovalRow>> FindExisting(pg::Connection& conn, const NewApproval& a) {
  const cv1::ActionRef& act = a.action;
  CANTDO_ASSIGN_OR_RETURN(pg::Result by_key, conn.Exec(FindByKeySql(), {a.principal, act.workflow_id(), act.run_id(),
                                                                        act.step(), act.action()}));
  if (by_key.Rows() > 0 || !a.collapsible) return ReadOptional(by_key);
  CANTDO_ASSIGN_OR_RETURN(pg::Result identical,
                          conn.Exec(FindIdenticalSql(), {a.principal, a.requester, act.action(), act.resource(),
                                                         a.parameters_hash, pg::BoolParam(a.collapsible)}));
  return ReadOptional(identical);
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

absl::StatusOr<RequestScope> ApprovalStore::LockAndRead(pg::Connection& tx, const NewApproval& a,
                                                        const v1::ApprovalLimits& limits, absl::Time now) {
  RequestScope scope;
  const bool limited = limits.requester().max_requests() > 0 || limits.approver().max_requests() > 0 ||
                       limits.approver_max_pending() > 0 || limits.max_denials() > 0;
  if (!limited && !a.collapsible) return scope;
  const cv1::ActionRef& act = a.action;
  const auto since = [&](const google::protobuf::Duration& window) {
    return PgTime(now - absl::Seconds(window.seconds()));
  };
  // Only the newest denials in window + cool-down can matter (CooldownEnd).
  const absl::Time denials_since =
      now - absl::Seconds(limits.denial_window().seconds()) - absl::Seconds(limits.denial_cooldown().seconds());
  std::vector<pg::Connection::BatchStatement> batch = {
      {kLockSql, {a.accountable, pg::Int64Param(kAccountableLockSeed)}},
      {kLockSql, {a.approver_subject, pg::Int64Param(kApproverLockSeed)}},
      {FindByKeySql(), {a.principal, act.workflow_id(), act.run_id(), act.step(), act.action()}},
      {FindIdenticalSql(),
       {a.principal, a.requester, act.action(), act.resource(), a.parameters_hash, pg::BoolParam(a.collapsible)}},
      // Each count stops at its limit (LIMIT 0 when the limit is off).
      {"WITH r AS (SELECT create_time FROM cantdo.approvals WHERE accountable = $1 AND create_time > $3 "
       "ORDER BY create_time DESC LIMIT $4), "
       "a AS (SELECT create_time FROM cantdo.approvals WHERE approver_subject = $2 AND create_time > $5 "
       "ORDER BY create_time DESC LIMIT $6), "
       "p AS (SELECT 1 FROM cantdo.approvals WHERE approver_subject = $2 AND state = 'PENDING' LIMIT $7) "
       "SELECT (SELECT count(*) FROM r) AS requester_count, " CANTDO_PG_US(
           "(SELECT min(create_time) FROM r)",
           "requester_oldest_us") ", "
                                  "(SELECT count(*) FROM a) AS approver_count, " CANTDO_PG_US(
                                      "(SELECT min(create_time) FROM a)",
                                      "approver_oldest_us") ", "
                                                            "(SELECT count(*) FROM p) AS approver_pending",
       {a.accountable, a.approver_subject, since(limits.requester().window()),
        pg::Int64Param(limits.requester().max_requests()), since(limits.approver().window()),
        pg::Int64Param(limits.approver().max_requests()), pg::Int64Param(limits.approver_max_pending())}},
      {"SELECT " CANTDO_PG_US("decide_time", "decide_us") " FROM cantdo.approvals WHERE accountable = $1 AND "
                                                          "approver_subject = $2 AND state = 'DENIED' AND decide_time "
                                                          "> $3 ORDER BY decide_time DESC LIMIT $4",
       {a.accountable, a.approver_subject, PgTime(denials_since),
        pg::Int64Param(limits.max_denials() > 0 ? kMaxDenialsRead : 0)}},
  };
  CANTDO_ASSIGN_OR_RETURN(std::vector<pg::Result> r, tx.ExecBatch(std::move(batch)));
  const pg::Result& by_key = r[2];
  const pg::Result& identical = r[3];
  CANTDO_ASSIGN_OR_RETURN(scope.existing, ReadOptional(by_key.Rows() > 0 ? by_key : identical));

  const pg::Result& counts = r[4];
  LimitFacts& facts = scope.facts;
  CANTDO_ASSIGN_OR_RETURN(facts.requester.count, counts.GetInt64(0, "requester_count"));
  CANTDO_ASSIGN_OR_RETURN(int64_t requester_oldest_us, counts.GetInt64(0, "requester_oldest_us"));
  facts.requester.oldest = absl::FromUnixMicros(requester_oldest_us);
  CANTDO_ASSIGN_OR_RETURN(facts.approver.count, counts.GetInt64(0, "approver_count"));
  CANTDO_ASSIGN_OR_RETURN(int64_t approver_oldest_us, counts.GetInt64(0, "approver_oldest_us"));
  facts.approver.oldest = absl::FromUnixMicros(approver_oldest_us);
  CANTDO_ASSIGN_OR_RETURN(facts.approver_pending, counts.GetInt64(0, "approver_pending"));
  const pg::Result& denials = r[5];
  for (int i = 0; i < denials.Rows(); ++i) {
    CANTDO_ASSIGN_OR_RETURN(int64_t decide_us, denials.GetInt64(i, "decide_us"));
    facts.denials.push_back(absl::FromUnixMicros(decide_us));
  }
  return scope;
}

absl::StatusOr<ApprovalRow> ApprovalStore::InsertOrFind(pg::Connection& tx, const NewApproval& a, bool* created) {
  const cv1::ActionRef& act = a.action;
  CANTDO_ASSIGN_OR_RETURN(
      pg::Result ins,
      tx.Exec(absl::StrCat(
                  "INSERT INTO cantdo.approvals (approval_id, principal, requester, workflow_id, run_id, step, action, "
                  "resource, parameters, parameters_hash, state, required_role, approver_subject, binding_message, "
                  "policy_version, policy_hash, create_time, expire_time, next_dispatch_time, accountable, "
                  "collapsible, traceparent) "
                  "VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,'PENDING',$11,$12,$13,$14,$15,$16,$17,$16,$18,$19,$20) "
                  "ON CONFLICT DO NOTHING RETURNING ",
                  kColumns),
              {a.approval_id,
               a.principal,
               a.requester,
               act.workflow_id(),
               act.run_id(),
               act.step(),
               act.action(),
               act.resource(),
               a.parameters_json,
               a.parameters_hash,
               a.required_role,
               a.approver_subject,
               a.binding_message,
               a.policy_version,
               a.policy_hash,
               PgTime(a.create_time),
               PgTime(a.expire_time),
               a.accountable,
               pg::BoolParam(a.collapsible),
               a.traceparent}));
  *created = ins.Rows() == 1;
  if (*created) return Read(ins, 0);
  CANTDO_ASSIGN_OR_RETURN(std::optional<ApprovalRow> existing, FindExisting(tx, a));
  // Lost a race with a concurrent insert that has not committed: retry.
  if (!existing) return absl::AbortedError("approval vanished; retry");
  return *std::move(existing);
}

absl::StatusOr<std::optional<ApprovalRow>> ApprovalStore::Load(pg::Connection& conn, const std::string& approval_id,
                                                               bool lock) {
  CANTDO_ASSIGN_OR_RETURN(
      pg::Result r, conn.Exec(absl::StrCat("SELECT ", kColumns, " FROM cantdo.approvals WHERE approval_id = $1::uuid",
                                           lock ? " FOR UPDATE" : ""),
                              {approval_id}));
  return ReadOptional(r);
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

absl::Status ApprovalStore::AskAgain(pg::Connection& tx, const std::string& approval_id, absl::Time due,
                                     const std::string& message) {
  return tx
      .Exec(
          "UPDATE cantdo.approvals SET ask = ask + 1, auth_req_id = NULL, dispatch_time = NULL, "
          "next_dispatch_time = $2, state_message = $3 WHERE approval_id = $1::uuid AND state = 'PENDING'",
          {approval_id, PgTime(due), message})
      .status();
}

absl::StatusOr<std::optional<absl::Time>> ApprovalStore::LastDispatchTo(pg::Connection& conn,
                                                                        const std::string& approver_subject) {
  CANTDO_ASSIGN_OR_RETURN(
      pg::Result r, conn.Exec(absl::StrCat("SELECT ", CANTDO_PG_US("max(dispatch_time)", "last_us"),
                                           " FROM cantdo.approvals WHERE approver_subject = $1 AND state = 'PENDING'"),
                              {approver_subject}));
  CANTDO_ASSIGN_OR_RETURN(int64_t last_us, r.GetInt64(0, "last_us"));
  if (last_us == 0) return std::optional<absl::Time>();
  return std::optional<absl::Time>(absl::FromUnixMicros(last_us));
}

absl::StatusOr<std::vector<ApprovalRow>> ApprovalStore::ExpireOverdue(pg::Connection& tx, absl::Time now, int limit) {
  CANTDO_ASSIGN_OR_RETURN(
      pg::Result r,
      tx.Exec(absl::StrCat(
                  "UPDATE cantdo.approvals SET state = 'EXPIRED', state_reason = 'APPROVAL_EXPIRED', "
                  "state_message = 'no decision before the approval''s deadline; the approver was asked ' || ask || "
                  "' time(s)', decide_time = $1 WHERE approval_id IN "
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
      .Exec(
          "UPDATE cantdo.approvals SET state = $2, state_reason = $3, state_message = $4, decide_time = $5, "
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
      .Exec(
          "INSERT INTO cantdo.approval_results (approval_id, auth_req_id, outcome, id_token, id_token_sha256, "
          "subject, verified, reason, message, receive_time, token_id) "
          "VALUES ($1::uuid,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11)",
          {r.approval_id, r.auth_req_id, r.outcome, or_null(r.id_token), or_null(r.id_token_sha256), or_null(r.subject),
           pg::BoolParam(r.verified), r.reason, r.message, PgTime(r.receive_time), or_null(r.token_id)})
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
