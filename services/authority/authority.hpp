#pragma once
// The authority's logic below the gRPC edge, as one object the service and
// the tests hold: policy decisions and approvals (approvals.hpp), the grant
// lifecycle with execution credentials (grants.hpp) and the background
// sweeps (sweeper.hpp). Handlers (authority_service) only authenticate the
// caller, validate fields and convert statuses.
//
// Concurrency: every state change is one READ COMMITTED transaction whose
// ledger entries commit with it (or a single statement doing both).

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "authority/approvals.hpp"
#include "authority/authority_metrics.hpp"
#include "authority/bridge_starter.hpp"
#include "authority/caller.hpp"
#include "authority/credentials.hpp"
#include "authority/decision_sink.hpp"
#include "authority/grants.hpp"
#include "authority/parameters.hpp"
#include "authority/policy.hpp"
#include "authority/sweeper.hpp"
#include "cantdo/auth/jwt_verifier.hpp"
#include "cantdo/authority/v1/authority_service.pb.h"
#include "cantdo/base/clock.hpp"
#include "cantdo/pg/pool.hpp"

namespace cantdo::authority {

struct AuthorityOptions {
  // The identity provider's issuer, as in its ID tokens' iss.
  std::string issuer;
  // Require the CIBA auth_req_id claim in ID tokens, and the clock skew
  // allowed between a request's dispatch and its token (ApprovalVerifierOptions).
  bool require_auth_req_id_claim = false;
  absl::Duration approval_clock_skew = absl::Seconds(5);
  // How long a released credential stays valid if never consumed, and how
  // old an unowned credential's intent must be before it is swept.
  absl::Duration credential_ttl = absl::Minutes(2);
  absl::Duration credential_orphan_grace = absl::Minutes(1);
  // Asking an approver again when the provider ended a request undecided.
  AskAgainOptions ask_again;
};

class Authority {
 public:
  // Everything must outlive the Authority. `bridge`, `sink` may be null;
  // the credential issuers may be null for a policy that releases none.
  // What it decides is counted in `metrics`.
  Authority(pg::Pool& pool, Clock& clock, const Policy& policy, const auth::JwtVerifier& verifier,
            AuthorityOptions options, CredentialIssuer* postgres_credentials, CredentialIssuer* secrets,
            DecisionSink* sink, BridgeStarter* bridge, AuthorityMetrics& metrics);

  absl::StatusOr<v1::RequestApprovalResponse> RequestApproval(const Caller& caller,
                                                              const v1::RequestApprovalRequest& req) {
    return approvals_.Request(caller, req);
  }
  absl::StatusOr<v1::GetApprovalResponse> GetApproval(const Caller& caller, const std::string& approval_id,
                                                      bool any_principal) {
    return approvals_.Get(caller, approval_id, any_principal);
  }
  absl::StatusOr<v1::CompleteApprovalResponse> CompleteApproval(const Caller&, const v1::CompleteApprovalRequest& req) {
    return approvals_.Complete(req);
  }
  absl::StatusOr<v1::ClaimGrantResponse> ClaimGrant(const Caller& caller, const v1::ClaimGrantRequest& req) {
    return grants_.Claim(caller, req);
  }
  absl::StatusOr<v1::ConsumeGrantResponse> ConsumeGrant(const Caller& caller, const v1::ConsumeGrantRequest& req) {
    return grants_.Consume(caller, req);
  }
  absl::StatusOr<v1::RevokeGrantResponse> RevokeGrant(const Caller& caller, const v1::RevokeGrantRequest& req) {
    return grants_.Revoke(caller, req);
  }

  // Background duties, each safe to run from several replicas at once:
  // start pending CIBA requests at the bridge (retrying), and expire
  // overdue approvals and grants and destroy credentials that outlived
  // their grant's claim. Return how many rows they handled.
  absl::StatusOr<int> DispatchPending(int limit = 20) { return approvals_.DispatchPending(limit); }
  absl::StatusOr<int> SweepExpired(int limit = 100) { return sweeper_.Sweep(limit); }
  // Stops the background work this object runs on its own threads (the
  // consume reaper); what is left is the sweeper's. Before the pool goes.
  void Stop() { grants_.StopReaper(); }

  const Policy& policy() const { return policy_; }

 private:
  const Policy& policy_;
  Approvals approvals_;
  Grants grants_;
  Sweeper sweeper_;
};

}  // namespace cantdo::authority
