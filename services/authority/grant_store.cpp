#include "authority/grant_store.hpp"

#include <google/protobuf/util/json_util.h>

#include "absl/strings/str_cat.h"
#include "authority/ledger.hpp"
#include "authority/pg_time.hpp"
#include "cantdo/base/status.hpp"

namespace cantdo::authority {
namespace {

namespace cv1 = common::v1;

// Of a row named g (the table, an UPDATE's target or a CTE of its rows).
constexpr char kColumns[] =
    "g.grant_id::text AS grant_id, g.state, g.approval_id::text AS approval_id, g.workflow_id, g.run_id, g.step, "
    "g.action, g.resource, g.parameters_hash, array_to_string(g.approver_subjects, ' ') AS approvers, "
    "g.policy_version, g.policy_hash, g.principal, " CANTDO_PG_US("g.issue_time", "issue_us") ", "
    CANTDO_PG_US("g.expire_time", "expire_us") ", " CANTDO_PG_US("g.claim_time", "claim_us") ", "
    CANTDO_PG_US("g.consume_time", "consume_us") ", " CANTDO_PG_US("g.revoke_time", "revoke_us") ", "
    "coalesce(g.outcome_digest, '') AS outcome_digest, coalesce(g.revoke_reason, '') AS revoke_reason, "
    "g.credential_kind, g.credential_target, coalesce(g.claim_key_sha256, '') AS claim_key_sha256, "
    "coalesce(g.credential_handle, '') AS credential_handle, "
    "(SELECT a.parameters FROM cantdo.approvals a WHERE a.approval_id = g.approval_id) AS approved_parameters";

// The claim's condition: ISSUED, live, and every binding equal. $1 grant,
// $2 principal, $3 action, $4 workflow, $5 run, $6 step, $7 parameters
// hash, $8 now, $9 claim key hash, $10 resource.
constexpr char kClaimUpdate[] =
    "UPDATE cantdo.grants g SET state = 'CLAIMED', claim_time = $8, claim_key_sha256 = $9 "
    "WHERE g.grant_id = $1::uuid AND g.state = 'ISSUED' AND g.principal = $2 AND g.action = $3 AND "
    "g.workflow_id = $4 AND g.run_id = $5 AND g.step = $6 AND g.parameters_hash = $7 AND g.resource = $10 AND "
    "g.expire_time > $8";

// The consume's condition: CLAIMED by the principal and live. $1 grant,
// $2 principal, $3 now, $4 outcome digest.
constexpr char kConsumeUpdate[] =
    "UPDATE cantdo.grants g SET state = 'CONSUMED', consume_time = $3, outcome_digest = $4 "
    "WHERE g.grant_id = $1::uuid AND g.state = 'CLAIMED' AND g.principal = $2 AND g.expire_time > $3";

std::vector<pg::Param> ClaimParams(const PresentedClaim& c, absl::Time now) {
  const cv1::ActionRef& a = c.action;
  return {c.grant_id, c.principal,       a.action(),  a.workflow_id(),    a.run_id(),
          a.step(),   c.parameters_hash, PgTime(now), c.claim_key_sha256, a.resource()};
}

absl::StatusOr<GrantRow> Read(const pg::Result& r, int i) {
  GrantRow row;
  cv1::Grant& g = row.proto;
  auto text = [&](const char* column) { return r.GetString(i, column); };
  CANTDO_ASSIGN_OR_RETURN(*g.mutable_grant_id(), text("grant_id"));
  CANTDO_ASSIGN_OR_RETURN(std::string state, text("state"));
  cv1::GrantState s;
  if (cv1::GrantState_Parse("GRANT_STATE_" + state, &s)) g.set_state(s);
  CANTDO_ASSIGN_OR_RETURN(*g.mutable_approval_id(), text("approval_id"));
  CANTDO_ASSIGN_OR_RETURN(*g.mutable_workflow_id(), text("workflow_id"));
  CANTDO_ASSIGN_OR_RETURN(*g.mutable_run_id(), text("run_id"));
  CANTDO_ASSIGN_OR_RETURN(*g.mutable_step(), text("step"));
  CANTDO_ASSIGN_OR_RETURN(*g.mutable_action(), text("action"));
  CANTDO_ASSIGN_OR_RETURN(*g.mutable_resource(), text("resource"));
  CANTDO_ASSIGN_OR_RETURN(*g.mutable_parameters_hash(), text("parameters_hash"));
  CANTDO_ASSIGN_OR_RETURN(std::string approvers, text("approvers"));
  if (!approvers.empty()) g.add_approver_subjects(approvers);
  CANTDO_ASSIGN_OR_RETURN(*g.mutable_policy_version(), text("policy_version"));
  CANTDO_ASSIGN_OR_RETURN(*g.mutable_policy_hash(), text("policy_hash"));
  CANTDO_ASSIGN_OR_RETURN(*g.mutable_principal(), text("principal"));
  struct {
    const char* column;
    google::protobuf::Timestamp* (cv1::Grant::*field)();
    bool always;
  } const times[] = {{"issue_us", &cv1::Grant::mutable_issue_time, true},
                     {"expire_us", &cv1::Grant::mutable_expire_time, true},
                     {"claim_us", &cv1::Grant::mutable_claim_time, false},
                     {"consume_us", &cv1::Grant::mutable_consume_time, false},
                     {"revoke_us", &cv1::Grant::mutable_revoke_time, false}};
  for (const auto& t : times) {
    CANTDO_ASSIGN_OR_RETURN(int64_t us, r.GetInt64(i, t.column));
    if (t.always || us != 0) SetMicros((g.*t.field)(), us);
  }
  CANTDO_ASSIGN_OR_RETURN(*g.mutable_outcome_digest(), text("outcome_digest"));
  CANTDO_ASSIGN_OR_RETURN(*g.mutable_revoke_reason(), text("revoke_reason"));
  CANTDO_ASSIGN_OR_RETURN(std::string kind, text("credential_kind"));
  cv1::ExecutionCredentialKind k;
  if (!kind.empty() && cv1::ExecutionCredentialKind_Parse("EXECUTION_CREDENTIAL_KIND_" + kind, &k)) {
    g.set_credential_kind(k);
  }
  CANTDO_ASSIGN_OR_RETURN(row.credential_target, text("credential_target"));
  CANTDO_ASSIGN_OR_RETURN(row.claim_key_sha256, text("claim_key_sha256"));
  CANTDO_ASSIGN_OR_RETURN(row.credential_handle, text("credential_handle"));
  CANTDO_ASSIGN_OR_RETURN(row.approved_parameters, text("approved_parameters"));
  return row;
}

absl::StatusOr<std::optional<GrantRow>> First(const pg::Result& r) {
  if (r.Rows() == 0) return std::optional<GrantRow>();
  CANTDO_ASSIGN_OR_RETURN(GrantRow g, Read(r, 0));
  return std::optional<GrantRow>(std::move(g));
}

absl::StatusOr<std::vector<GrantRow>> ReadAll(const pg::Result& r) {
  std::vector<GrantRow> rows;
  for (int i = 0; i < r.Rows(); ++i) {
    CANTDO_ASSIGN_OR_RETURN(GrantRow g, Read(r, i));
    rows.push_back(std::move(g));
  }
  return rows;
}

// `update` (a conditional UPDATE of cantdo.grants g) and the ledger entry
// of `kind` for the row it moved, as one statement: a data-modifying CTE.
// Returns the grant as updated, with the entry's id, or nothing if no row
// matched.
absl::StatusOr<std::optional<GrantRow>> UpdateAndRecord(pg::Pool& pool, const std::string& update,
                                                        std::vector<pg::Param> params, cv1::LedgerEventKind kind,
                                                        const std::string& actor, const std::string& acting_service,
                                                        const nlohmann::json& detail, absl::Time now) {
  CANTDO_ASSIGN_OR_RETURN(std::string entry,
                          Ledger::GrantEntryInsert("won", kind, actor, detail, now, static_cast<int>(params.size()) + 1,
                                                   params, acting_service));
  const std::string sql =
      absl::StrCat("WITH won AS (", update, " RETURNING g.*), entry AS (", entry, " RETURNING entry_id) SELECT ",
                   kColumns, ", (SELECT entry_id FROM entry) AS ledger_entry_id FROM won g");
  CANTDO_ASSIGN_OR_RETURN(auto conn, pool.Acquire(absl::Now() + absl::Seconds(10)));
  CANTDO_ASSIGN_OR_RETURN(pg::Result r, conn->Exec(sql, params));
  CANTDO_ASSIGN_OR_RETURN(std::optional<GrantRow> row, First(r));
  if (row) {
    CANTDO_ASSIGN_OR_RETURN(row->ledger_entry_id, r.GetInt64(0, "ledger_entry_id"));
  }
  return row;
}

}  // namespace

std::string CredentialKindName(cv1::ExecutionCredentialKind kind) {
  if (kind == cv1::EXECUTION_CREDENTIAL_KIND_UNSPECIFIED) return "";
  return cv1::ExecutionCredentialKind_Name(kind).substr(std::string("EXECUTION_CREDENTIAL_KIND_").size());
}

absl::StatusOr<cv1::ActionRef> ApprovedAction(const GrantRow& g) {
  cv1::ActionRef a;
  a.set_action(g.proto.action());
  a.set_resource(g.proto.resource());
  a.set_workflow_id(g.proto.workflow_id());
  a.set_run_id(g.proto.run_id());
  a.set_step(g.proto.step());
  if (!google::protobuf::util::JsonStringToMessage(g.approved_parameters, a.mutable_parameters()).ok()) {
    return absl::DataLossError(absl::StrCat("grant ", g.proto.grant_id(), ": the approved parameters do not parse"));
  }
  return a;
}

absl::StatusOr<std::optional<GrantRow>> GrantStore::Load(pg::Connection& conn, const std::string& grant_id, bool lock) {
  CANTDO_ASSIGN_OR_RETURN(
      pg::Result r, conn.Exec(absl::StrCat("SELECT ", kColumns, " FROM cantdo.grants g WHERE g.grant_id = $1::uuid",
                                           lock ? " FOR UPDATE OF g" : ""),
                              {grant_id}));
  return First(r);
}

absl::Status GrantStore::Mint(pg::Connection& tx, const NewGrant& n) {
  return tx
      .Exec(
          "INSERT INTO cantdo.grants (grant_id, approval_id, state, workflow_id, run_id, step, action, resource, "
          "parameters_hash, approver_subjects, policy_version, policy_hash, principal, issue_time, expire_time, "
          "credential_kind, credential_target) "
          "SELECT $1::uuid, approval_id, 'ISSUED', workflow_id, run_id, step, action, resource, parameters_hash, "
          "ARRAY[$2], policy_version, policy_hash, principal, $3, $4, $5, $6 FROM cantdo.approvals "
          "WHERE approval_id = $7::uuid",
          {n.grant_id, n.approver_subject, PgTime(n.issue_time), PgTime(n.expire_time), n.credential_kind,
           n.credential_target, n.approval_id})
      .status();
}

absl::StatusOr<std::optional<GrantRow>> GrantStore::ClaimIfIssued(pg::Connection& tx, const PresentedClaim& c,
                                                                  absl::Time now) {
  CANTDO_ASSIGN_OR_RETURN(pg::Result r,
                          tx.Exec(absl::StrCat(kClaimUpdate, " RETURNING ", kColumns), ClaimParams(c, now)));
  return First(r);
}

absl::StatusOr<std::optional<GrantRow>> GrantStore::ClaimInOneStatement(pg::Pool& pool, const PresentedClaim& c,
                                                                        absl::Time now, const nlohmann::json& detail) {
  return UpdateAndRecord(pool, absl::StrCat(kClaimUpdate, " AND g.credential_kind = ''"), ClaimParams(c, now),
                         cv1::LEDGER_EVENT_KIND_GRANT_CLAIMED, c.principal, c.acting_service, detail, now);
}

absl::Status GrantStore::TouchClaim(pg::Connection& tx, const std::string& grant_id, absl::Time now) {
  return tx.Exec("UPDATE cantdo.grants SET claim_time = $2 WHERE grant_id = $1::uuid", {grant_id, PgTime(now)})
      .status();
}

absl::Status GrantStore::SetCredentialHandle(pg::Connection& tx, const std::string& grant_id,
                                             const std::string& handle) {
  return tx
      .Exec("UPDATE cantdo.grants SET credential_handle = $2 WHERE grant_id = $1::uuid",
            {grant_id, handle.empty() ? pg::NullParam() : pg::Param(handle)})
      .status();
}

absl::StatusOr<std::optional<GrantRow>> GrantStore::ConsumeIfClaimed(pg::Connection& tx, const std::string& grant_id,
                                                                     const std::string& principal,
                                                                     const std::string& outcome_digest,
                                                                     absl::Time now) {
  CANTDO_ASSIGN_OR_RETURN(pg::Result r, tx.Exec(absl::StrCat(kConsumeUpdate, " RETURNING ", kColumns),
                                                {grant_id, principal, PgTime(now), outcome_digest}));
  return First(r);
}

absl::StatusOr<std::optional<GrantRow>> GrantStore::ConsumeInOneStatement(
    pg::Pool& pool, const std::string& grant_id, const std::string& principal, const std::string& acting_service,
    const std::string& outcome_digest, absl::Time now, const nlohmann::json& detail) {
  return UpdateAndRecord(
      pool, absl::StrCat(kConsumeUpdate, " AND NOT (g.action = 'workflow.start' AND g.step = 'admission')"),
      {grant_id, principal, PgTime(now), outcome_digest}, cv1::LEDGER_EVENT_KIND_GRANT_CONSUMED, principal,
      acting_service, detail, now);
}

absl::StatusOr<int64_t> GrantStore::ConsumedEntryId(pg::Connection& conn, const std::string& grant_id) {
  CANTDO_ASSIGN_OR_RETURN(pg::Result r,
                          conn.Exec("SELECT entry_id FROM cantdo.ledger WHERE grant_id = $1 AND "
                                    "grant_id <> '' AND kind = 'GRANT_CONSUMED' ORDER BY entry_id LIMIT 1",
                                    {grant_id}));
  if (r.Rows() == 0) return int64_t{0};
  return r.GetInt64(0, 0);
}

absl::Status GrantStore::Revoke(pg::Connection& tx, const std::string& grant_id, const std::string& reason,
                                absl::Time now) {
  return tx
      .Exec(
          "UPDATE cantdo.grants SET state = 'REVOKED', revoke_time = $2, revoke_reason = $3 WHERE grant_id = $1::uuid",
          {grant_id, PgTime(now), reason})
      .status();
}

absl::StatusOr<std::vector<GrantRow>> GrantStore::ExpireOverdue(pg::Connection& tx, absl::Time now, int limit) {
  CANTDO_ASSIGN_OR_RETURN(
      pg::Result r,
      tx.Exec(absl::StrCat("UPDATE cantdo.grants g SET state = 'EXPIRED' WHERE g.grant_id IN (SELECT grant_id FROM "
                           "cantdo.grants WHERE state IN ('ISSUED','CLAIMED') AND expire_time <= $1 LIMIT $2 FOR "
                           "UPDATE SKIP LOCKED) RETURNING ",
                           kColumns),
              {PgTime(now), pg::Int64Param(limit)}));
  return ReadAll(r);
}

absl::StatusOr<std::vector<GrantRow>> GrantStore::WithStaleCredentials(pg::Connection& conn, int limit) {
  CANTDO_ASSIGN_OR_RETURN(pg::Result r, conn.Exec(absl::StrCat("SELECT ", kColumns,
                                                               " FROM cantdo.grants g WHERE g.credential_handle IS "
                                                               "NOT NULL AND g.state <> 'CLAIMED' LIMIT $1"),
                                                  {pg::Int64Param(limit)}));
  return ReadAll(r);
}

absl::StatusOr<bool> GrantStore::ForgetCredentialHandle(pg::Connection& tx, const std::string& grant_id,
                                                        const std::string& handle) {
  CANTDO_ASSIGN_OR_RETURN(pg::Result r, tx.Exec("UPDATE cantdo.grants SET credential_handle = NULL WHERE grant_id = "
                                                "$1::uuid AND credential_handle = $2",
                                                {grant_id, handle}));
  return r.CommandTuples() > 0;
}

}  // namespace cantdo::authority
