// A worker's request for an irreversible action, end to end through the real
// trio: the authority opens an approval and asks the real ciba-bridge, which
// reaches the real dev identity provider; the approver answers on the
// provider's device endpoint; the bridge relays the result and the authority
// verifies the provider's ID token itself before minting a grant.
#include "integration/approval_flow/approval_flow_harness.hpp"

using namespace cantdo::flowtest;

namespace {

// Flips one character in the middle of the token's payload, keeping it
// base64url, so only the signature can tell.
std::string TamperPayload(const std::string& token) {
  const auto first = token.find('.');
  const auto second = token.find('.', first + 1);
  REQUIRE(first != std::string::npos);
  REQUIRE(second != std::string::npos);
  std::string out = token;
  char& c = out[first + 1 + (second - first - 1) / 2];
  c = c == 'A' ? 'B' : 'A';
  REQUIRE(out != token);
  return out;
}

// Opens a refund approval for `step` and waits for the provider to have
// the request pending at the CFO's device; returns (approval id, auth_req_id).
std::pair<std::string, std::string> OpenRefund(ApprovalFlow& f, const std::string& step) {
  auto r = f.Request(ApprovalFlow::Action("refund.issue", step));
  INFO(r.status());
  REQUIRE(r.ok());
  REQUIRE(r->decision() == cv1::DECISION_REQUIRE_APPROVAL);
  REQUIRE(r->approval().state() == cv1::APPROVAL_STATE_PENDING);
  const std::string approval_id = r->approval().approval_id();
  const std::string auth_req_id = f.AuthReqId(approval_id);
  return {approval_id, auth_req_id};
}

}  // namespace

TEST_CASE(
    "the CFO approves on the device: the authority verifies the provider's token and issues a grant "
    "the worker claims and consumes",
    "[integration][approval_flow]") {
  ApprovalFlow f;
  INFO(f.Logs());
  const cv1::ActionRef action = ApprovalFlow::Action("refund.issue", "refund");
  auto requested = f.Request(action);
  INFO(requested.status());
  REQUIRE(requested.ok());
  REQUIRE(requested->decision() == cv1::DECISION_REQUIRE_APPROVAL);
  const std::string approval_id = requested->approval().approval_id();
  CHECK(requested->approval().required_role() == "cfo");

  // The CFO's device shows the request with the exact binding message.
  const std::string auth_req_id = f.idp->WaitForPending("auth0|cfo");
  CHECK(f.AuthReqId(approval_id) == auth_req_id);
  auto pending = f.idp->Device("GET", "/requests/" + auth_req_id);
  const std::string shown = "Refund 12500 cents to cus_42 #" + requested->approval().binding_code();
  CHECK(pending.at("binding_message") == shown);
  CHECK(requested->approval().binding_message() == shown);
  f.idp->Device("POST", "/requests/" + auth_req_id + "/approve");

  auto decided = f.WaitDecided(approval_id, absl::Seconds(30));
  REQUIRE(decided.approval().state() == cv1::APPROVAL_STATE_APPROVED);
  REQUIRE(decided.has_grant());
  const cv1::Grant& g = decided.grant();
  CHECK(g.state() == cv1::GRANT_STATE_ISSUED);
  CHECK(g.approval_id() == approval_id);
  CHECK(g.action() == "refund.issue");
  CHECK(g.workflow_id() == "wf-refunds");
  CHECK(g.run_id() == "run-7");
  CHECK(g.step() == "refund");
  CHECK(g.parameters_hash() == requested->parameters_hash());
  CHECK(g.principal() == kWorker);
  CHECK(std::vector<std::string>(g.approver_subjects().begin(), g.approver_subjects().end()) ==
        std::vector<std::string>{"auth0|cfo"});
  CHECK(g.policy_version() == "flow-1");

  // The evidence is the provider's raw token, verified, from the CFO.
  auto evidence = f.ApprovalResult(approval_id);
  REQUIRE(evidence.has_value());
  CHECK(evidence->verified);
  CHECK(evidence->subject == "auth0|cfo");
  CHECK(evidence->outcome == "CIBA_OUTCOME_APPROVED");
  CHECK(std::count(evidence->id_token.begin(), evidence->id_token.end(), '.') == 2);
  CHECK(f.LedgerCount(approval_id, "APPROVAL_VERIFIED") == 1);
  CHECK(f.LedgerCount(approval_id, "GRANT_ISSUED") == 1);

  // The worker claims it for exactly the approved action, then consumes it.
  auto stub = f.Stub("worker");
  av1::ClaimGrantRequest claim;
  claim.set_grant_id(g.grant_id());
  *claim.mutable_action() = action;
  claim.set_idempotency_key("wf-refunds/run-7/refund");
  av1::ClaimGrantResponse claimed;
  {
    ::grpc::ClientContext ctx;
    auto st = stub->ClaimGrant(ApprovalFlow::Ctx(&ctx), claim, &claimed);
    INFO(st.error_message());
    REQUIRE(st.ok());
  }
  CHECK(claimed.grant().state() == cv1::GRANT_STATE_CLAIMED);
  av1::ConsumeGrantRequest consume;
  consume.set_grant_id(g.grant_id());
  consume.set_outcome_digest(std::string(64, 'b'));
  av1::ConsumeGrantResponse consumed;
  {
    ::grpc::ClientContext ctx;
    auto st = stub->ConsumeGrant(ApprovalFlow::Ctx(&ctx), consume, &consumed);
    INFO(st.error_message());
    REQUIRE(st.ok());
  }
  CHECK(consumed.grant().state() == cv1::GRANT_STATE_CONSUMED);
  CHECK(f.Get(approval_id).grant().state() == cv1::GRANT_STATE_CONSUMED);

  // The bridge saw its delivery acknowledged.
  CHECK(f.bridge->child().WaitForLogLine("result delivered to the authority", absl::Seconds(5)).has_value());
}

TEST_CASE("the CFO denies on the device: the approval is DENIED and no grant exists", "[integration][approval_flow]") {
  ApprovalFlow f;
  INFO(f.Logs());
  auto [approval_id, auth_req_id] = OpenRefund(f, "refund");
  CHECK(f.idp->WaitForPending("auth0|cfo") == auth_req_id);
  f.idp->Device("POST", "/requests/" + auth_req_id + "/deny");

  auto decided = f.WaitDecided(approval_id, absl::Seconds(30));
  CHECK(decided.approval().state() == cv1::APPROVAL_STATE_DENIED);
  CHECK(decided.approval().state_reason() == cv1::APPROVAL_DENIED);
  CHECK(!decided.has_grant());
  CHECK(decided.approval().grant_id().empty());
  CHECK(f.GrantCount(approval_id) == 0);
  CHECK(f.LedgerCount(approval_id, "APPROVAL_REJECTED", "APPROVAL_DENIED") == 1);
  auto evidence = f.ApprovalResult(approval_id);
  REQUIRE(evidence.has_value());
  CHECK(evidence->outcome == "CIBA_OUTCOME_DENIED");
  CHECK(evidence->id_token.empty());
}

TEST_CASE(
    "nobody answers before the provider's own expiry: not a decision, the approver is asked again and can "
    "still approve (#20)",
    "[integration][approval_flow]") {
  // The provider caps requested_expiry at 5 s; the authority's own deadline
  // (the rule's 72 h) is far away.
  ApprovalFlow f({.idp_env = {{"IDP_CIBA_MAX_EXPIRY", "5"}}});
  INFO(f.Logs());
  auto [approval_id, auth_req_id] = OpenRefund(f, "refund");
  CHECK(f.idp->Device("GET", "/requests/" + auth_req_id).at("status") == "pending");
  CHECK(f.bridge->child()
            .WaitForLogLine("\"msg\":\"backchannel authentication expired\"", absl::Seconds(30))
            .has_value());
  // A second request for the same approval reaches the approver.
  std::string second;
  WaitUntil(
      [&] {
        for (const auto& r : f.idp->Device("GET", "/requests?subject=auth0|cfo")) {
          if (r.at("auth_req_id").get<std::string>() != auth_req_id) second = r.at("auth_req_id").get<std::string>();
        }
        return !second.empty();
      },
      absl::Seconds(30));
  REQUIRE(!second.empty());
  CHECK(f.Get(approval_id).approval().state() == cv1::APPROVAL_STATE_PENDING);
  CHECK(f.LedgerCount(approval_id, "APPROVAL_REQUESTED", "APPROVAL_ASKED_AGAIN") == 1);
  CHECK(f.LedgerCount(approval_id, "APPROVAL_REJECTED", "APPROVAL_EXPIRED") == 0);
  f.idp->Device("POST", "/requests/" + second + "/approve");
  auto decided = f.WaitDecided(approval_id, absl::Seconds(30));
  CHECK(decided.approval().state() == cv1::APPROVAL_STATE_APPROVED);
  CHECK(decided.has_grant());
}

TEST_CASE(
    "a user in the directory but without the role approves: the real token verifies, the approval is "
    "INVALID (APPROVAL_ROLE_MISMATCH) and no grant exists",
    "[integration][approval_flow]") {
  ApprovalFlow f;
  INFO(f.Logs());
  auto r = f.Request(ApprovalFlow::Action("ledger.export", "export", 0));
  INFO(r.status());
  REQUIRE(r.ok());
  REQUIRE(r->decision() == cv1::DECISION_REQUIRE_APPROVAL);
  const std::string approval_id = r->approval().approval_id();
  const std::string auth_req_id = f.idp->WaitForPending("auth0|no-role");
  CHECK(f.AuthReqId(approval_id) == auth_req_id);
  f.idp->Device("POST", "/requests/" + auth_req_id + "/approve");

  auto decided = f.WaitDecided(approval_id, absl::Seconds(30));
  CHECK(decided.approval().state() == cv1::APPROVAL_STATE_INVALID);
  CHECK(decided.approval().state_reason() == cv1::APPROVAL_ROLE_MISMATCH);
  CHECK(!decided.has_grant());
  CHECK(f.GrantCount(approval_id) == 0);
  CHECK(f.LedgerCount(approval_id, "APPROVAL_REJECTED", "APPROVAL_ROLE_MISMATCH") == 1);
  // The signature and claims were fine: the token is the provider's own,
  // from the user who was asked; only the role is missing.
  auto evidence = f.ApprovalResult(approval_id);
  REQUIRE(evidence.has_value());
  CHECK(evidence->subject == "auth0|no-role");
  CHECK(!evidence->verified);
  CHECK(evidence->reason == "APPROVAL_ROLE_MISMATCH");
}

TEST_CASE(
    "a tampered ID token delivered with the bridge's identity is refused: ID_TOKEN_BAD_SIGNATURE, "
    "the approval INVALID, no grant",
    "[integration][approval_flow]") {
  ApprovalFlow f;
  INFO(f.Logs());
  // A genuine approval first, for a genuine token.
  auto [first_id, first_req] = OpenRefund(f, "refund-1");
  f.idp->Device("POST", "/requests/" + f.idp->WaitForPending("auth0|cfo") + "/approve");
  REQUIRE(f.WaitDecided(first_id, absl::Seconds(30)).approval().state() == cv1::APPROVAL_STATE_APPROVED);
  auto evidence = f.ApprovalResult(first_id);
  REQUIRE(evidence.has_value());
  REQUIRE(evidence->verified);

  // Another approval, pending at the CFO's device.
  auto [second_id, second_req] = OpenRefund(f, "refund-2");
  REQUIRE(second_req != first_req);
  auto st = f.Complete(second_id, second_req, TamperPayload(evidence->id_token));
  CHECK(st.status().code() == absl::StatusCode::kPermissionDenied);
  CHECK(cantdo::GetReason(st.status()) == "ID_TOKEN_BAD_SIGNATURE");

  auto after = f.Get(second_id);
  CHECK(after.approval().state() == cv1::APPROVAL_STATE_INVALID);
  CHECK(after.approval().state_reason() == cv1::ID_TOKEN_BAD_SIGNATURE);
  CHECK(!after.has_grant());
  CHECK(f.GrantCount(second_id) == 0);
  CHECK(f.LedgerCount(second_id, "APPROVAL_REJECTED", "ID_TOKEN_BAD_SIGNATURE") == 1);
  auto kept = f.ApprovalResult(second_id);
  REQUIRE(kept.has_value());
  CHECK(!kept->verified);
  CHECK(kept->subject.empty());  // nothing in an unverified payload is believed
}

TEST_CASE("the CFO's genuine token replayed for another pending approval mints nothing",
          "[integration][approval_flow]") {
  ApprovalFlow f;
  INFO(f.Logs());
  auto [first_id, first_req] = OpenRefund(f, "refund-1");
  f.idp->Device("POST", "/requests/" + f.idp->WaitForPending("auth0|cfo") + "/approve");
  REQUIRE(f.WaitDecided(first_id, absl::Seconds(30)).approval().state() == cv1::APPROVAL_STATE_APPROVED);
  auto evidence = f.ApprovalResult(first_id);
  REQUIRE(evidence.has_value());

  // A compromised bridge answers a second, larger refund with the first
  // refund's token: same approver, same role, signature intact.
  auto r = f.Request(ApprovalFlow::Action("refund.issue", "refund-2", 490000));
  REQUIRE(r.ok());
  const std::string second_id = r->approval().approval_id();
  const std::string second_req = f.AuthReqId(second_id);
  auto st = f.Complete(second_id, second_req, evidence->id_token);
  CHECK(st.status().code() == absl::StatusCode::kPermissionDenied);
  CHECK(cantdo::GetReason(st.status()) == "APPROVAL_REQUEST_MISMATCH");
  auto after = f.Get(second_id);
  CHECK(after.approval().state() == cv1::APPROVAL_STATE_INVALID);
  CHECK(!after.has_grant());
  CHECK(f.GrantCount(second_id) == 0);
}
