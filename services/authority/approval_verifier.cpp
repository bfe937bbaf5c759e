#include "authority/approval_verifier.hpp"

#include <algorithm>
#include <optional>

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

// A NumericDate claim, if present and numeric.
std::optional<absl::Time> TimeClaim(const nlohmann::json& claims, const char* name) {
  if (!claims.contains(name) || !claims[name].is_number()) return std::nullopt;
  return absl::FromUnixSeconds(claims[name].get<int64_t>());
}

}  // namespace

std::string TokenId(const auth::VerifiedToken& token) {
  const auto& claims = token.claims;
  if (claims.contains("jti") && claims["jti"].is_string() && !claims["jti"].get<std::string>().empty()) {
    return absl::StrCat("jti:", claims["jti"].get<std::string>());
  }
  if (claims.contains(kAuthReqIdClaim) && claims[kAuthReqIdClaim].is_string()) {
    return absl::StrCat("auth_req_id:", claims[kAuthReqIdClaim].get<std::string>());
  }
  return "";
}

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
  if (token.subject == request.requester ||
      absl::StrCat("user:", token.issuer, "#", token.subject) == request.requester) {
    return PermissionDenied("POLICY_SELF_APPROVAL", "the approver requested this action");
  }
  if (claims.contains(kAuthReqIdClaim) ? claims[kAuthReqIdClaim] != request.auth_req_id
                                       : options_.require_auth_req_id_claim) {
    return PermissionDenied("APPROVAL_REQUEST_MISMATCH", "the ID token answers another CIBA request");
  }
  if (token.subject != request.approver_subject) {
    return PermissionDenied("APPROVAL_REQUEST_MISMATCH", "the ID token is not from the approver who was asked");
  }
  const absl::Time earliest = request.dispatch_time - options_.clock_skew;
  const std::optional<absl::Time> iat = TimeClaim(claims, "iat");
  const std::optional<absl::Time> auth_time = TimeClaim(claims, "auth_time");
  if ((iat && *iat < earliest) || (auth_time && *auth_time < earliest)) {
    return PermissionDenied(
        "ID_TOKEN_ISSUED_BEFORE_REQUEST",
        absl::StrCat("the ID token was issued at ",
                     absl::FormatTime(std::min(iat.value_or(earliest), auth_time.value_or(earliest))),
                     ", before this approval's CIBA request was sent (", absl::FormatTime(request.dispatch_time), ")"));
  }
  return absl::OkStatus();
}

}  // namespace cantdo::authority
