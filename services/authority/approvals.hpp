#pragma once
// Approvals: the policy decision for a requested action and, where the
// policy requires a human, the approval request, its dispatch to the
// ciba-bridge, and the verification of the result the bridge delivers,
// which mints the grant. Every decision and every refusal is recorded in
// the ledger in the transaction that makes it.

#include "absl/status/statusor.h"
#include "authority/approval_store.hpp"
#include "authority/approval_verifier.hpp"
#include "authority/authority_metrics.hpp"
#include "authority/bridge_starter.hpp"
#include "authority/caller.hpp"
#include "authority/decision_sink.hpp"
#include "authority/ledger.hpp"
#include "authority/policy.hpp"
#include "cantdo/auth/jwt_verifier.hpp"
#include "cantdo/authority/v1/authority_service.pb.h"
#include "cantdo/base/clock.hpp"
#include "cantdo/pg/pool.hpp"

namespace cantdo::authority {

// When the provider ends an approval's CIBA request without a decision
// (its own maximum lifetime, or it lost the request), the approver is asked
// again while the approval's deadline allows: the n-th ask again waits
// delay * 2^(n-1), at most max_delay, after the previous request ended, and
// never comes sooner than approver_gap after the last request sent to the
// same approver for any approval (so several approvals do not ring one
// phone at once). Over a 72 h deadline with the defaults the phone rings at
// most about 80 times for one approval, once an hour in the long run.
struct AskAgainOptions {
  absl::Duration delay = absl::Seconds(30);
  absl::Duration max_delay = absl::Hours(1);
  absl::Duration approver_gap = absl::Minutes(1);
};

struct ApprovalsOptions {
  // The identity provider's issuer, as in its ID tokens' iss.
  std::string issuer;
  ApprovalVerifierOptions verifier;
  AskAgainOptions ask_again;
};

class Approvals {
 public:
  // Everything must outlive this. `sink` and `bridge` may be null.
  // Decisions are counted in `metrics` once committed.
  Approvals(pg::Pool& pool, Clock& clock, const Policy& policy, const auth::JwtVerifier& tokens,
            ApprovalsOptions options, DecisionSink* sink, BridgeStarter* bridge, AuthorityMetrics& metrics);

  // The policy's decision; for REQUIRE_APPROVAL the approval: the one
  // already opened for this (principal, workflow, run, step, action), or an
  // identical PENDING one of the same external principal (collapsed), or a
  // new one if the policy's limits allow (approval_limits.hpp).
  absl::StatusOr<v1::RequestApprovalResponse> Request(const Caller& caller, const v1::RequestApprovalRequest& req);
  // NOT_FOUND (APPROVAL_NOT_FOUND) for an approval of another principal
  // unless `any_principal`.
  absl::StatusOr<v1::GetApprovalResponse> Get(const Caller& caller, const std::string& approval_id, bool any_principal);
  absl::StatusOr<v1::CompleteApprovalResponse> Complete(const v1::CompleteApprovalRequest& req);

  // Starts pending backchannel requests at the bridge (each leased for
  // kDispatchLease, so replicas do not send the same one at once; the
  // bridge is idempotent per approval anyway). Returns how many started.
  absl::StatusOr<int> DispatchPending(int limit);
  // Expires overdue approvals (ledger APPROVAL_REJECTED, APPROVAL_EXPIRED)
  // and announces them. Returns how many.
  absl::StatusOr<int> ExpireOverdue(int limit);

 private:
  // What a decision changed, to count once it committed.
  struct Decided {
    std::string action;
    std::string outcome;  // the approval's new final state, or ""
    bool asked_again = false;
    bool minted = false;
  };
  // The decision on one delivered result, in `tx`. A refusal the caller
  // must see after the transaction commits goes to `*refusal`.
  absl::Status Decide(pg::Connection& tx, const v1::CompleteApprovalRequest& req, v1::CompleteApprovalResponse* out,
                      absl::Status* refusal, Decided* decided);
  // OK if the approval `fresh` may be opened under the policy's limits,
  // given `facts`; otherwise its refusal, after recording it in `tx` as
  // `decision` with decision DENY and the refusal's reason. REQUIRES:
  // inside `tx`, `facts` read by ApprovalStore::LockAndRead in it.
  absl::Status RefuseOverLimit(pg::Connection& tx, const NewApproval& fresh, const LimitFacts& facts,
                               const LedgerRecord& decision, absl::Time now);
  // The provider ended `row`'s current request without a decision
  // (EXPIRED or LOST in `result`): schedules the next ask and records it
  // (result, ledger APPROVAL_REQUESTED with APPROVAL_ASKED_AGAIN). Returns
  // false, recording nothing, when the approval's deadline leaves no room
  // for another ask. REQUIRES: inside `tx`, the approval locked.
  absl::StatusOr<bool> AskAgain(pg::Connection& tx, const ApprovalRow& row, const v1::CompleteApprovalRequest& req,
                                ApprovalResult& result, absl::Time now, v1::CompleteApprovalResponse* out);
  // Mints the grant of a verified approval. REQUIRES: inside `tx`.
  absl::StatusOr<std::string> Mint(pg::Connection& tx, const ApprovalRow& approval, const std::string& approver,
                                   absl::Time now);

  pg::Pool& pool_;
  Clock& clock_;
  const Policy& policy_;
  const auth::JwtVerifier& tokens_;
  ApprovalVerifier verifier_;
  ApprovalsOptions options_;
  DecisionSink* sink_;
  BridgeStarter* bridge_;
  AuthorityMetrics& metrics_;
};

}  // namespace cantdo::authority
