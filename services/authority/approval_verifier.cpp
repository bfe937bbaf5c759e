#include "authority/approval_verifier.hpp"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "cantdo/base/status.hpp"

namespace cantdo::authority {
namespace {

constexpr char kAuthReqIdClaim[] = "urn:openid:params:jwt:claim:auth_req_id";

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

absl::Status ApprovalVerifier::Check(const ApprovalFacts& request, const auth::VerifiedToken& token) const {
  const auto& claims = token.claims;
  const std::string& role = request.required_role;
  const auto& directory = policy_.Approvers(role);
  if (!HasRole(claims, policy_.role_claim(), role)) {
    return PermissionDenied("APPROVAL_ROLE_MISMATCH",
                            absl::StrCat("the approver's ID token does not carry role '", role, "'"));
  }
  if (std::find(directory.begin(), directory.end(), token.subject) == directory.end()) {
    return PermissionDenied("APPROVAL_SUBJECT_NOT_IN_DIRECTORY",
                            absl::StrCat("the approver is not in the directory for role '", role, "'"));
  }
  if (token.subject == request.requester || absl::StrCat("user:", token.issuer, "#", token.subject) == request.requester) {
    return PermissionDenied("POLICY_SELF_APPROVAL", "the approver requested this action");
  }
  if (claims.contains(kAuthReqIdClaim) ? claims[kAuthReqIdClaim] != request.auth_req_id
                                       : options_.require_auth_req_id_claim) {
    return PermissionDenied("APPROVAL_REQUEST_MISMATCH", "the ID token answers another CIBA request");
  }
  if (token.subject != request.approver_subject) {
    return PermissionDenied("APPROVAL_REQUEST_MISMATCH", "the ID token is not from the approver who was asked");
  }
  return absl::OkStatus();
}

}  // namespace cantdo::authority
