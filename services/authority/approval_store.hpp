#pragma once
// ApprovalStore: approval requests and the results delivered for them
// (tables cantdo.approvals and cantdo.approval_results, V0002; V0011 adds
// what the spam limits and the collapse read). The only
// place their SQL lives; rows are read by column name.
//
// Every function runs on the caller's connection. Those that write expect
// the caller's transaction (REQUIRES: inside a transaction), so that a
// decision and its ledger entry commit or roll back together.

#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "authority/approval_limits.hpp"
#include "cantdo/common/v1/authorization.pb.h"
#include "cantdo/pg/connection.hpp"

namespace cantdo::authority {

struct ApprovalRow {
  // As the API shows it; `approvers` is not filled from the row.
  common::v1::Approval proto;
  // The parameters' RFC 8785 text, exactly what parameters_hash hashes.
  std::string parameters_json;
  // The approver the request was sent to (the CIBA login hint).
  std::string approver_subject;
  // The provider's id for the backchannel request; "" until dispatched.
  std::string auth_req_id;
  // When the authority first asked the bridge to send the current ask's
  // request (the creation time until then): no token issued earlier
  // answers it.
  absl::Time dispatch_time;
  // The current ask: 1 for the first CIBA request, n after the provider
  // ended n-1 of them without a decision (V0013).
  int ask = 1;
  // The trace of the call that opened it (W3C traceparent, V0015; "" if
  // none): its dispatch to the bridge continues that trace.
  std::string traceparent;
};

// A new approval request, PENDING, due for dispatch at `create_time`.
struct NewApproval {
  std::string approval_id, principal, requester;
  common::v1::ActionRef action;  // its parameters are ignored: see below
  std::string parameters_json, parameters_hash;
  std::string required_role, approver_subject, binding_message;
  std::string policy_version, policy_hash;
  std::string traceparent;  // see ApprovalRow::traceparent
  absl::Time create_time, expire_time;
  // Whom the approval counts against (AccountablePrincipal).
  std::string accountable;
  // Whether an identical request of the same principal under another
  // (workflow, run, step) is answered with this approval while it is
  // PENDING: true only for external principals (on_behalf_of), never for
  // a workflow run's own approvals.
  bool collapsible = false;
};

// A result the bridge delivered, verified or not (the evidence kept).
struct ApprovalResult {
  std::string approval_id, auth_req_id;
  std::string outcome;                    // CibaOutcome name
  std::string id_token, id_token_sha256;  // "" unless the outcome is APPROVED
  std::string subject;                    // the verified token's sub, or ""
  std::string token_id;                   // TokenId() of the token, or ""
  bool verified = false;
  std::string reason, message;  // why not verified / not approved
  absl::Time receive_time;
};

// What a new approval request must be checked against (LockAndRead).
struct RequestScope {
  // The approval the request would duplicate (InsertOrFind), if any.
  std::optional<ApprovalRow> existing;
  // What the limits are checked against, as of now.
  LimitFacts facts;
};

class ApprovalStore {
 public:
  // Serialises, until the transaction ends, every request counted against
  // `a.accountable` and every request sent to `a.approver_subject`
  // (transaction-scoped advisory locks, always in this order), then reads
  // the approval `a` would duplicate (see InsertOrFind) and the facts of
  // every limit that is on, in one round trip. Under the locks, READ COMMITTED statements see
  // every approval the request could race with, so checking and inserting
  // in the same transaction is exact. Reads and locks nothing when no limit
  // is on and `a` is not collapsible (InsertOrFind still finds a duplicate
  // by its key). REQUIRES: inside a READ COMMITTED transaction, before
  // InsertOrFind.
  static absl::StatusOr<RequestScope> LockAndRead(pg::Connection& tx, const NewApproval& a,
                                                  const v1::ApprovalLimits& limits, absl::Time now);

  // Inserts `a` unless it would duplicate an approval, and returns the
  // stored row either way, setting `*created`. `a` duplicates the approval
  // with its (principal, workflow_id, run_id, step, action), in any state,
  // or, if `a.collapsible`, a PENDING collapsible one with its principal,
  // requester, action, resource and parameters_hash (a concurrent insert
  // that wins is found after it commits). REQUIRES: inside a transaction.
  static absl::StatusOr<ApprovalRow> InsertOrFind(pg::Connection& tx, const NewApproval& a, bool* created);

  // The approval, locked FOR UPDATE when `lock`; nullopt if none.
  static absl::StatusOr<std::optional<ApprovalRow>> Load(pg::Connection& conn, const std::string& approval_id,
                                                         bool lock);

  // Leases up to `limit` PENDING approvals whose backchannel request is not
  // yet started and due, for `lease` (so replicas do not send the same one
  // at once), counting the attempt; the first attempt sets dispatch_time.
  // REQUIRES: inside a transaction.
  static absl::StatusOr<std::vector<ApprovalRow>> LeaseDueDispatch(pg::Connection& tx, absl::Time now,
                                                                   absl::Duration lease, int limit);
  // Records the provider's auth_req_id once (a later one is ignored).
  static absl::Status RecordAuthReqId(pg::Connection& conn, const std::string& approval_id,
                                      const std::string& auth_req_id);

  // Opens the approval's next ask: ask + 1, no auth_req_id, dispatch due at
  // `due` (dispatch_time is set again by that dispatch), `message` shown
  // while it stays PENDING. REQUIRES: inside a transaction, the approval
  // locked.
  static absl::Status AskAgain(pg::Connection& tx, const std::string& approval_id, absl::Time due,
                               const std::string& message);
  // When the latest CIBA request to `approver_subject` for any pending
  // approval was dispatched, if any was.
  static absl::StatusOr<std::optional<absl::Time>> LastDispatchTo(pg::Connection& conn,
                                                                  const std::string& approver_subject);

  // Moves up to `limit` PENDING approvals past their expire_time to
  // EXPIRED (APPROVAL_EXPIRED) and returns them. REQUIRES: inside a
  // transaction.
  static absl::StatusOr<std::vector<ApprovalRow>> ExpireOverdue(pg::Connection& tx, absl::Time now, int limit);

  // Sets the terminal `state` (an ApprovalState name without prefix), its
  // reason and message, and the minted grant ("" for none).
  // REQUIRES: inside a transaction, the approval locked.
  static absl::Status Decide(pg::Connection& tx, const std::string& approval_id, const std::string& state,
                             const std::string& reason, const std::string& message, absl::Time now,
                             const std::string& grant_id);

  // The result already recorded for (approval_id, auth_req_id), if any.
  static absl::StatusOr<std::optional<ApprovalResult>> FindResult(pg::Connection& conn, const std::string& approval_id,
                                                                  const std::string& auth_req_id);
  // ALREADY_EXISTS if a verified result with the same non-empty token_id
  // exists (a concurrent delivery of the same token won). REQUIRES: inside
  // a transaction.
  static absl::Status RecordResult(pg::Connection& tx, const ApprovalResult& result);
  // Whether a token with this (non-empty) token_id has approved a request.
  static absl::StatusOr<bool> TokenApprovedBefore(pg::Connection& conn, const std::string& token_id);
  // When a token with these bytes (its SHA-256) first approved a request,
  // if it ever did.
  static absl::StatusOr<std::optional<absl::Time>> FirstApprovalBy(pg::Connection& conn,
                                                                   const std::string& id_token_sha256);
};

}  // namespace cantdo::authority
