#pragma once
// The authority's logic, below the gRPC edge: policy decisions, approvals
// verified from the identity provider's signature, one-shot grants with
// execution credentials, and the ledger entry for every decision and every
// refusal. Handlers (authority_service) only authenticate the caller,
// validate fields and convert statuses.
//
// Concurrency: every state change is one READ COMMITTED transaction whose
// last statement appends to the ledger. ClaimGrant moves ISSUED -> CLAIMED
// with one conditional UPDATE, so of any number of concurrent claimers
// exactly one wins; losers are refused with the reason read back from the
// row, and each refusal is itself committed to the ledger.

#include <memory>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "authority/credentials.hpp"
#include "authority/ledger.hpp"
#include "authority/policy.hpp"
#include "cantdo/auth/jwt_verifier.hpp"
#include "cantdo/authority/v1/authority_service.pb.h"
#include "cantdo/base/clock.hpp"
#include "cantdo/pg/pool.hpp"

namespace cantdo::authority {

// Who is asking: the SPIFFE id of the verified client certificate and, for
// the gateway only, the platform or user it acts for.
struct Caller {
  std::string identity;
  std::string on_behalf_of;
  const std::string& principal() const { return on_behalf_of.empty() ? identity : on_behalf_of; }
};

// Told, inside the deciding transaction, that an approval was decided, so
// the waiting workflow resumes without polling (the engine's signal path).
class DecisionSink {
 public:
  virtual ~DecisionSink() = default;
  virtual absl::Status ApprovalDecided(pg::Connection& tx, const common::v1::Approval& approval) = 0;
};

// NOTIFY cantdo_approval_decided, payload the approval id.
class NotifyDecisionSink final : public DecisionSink {
 public:
  absl::Status ApprovalDecided(pg::Connection& tx, const common::v1::Approval& approval) override;
};

// Signals the run that asked (workflow_id/run_id of the approval) with
// signal "cantdo.approval_decided", signal_id = approval id, payload a
// cantdo.common.v1.ApprovalDecidedSignal, through the engine's signal path
// (cantdo.workflow_signal, in the deciding transaction), and NOTIFYs
// cantdo_approval_decided. A run that is gone, closed or still pending
// admission (the gateway admits those itself) is logged, not an error:
// the decision stands either way.
class WorkflowSignalSink final : public DecisionSink {
 public:
  explicit WorkflowSignalSink(Clock& clock) : clock_(clock) {}
  absl::Status ApprovalDecided(pg::Connection& tx, const common::v1::Approval& approval) override;

 private:
  Clock& clock_;
  NotifyDecisionSink notify_;
};

// Asks the ciba-bridge to start a backchannel authentication; returns the
// provider's auth_req_id. Idempotent per approval id.
class BridgeStarter {
 public:
  virtual ~BridgeStarter() = default;
  virtual absl::StatusOr<std::string> Start(const common::v1::Approval& approval, absl::Duration requested_expiry) = 0;
};

struct AuthorityOptions {
  // The identity provider's issuer, as in its ID tokens' iss.
  std::string issuer;
  // Require the claim urn:openid:params:jwt:claim:auth_req_id in ID tokens.
  // CIBA Core puts it in push-mode tokens only; poll and ping tokens (Auth0,
  // oidc-provider) lack it. When present it must match either way, and an
  // ID token approves at most one request regardless.
  bool require_auth_req_id_claim = false;
  // How long a released credential stays valid if never consumed.
  absl::Duration credential_ttl = absl::Minutes(2);
};

class Authority {
 public:
  // Everything must outlive the Authority. `bridge`, `sink` may be null;
  // `credentials` may be null for a policy that releases none.
  Authority(pg::Pool& pool, Clock& clock, const Policy& policy, const auth::JwtVerifier& verifier,
            AuthorityOptions options, CredentialIssuer* postgres_credentials, CredentialIssuer* secrets,
            DecisionSink* sink, BridgeStarter* bridge);

  absl::StatusOr<v1::RequestApprovalResponse> RequestApproval(const Caller& caller, const v1::RequestApprovalRequest& req);
  absl::StatusOr<v1::GetApprovalResponse> GetApproval(const Caller& caller, const std::string& approval_id,
                                                      bool any_principal);
  absl::StatusOr<v1::CompleteApprovalResponse> CompleteApproval(const Caller& caller,
                                                                const v1::CompleteApprovalRequest& req);
  absl::StatusOr<v1::ClaimGrantResponse> ClaimGrant(const Caller& caller, const v1::ClaimGrantRequest& req);
  absl::StatusOr<v1::ConsumeGrantResponse> ConsumeGrant(const Caller& caller, const v1::ConsumeGrantRequest& req);
  absl::StatusOr<v1::RevokeGrantResponse> RevokeGrant(const Caller& caller, const v1::RevokeGrantRequest& req);

  // Background duties, each safe to run from several replicas at once:
  // start pending CIBA requests at the bridge (retrying with backoff),
  // expire overdue approvals and grants, destroy credentials that outlived
  // their grant's claim. Return how many rows they handled.
  absl::StatusOr<int> DispatchPending(int limit = 20);
  absl::StatusOr<int> SweepExpired(int limit = 100);

  const Policy& policy() const { return policy_; }

 private:
  absl::Status DecideAfterVerify(pg::Connection& tx, const std::string& approval_id, const v1::CompleteApprovalRequest& req,
                                 v1::CompleteApprovalResponse* out, absl::Status* refusal);
  CredentialIssuer* IssuerFor(common::v1::ExecutionCredentialKind kind) const;
  // Destroys the credential `handle` released for grant `g` and, if the
  // grant still names it, clears it and records CREDENTIAL_DESTROYED as
  // `actor`. The consume path and the sweeper may race to do this for the
  // same grant; exactly one of them records it.
  absl::Status ForgetCredential(const common::v1::Grant& g, const std::string& handle, const std::string& actor);

  pg::Pool& pool_;
  Clock& clock_;
  const Policy& policy_;
  const auth::JwtVerifier& verifier_;
  AuthorityOptions options_;
  CredentialIssuer* postgres_credentials_;
  CredentialIssuer* secrets_;
  DecisionSink* sink_;
  BridgeStarter* bridge_;
};

// Canonical parameters: RFC 8785 text and its SHA-256 (hex) of a Struct.
struct CanonicalParameters {
  std::string json;
  std::string sha256;
};
absl::StatusOr<CanonicalParameters> CanonicaliseParameters(const google::protobuf::Struct& parameters);

}  // namespace cantdo::authority
