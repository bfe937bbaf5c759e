// ApprovalVerifier: which verified ID tokens approve which approval
// request, each rule on its own, without a database.
#include <catch2/catch.hpp>

#include "authority/approval_verifier.hpp"
#include "cantdo/base/status.hpp"

using cantdo::GetReason;
using cantdo::authority::ApprovalFacts;
using cantdo::authority::ApprovalVerifier;
using cantdo::authority::ApprovalVerifierOptions;
using cantdo::authority::Policy;

namespace {

constexpr char kRoles[] = "https://cantdo.dev/roles";
constexpr char kAuthReqIdClaim[] = "urn:openid:params:jwt:claim:auth_req_id";

std::unique_ptr<Policy> TestPolicy() {
  auto p = Policy::Parse(R"({"version": "v1", "approvers": {"cfo": ["cfo1", "cfo2"], "dpo": ["dpo1"]},
    "rules": [{"action": "refund.issue", "decision": "REQUIRE_APPROVAL", "required_role": "cfo"}]})",
                         absl::Now());
  REQUIRE(p.ok());
  return *std::move(p);
}

// When the refund request below was sent.
const absl::Time kDispatched = absl::FromUnixSeconds(1800000000);

// A token libs/auth verified: `sub` with `roles`, issued a minute after
// the request was sent.
cantdo::auth::VerifiedToken Token(const std::string& sub, std::vector<std::string> roles = {"cfo"}) {
  cantdo::auth::VerifiedToken t;
  t.subject = sub;
  t.issuer = "https://idp.test/";
  t.issued = kDispatched + absl::Minutes(1);
  t.claims = {{"sub", sub}, {kRoles, roles}, {"iat", absl::ToUnixSeconds(t.issued)}};
  return t;
}

// The refund request sent to cfo1 on behalf of ops1, CIBA request areq-1.
ApprovalFacts Request() { return ApprovalFacts{"cfo", "cfo1", "user:https://idp.test/#ops1", "areq-1", kDispatched}; }

std::optional<std::string> Refusal(const ApprovalVerifier& v, const ApprovalFacts& r,
                                   const cantdo::auth::VerifiedToken& t) {
  absl::Status st = v.Check(r, t);
  if (st.ok()) return std::nullopt;
  CHECK(st.code() == absl::StatusCode::kPermissionDenied);
  return GetReason(st);
}

}  // namespace

TEST_CASE("approval verifier: the approver who was asked, with the role, approves", "[unit][authority]") {
  auto policy = TestPolicy();
  ApprovalVerifier v(*policy, {});
  CHECK(v.Check(Request(), Token("cfo1")).ok());
  // A role claim given as one string counts too.
  auto t = Token("cfo1");
  t.claims[kRoles] = "cfo";
  CHECK(v.Check(Request(), t).ok());
}

TEST_CASE("approval verifier: each rule refuses with its own reason", "[unit][authority]") {
  auto policy = TestPolicy();
  ApprovalVerifier v(*policy, {});
  CHECK(Refusal(v, Request(), Token("cfo1", {"dpo"})) == "APPROVAL_ROLE_MISMATCH");
  CHECK(Refusal(v, Request(), Token("cfo1", {})) == "APPROVAL_ROLE_MISMATCH");
  // The role claim alone is not enough: the directory decides who is a CFO.
  CHECK(Refusal(v, Request(), Token("mallory", {"cfo"})) == "APPROVAL_SUBJECT_NOT_IN_DIRECTORY");
  // Another CFO than the one asked (the phone in the wrong hands).
  CHECK(Refusal(v, Request(), Token("cfo2")) == "APPROVAL_REQUEST_MISMATCH");
  // The requester may not approve their own request, by subject or as a user principal.
  ApprovalFacts self = Request();
  self.requester = "cfo1";
  CHECK(Refusal(v, self, Token("cfo1")) == "POLICY_SELF_APPROVAL");
  self.requester = "user:https://idp.test/#cfo1";
  CHECK(Refusal(v, self, Token("cfo1")) == "POLICY_SELF_APPROVAL");
}

TEST_CASE("approval verifier: the CIBA auth_req_id claim must name this request", "[unit][authority]") {
  auto policy = TestPolicy();
  auto t = Token("cfo1");
  t.claims[kAuthReqIdClaim] = "areq-1";
  ApprovalVerifier lenient(*policy, {});
  CHECK(lenient.Check(Request(), t).ok());
  t.claims[kAuthReqIdClaim] = "areq-2";
  CHECK(Refusal(lenient, Request(), t) == "APPROVAL_REQUEST_MISMATCH");
  // Required: a token without the claim is refused; with the right one it passes.
  ApprovalVerifier strict(*policy, ApprovalVerifierOptions{true});
  CHECK(Refusal(strict, Request(), Token("cfo1")) == "APPROVAL_REQUEST_MISMATCH");
  t.claims[kAuthReqIdClaim] = "areq-1";
  CHECK(strict.Check(Request(), t).ok());
}

TEST_CASE("approval verifier: a token issued before the request was sent approves nothing", "[unit][authority]") {
  auto policy = TestPolicy();
  ApprovalVerifier v(*policy, ApprovalVerifierOptions{false, absl::Seconds(5)});
  auto t = Token("cfo1");
  // Within the clock skew: accepted (the provider's clock may run behind).
  t.claims["iat"] = absl::ToUnixSeconds(kDispatched - absl::Seconds(5));
  CHECK(v.Check(Request(), t).ok());
  // Beyond it: obtained for something else.
  t.claims["iat"] = absl::ToUnixSeconds(kDispatched - absl::Seconds(6));
  CHECK(Refusal(v, Request(), t) == "ID_TOKEN_ISSUED_BEFORE_REQUEST");
  // auth_time, where present, binds too: a recent token for an old login.
  t = Token("cfo1");
  t.claims["auth_time"] = absl::ToUnixSeconds(kDispatched - absl::Hours(1));
  CHECK(Refusal(v, Request(), t) == "ID_TOKEN_ISSUED_BEFORE_REQUEST");
  t.claims["auth_time"] = absl::ToUnixSeconds(kDispatched + absl::Seconds(30));
  CHECK(v.Check(Request(), t).ok());
}

TEST_CASE("approval verifier: a token's identity is its jti, else its auth_req_id claim, else none",
          "[unit][authority]") {
  using cantdo::authority::TokenId;
  auto t = Token("cfo1");
  CHECK(TokenId(t).empty());
  t.claims[kAuthReqIdClaim] = "areq-1";
  CHECK(TokenId(t) == "auth_req_id:areq-1");
  t.claims["jti"] = "abc";
  CHECK(TokenId(t) == "jti:abc");
  t.claims["jti"] = "";
  CHECK(TokenId(t) == "auth_req_id:areq-1");
}
