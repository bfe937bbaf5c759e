// Issue 17, attack 3: an ID token is bound to the CIBA request it answers.
// A compromised bridge holds the bridge's client credentials and sees every
// approver's ID token; these tests play it against the real identity
// provider (tools/dev-idp), the real bridge binary and the real authority.
#include <set>
#include <thread>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "cantdo/base/ids.hpp"
#include "integration/approval_flow/approval_flow_harness.hpp"
#include "security/approval_binding/ciba_client.hpp"

using namespace cantdo::flowtest;
using cantdo::GetReason;
using cantdo::securitytest::JwtClaims;
using cantdo::securitytest::RogueCibaClient;

namespace {

constexpr char kCfo[] = "auth0|cfo";
constexpr char kAuthReqIdClaim[] = "urn:openid:params:jwt:claim:auth_req_id";

// A refund approval for `step`, pending at the provider (the real bridge
// has started it): its id and auth_req_id.
std::pair<std::string, std::string> PendingRefund(ApprovalFlow& f, const std::string& step) {
  auto r = f.Request(ApprovalFlow::Action("refund.issue", step));
  INFO(r.status().ToString());
  REQUIRE(r.ok());
  const std::string id = r->approval().approval_id();
  return {id, f.AuthReqId(id)};
}

}  // namespace

TEST_CASE("security: an approver's ID token obtained before a request was sent cannot approve it",
          "[security][approval_binding]") {
  // The authority's clock (which times the CIBA request it sends) moves
  // only when told; the provider keeps real time.
  cantdo::FakeClock clock(absl::Now());
  ApprovalFlow f({.clock = &clock});
  RogueCibaClient rogue(*f.idp);
  // The CFO approves something unrelated; the rogue bridge keeps the token.
  const std::string lunch = rogue.ApprovedToken(kCfo, "Lunch order 12 EUR");
  // The request is sent longer after that than the clock skew the authority
  // allows (5 s).
  clock.Set(absl::Now() + absl::Seconds(7));
  const auto [approval_id, auth_req_id] = PendingRefund(f, "refund");

  auto forged = f.Complete(approval_id, auth_req_id, lunch);
  INFO(forged.status().ToString());
  CHECK(forged.status().code() == absl::StatusCode::kPermissionDenied);
  CHECK(GetReason(forged.status()) == std::optional<std::string>("ID_TOKEN_ISSUED_BEFORE_REQUEST"));
  CHECK(f.GrantCount(approval_id) == 0);
  CHECK(f.Get(approval_id).approval().state() == cv1::APPROVAL_STATE_INVALID);
  CHECK(f.LedgerCount(approval_id, "APPROVAL_REJECTED", "ID_TOKEN_ISSUED_BEFORE_REQUEST") == 1);
  CHECK(f.LedgerCount(approval_id, "GRANT_ISSUED") == 0);
}

TEST_CASE("security: a token naming another CIBA request (auth_req_id claim) cannot approve this one",
          "[security][approval_binding]") {
  // The provider puts the request's id in its ID tokens, as push-mode
  // providers do.
  ApprovalFlow f(FlowOptions{.idp_env = {{"IDP_ID_TOKEN_AUTH_REQ_ID", "1"}}});
  const auto [approval_id, auth_req_id] = PendingRefund(f, "refund");
  // Issued after this request was sent, by the approver who was asked,
  // but for another request.
  RogueCibaClient rogue(*f.idp);
  const std::string other = rogue.ApprovedToken(kCfo, "Lunch order 12 EUR");
  REQUIRE(JwtClaims(other).value(kAuthReqIdClaim, "") != auth_req_id);

  auto forged = f.Complete(approval_id, auth_req_id, other);
  CHECK(forged.status().code() == absl::StatusCode::kPermissionDenied);
  CHECK(GetReason(forged.status()) == std::optional<std::string>("APPROVAL_REQUEST_MISMATCH"));
  CHECK(f.GrantCount(approval_id) == 0);
  CHECK(f.LedgerCount(approval_id, "APPROVAL_REJECTED", "APPROVAL_REQUEST_MISMATCH") == 1);
}

TEST_CASE("security: a token of another subject than the approver asked cannot approve",
          "[security][approval_binding]") {
  ApprovalFlow f;
  // Sent to the CFO; the token is the DPO's (who also holds no cfo role).
  const auto [approval_id, auth_req_id] = PendingRefund(f, "refund");
  RogueCibaClient rogue(*f.idp);
  const std::string dpo = rogue.ApprovedToken("auth0|dpo", "Lunch order 12 EUR");
  auto forged = f.Complete(approval_id, auth_req_id, dpo);
  CHECK(forged.status().code() == absl::StatusCode::kPermissionDenied);
  CHECK(GetReason(forged.status()) == std::optional<std::string>("APPROVAL_ROLE_MISMATCH"));
  CHECK(f.GrantCount(approval_id) == 0);
  CHECK(f.LedgerCount(approval_id, "APPROVAL_REJECTED", "APPROVAL_ROLE_MISMATCH") == 1);
}

TEST_CASE("security: one approver approving ten requests within a second gets ten grants, none lost or left pending",
          "[security][approval_binding]") {
  // Without jti (Auth0, plain oidc-provider) the tokens of one approver
  // issued within the same second are byte-identical; with it they differ.
  const bool jti = GENERATE(false, true);
  INFO("ID tokens with jti: " << jti);
  ApprovalFlow f(FlowOptions{.idp_env = {{"IDP_ID_TOKEN_JTI", jti ? "1" : "0"}}});
  constexpr int kRequests = 10;
  std::vector<std::string> ids;
  for (int i = 0; i < kRequests; ++i) ids.push_back(PendingRefund(f, absl::StrCat("refund-", i)).first);

  // The bridge dies; the CFO approves all ten within a second; the bridge
  // comes back and collects every token in its first round of polls.
  f.bridge->Kill();
  std::vector<std::string> pending;
  for (const auto& r : f.idp->Device("GET", std::string("/requests?subject=") + kCfo)) {
    pending.push_back(r.at("auth_req_id").get<std::string>());
  }
  REQUIRE(pending.size() == kRequests);
  for (const auto& id : pending) f.idp->Device("POST", "/requests/" + id + "/approve");
  f.bridge->Start();

  std::set<std::string> token_hashes;
  for (const auto& id : ids) {
    auto decided = f.WaitDecided(id, absl::Seconds(60));
    INFO(id << ": " << cv1::ApprovalState_Name(decided.approval().state()) << " " << decided.approval().state_message()
            << "\n"
            << f.Logs());
    CHECK(decided.approval().state() == cv1::APPROVAL_STATE_APPROVED);
    CHECK(decided.grant().state() == cv1::GRANT_STATE_ISSUED);
    auto result = f.ApprovalResult(id);
    REQUIRE(result.has_value());
    token_hashes.insert(cantdo::Sha256Hex(result->id_token));
  }
  // The scenario is the one that failed: identical tokens without jti.
  if (jti) {
    CHECK(token_hashes.size() == kRequests);
  } else {
    CHECK(token_hashes.size() < kRequests);
  }
}
