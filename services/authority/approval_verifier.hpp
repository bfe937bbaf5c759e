#pragma once
// ApprovalVerifier: whether an ID token whose signature and standard claims
// libs/auth has verified approves one particular approval request. Pure (no
// I/O), so every rule has a unit test without PostgreSQL.
//
// Checks, in order, each failure a PERMISSION_DENIED with its reason:
//   APPROVAL_ROLE_MISMATCH            the role claim lacks the required role
//   APPROVAL_SUBJECT_NOT_IN_DIRECTORY the subject is not a directory
//                                     approver for the role
//   POLICY_SELF_APPROVAL              the approver is the requester
//   APPROVAL_REQUEST_MISMATCH         the token names another CIBA request
//                                     (auth_req_id claim), lacks that claim
//                                     where required, or comes from another
//                                     subject than the one asked
//   ID_TOKEN_ISSUED_BEFORE_REQUEST    iat (or auth_time, where present) is
//                                     earlier than the request's dispatch,
//                                     less the clock skew: the token was
//                                     obtained for something else
// That a token the provider made distinguishable (TokenId) has not approved
// another request is the caller's check (it needs the database). A token
// with no TokenId cannot be told from the identical token the same approver
// got for another request in the same second; the rules above are all that
// bind it (docs/security.md states the risk that remains).

#include <string>

#include "absl/status/status.h"
#include "authority/policy.hpp"
#include "cantdo/auth/jwt_verifier.hpp"

namespace cantdo::authority {

// What the authority recorded about the request the token should answer.
struct ApprovalFacts {
  std::string required_role;
  std::string approver_subject;  // who was asked
  std::string requester;         // never allowed to approve
  std::string auth_req_id;       // the provider's id for this request
  absl::Time dispatch_time;      // when the authority first asked to send it
};

struct ApprovalVerifierOptions {
  // Require the claim urn:openid:params:jwt:claim:auth_req_id. CIBA Core
  // puts it in push-mode tokens only; poll and ping tokens (Auth0,
  // oidc-provider) lack it. When present it must match either way.
  bool require_auth_req_id_claim = false;
  // How much earlier than the request's dispatch a token may say it was
  // issued (the provider's and the authority's clocks differ a little).
  absl::Duration clock_skew = absl::Seconds(5);
};

// What tells this token from every other token of its provider, where the
// provider says: "jti:<jti>", else "auth_req_id:<the CIBA auth_req_id
// claim>", else "" (Auth0 and oidc-provider in poll and ping mode give
// neither).
std::string TokenId(const auth::VerifiedToken& token);

class ApprovalVerifier {
 public:
  // `policy` must outlive the verifier.
  ApprovalVerifier(const Policy& policy, ApprovalVerifierOptions options) : policy_(policy), options_(options) {}

  absl::Status Check(const ApprovalFacts& request, const auth::VerifiedToken& token) const;

 private:
  const Policy& policy_;
  ApprovalVerifierOptions options_;
};

}  // namespace cantdo::authority
