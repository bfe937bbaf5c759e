// Policy decisions and approvals through the real authority over mTLS.
#include <thread>

#include "absl/strings/str_cat.h"
#include "authority_harness.hpp"

using namespace cantdo::testing;
using cantdo::GetReason;

TEST_CASE("low-risk actions are allowed and recorded with the policy that decided", "[integration][authority]") {
  AuthorityHarness h;
  av1::RequestApprovalRequest req;
  req.mutable_action()->set_action("access.revoke");
  req.mutable_action()->set_workflow_id("wf-1");
  req.mutable_action()->set_run_id("run-1");
  req.mutable_action()->set_step("revoke");
  req.set_requester("ops1");
  auto r = h.Request(req);
  REQUIRE(r.ok());
  CHECK(r->decision() == cv1::DECISION_ALLOW);
  CHECK_FALSE(r->has_approval());
  auto conn = h.db.Connect();
  auto row = conn->Exec("SELECT decision, policy_version, policy_hash FROM cantdo.ledger WHERE kind = 'DECISION'");
  REQUIRE(row->Rows() == 1);
  CHECK(*row->GetString(0, 0) == "ALLOW");
  CHECK(*row->GetString(0, 1) == "test-1");
  CHECK(*row->GetString(0, 2) == h.app.authority()->policy().hash());
}

TEST_CASE("anything the policy does not list is denied, and the denial is recorded", "[integration][authority]") {
  AuthorityHarness h;
  auto req = AuthorityHarness::RefundRequest("s");
  req.mutable_action()->set_action("database.drop");
  auto r = h.Request(req);
  CHECK(r.status().code() == absl::StatusCode::kPermissionDenied);
  CHECK(GetReason(r.status()) == std::optional<std::string>("POLICY_ACTION_UNKNOWN"));
  CHECK(h.LedgerCount("DECISION", "POLICY_ACTION_UNKNOWN") == 1);
}

TEST_CASE("a refund above the configured amount is refused", "[integration][authority]") {
  AuthorityHarness h;
  auto r = h.Request(AuthorityHarness::RefundRequest("s", 500001));
  CHECK(GetReason(r.status()) == std::optional<std::string>("POLICY_PARAMETER_CONSTRAINT"));
  CHECK(h.LedgerCount("DECISION", "POLICY_PARAMETER_CONSTRAINT") == 1);
}

TEST_CASE("an irreversible action opens an approval and asks the right approver", "[integration][authority]") {
  AuthorityHarness h;
  auto r = h.Request(AuthorityHarness::RefundRequest("refund"));
  REQUIRE(r.ok());
  CHECK(r->decision() == cv1::DECISION_REQUIRE_APPROVAL);
  CHECK(r->created());
  CHECK(r->approval().state() == cv1::APPROVAL_STATE_PENDING);
  CHECK(r->approval().required_role() == "cfo");
  // The policy's message, ending in the approval's code.
  const std::string code = r->approval().binding_code();
  CHECK(code.size() == 4);
  CHECK(r->approval().binding_message() == "Refund 1200 to cust-42 #" + code);
  std::lock_guard<std::mutex> lock(h.bridge.mu);
  REQUIRE(h.bridge.requests.size() == 1);
  CHECK(h.bridge.requests[0].login_hint() == "cfo1");
  CHECK(h.bridge.requests[0].binding_message() == "Refund 1200 to cust-42 #" + code);
}

TEST_CASE("RequestApproval is idempotent per (principal, workflow, run, step, action)", "[integration][authority]") {
  AuthorityHarness h;
  auto first = h.Request(AuthorityHarness::RefundRequest("refund"));
  auto again = h.Request(AuthorityHarness::RefundRequest("refund"));
  REQUIRE(first.ok());
  REQUIRE(again.ok());
  CHECK_FALSE(again->created());
  CHECK(again->approval().approval_id() == first->approval().approval_id());
  auto other = h.Request(AuthorityHarness::RefundRequest("refund", 999));
  CHECK(other.status().code() == absl::StatusCode::kAlreadyExists);
  CHECK(GetReason(other.status()) == std::optional<std::string>("IDEMPOTENCY_KEY_REUSED"));
}

TEST_CASE("separation of duties: the requester is never asked to approve", "[integration][authority]") {
  AuthorityHarness h;
  auto r = h.Request(AuthorityHarness::RefundRequest("refund", 1200, "cfo1"));
  REQUIRE(r.ok());
  std::lock_guard<std::mutex> lock(h.bridge.mu);
  CHECK(h.bridge.requests.back().login_hint() == "cfo2");
}

TEST_CASE("a verified CFO approval mints exactly one grant bound to the action", "[integration][authority]") {
  AuthorityHarness h;
  auto r = h.Request(AuthorityHarness::RefundRequest("refund"));
  REQUIRE(r.ok());
  const std::string id = r->approval().approval_id();
  auto c = h.Complete(id, h.idp_ec.Sign(h.Claims("cfo1", id)));
  INFO(c.status().ToString());
  REQUIRE(c.ok());
  CHECK(c->approval().state() == cv1::APPROVAL_STATE_APPROVED);
  const auto& g = c->grant();
  CHECK(g.state() == cv1::GRANT_STATE_ISSUED);
  CHECK(g.action() == "refund.issue");
  CHECK(g.workflow_id() == "wf-1");
  CHECK(g.step() == "refund");
  CHECK(g.principal() == "spiffe://cantdo/worker");
  CHECK(g.parameters_hash() == r->parameters_hash());
  CHECK(g.approver_subjects(0) == "cfo1");
  // Delivered again (the bridge retries until acknowledged): same grant.
  auto again = h.Complete(id, h.idp_ec.Sign(h.Claims("cfo1", id)));
  REQUIRE(again.ok());
  CHECK(again->already_recorded());
  CHECK(again->grant().grant_id() == g.grant_id());
  CHECK(h.GrantCount() == 1);
  // The raw token is kept as evidence.
  auto conn = h.db.Connect();
  auto ev = conn->Exec("SELECT id_token IS NOT NULL, verified FROM cantdo.approval_results");
  CHECK(*ev->GetBool(0, 0));
  CHECK(*ev->GetBool(0, 1));
}

TEST_CASE("every forged or unfit ID token is rejected and mints nothing", "[integration][authority]") {
  AuthorityHarness h;
  TokenSigner stranger("idp-rsa", TokenSigner::Alg::kRS256);
  struct Case {
    std::string name, reason;
    std::function<std::string(const std::string&)> token;
  };
  std::vector<Case> cases = {
      {"tampered signature", "ID_TOKEN_BAD_SIGNATURE",
       [&](const std::string& id) {
         auto c = h.Claims("cfo1", id);
         auto forged = c;
         forged["sub"] = "cfo2";
         return h.idp.Tampered(c, forged);
       }},
      {"signed by another key", "ID_TOKEN_BAD_SIGNATURE",
       [&](const std::string& id) { return stranger.Sign(h.Claims("cfo1", id)); }},
      {"alg none", "ID_TOKEN_ALG_NOT_ALLOWED",
       [&](const std::string& id) { return TokenSigner::Unsigned(h.Claims("cfo1", id)); }},
      {"HS256 keyed with the RSA public key", "ID_TOKEN_ALG_NOT_ALLOWED",
       [&](const std::string& id) { return h.idp.HmacWithPublicKey(h.Claims("cfo1", id)); }},
      {"wrong iss", "ID_TOKEN_ISSUER_MISMATCH",
       [&](const std::string& id) {
         auto c = h.Claims("cfo1", id);
         c["iss"] = "https://evil.test/";
         return h.idp.Sign(c);
       }},
      {"wrong aud", "ID_TOKEN_AUDIENCE_MISMATCH",
       [&](const std::string& id) {
         auto c = h.Claims("cfo1", id);
         c["aud"] = "other";
         return h.idp.Sign(c);
       }},
      {"expired", "ID_TOKEN_EXPIRED",
       [&](const std::string& id) {
         auto c = h.Claims("cfo1", id);
         c["exp"] = absl::ToUnixSeconds(h.clock.Now()) - 3600;
         return h.idp.Sign(c);
       }},
      {"unknown kid", "ID_TOKEN_UNKNOWN_KID",
       [&](const std::string& id) {
         TokenSigner s("rotated-away", TokenSigner::Alg::kRS256);
         return s.Sign(h.Claims("cfo1", id));
       }},
      {"missing role", "APPROVAL_ROLE_MISMATCH",
       [&](const std::string& id) { return h.idp.Sign(h.Claims("cfo1", id, {"dpo"})); }},
      {"role but not in the directory", "APPROVAL_SUBJECT_NOT_IN_DIRECTORY",
       [&](const std::string& id) { return h.idp.Sign(h.Claims("mallory", id)); }},
      {"approver is the requester", "POLICY_SELF_APPROVAL",
       [&](const std::string& id) { return h.idp.Sign(h.Claims("cfo2", id)); }},
      {"answers another CIBA request", "APPROVAL_REQUEST_MISMATCH",
       [&](const std::string& id) {
         auto c = h.Claims("cfo1", id);
         c["urn:openid:params:jwt:claim:auth_req_id"] = "areq-other";
         return h.idp.Sign(c);
       }},
  };
  int step = 0;
  for (const auto& c : cases) {
    SECTION(c.name) {
      // requester cfo2, so cfo1 is asked and cfo2's own approval is self-approval
      auto r = h.Request(AuthorityHarness::RefundRequest("s" + std::to_string(step++), 1200, "cfo2"));
      REQUIRE(r.ok());
      const std::string id = r->approval().approval_id();
      auto done = h.Complete(id, c.token(id));
      CHECK(done.status().code() == absl::StatusCode::kPermissionDenied);
      CHECK(GetReason(done.status()) == std::optional<std::string>(c.reason));
      CHECK(h.GrantCount() == 0);
      CHECK(h.LedgerCount("APPROVAL_REJECTED", c.reason) == 1);
      av1::GetApprovalRequest get;
      get.set_approval_id(id);
      ::grpc::ClientContext ctx;
      av1::GetApprovalResponse got;
      REQUIRE(h.Stub("worker")->GetApproval(AuthorityHarness::Ctx(&ctx), get, &got).ok());
      CHECK(got.approval().state() == cv1::APPROVAL_STATE_INVALID);
      // The same forged result delivered again stays refused.
      CHECK(GetReason(h.Complete(id, c.token(id)).status()) == std::optional<std::string>(c.reason));
    }
  }
}

TEST_CASE("an ID token approves one request only, even without the auth_req_id claim", "[integration][authority]") {
  AuthorityHarness h;
  auto a = h.Request(AuthorityHarness::RefundRequest("a"));
  auto b = h.Request(AuthorityHarness::RefundRequest("b"));
  REQUIRE(a.ok());
  REQUIRE(b.ok());
  auto claims = h.Claims("cfo1", a->approval().approval_id());
  claims.erase("urn:openid:params:jwt:claim:auth_req_id");
  const std::string token = h.idp.Sign(claims);
  // Required (as for a push-mode provider): a token without it is refused.
  CHECK(cantdo::GetReason(h.Complete(a->approval().approval_id(), token).status()) ==
        std::optional<std::string>("APPROVAL_REQUEST_MISMATCH"));
  CHECK(h.GrantCount() == 0);

  // Configured for a provider without the claim: a token the provider made
  // distinguishable by its jti still approves one request only.
  AuthorityHarness lax(/*require_auth_req_id_claim=*/false);
  auto c = lax.Request(AuthorityHarness::RefundRequest("c"));
  auto d = lax.Request(AuthorityHarness::RefundRequest("d"));
  auto lax_claims = lax.Claims("cfo1", c->approval().approval_id());
  lax_claims.erase("urn:openid:params:jwt:claim:auth_req_id");
  lax_claims["jti"] = "token-1";
  const std::string lax_token = lax.idp.Sign(lax_claims);
  REQUIRE(lax.Complete(c->approval().approval_id(), lax_token).ok());
  auto replay = lax.Complete(d->approval().approval_id(), lax_token);
  CHECK(cantdo::GetReason(replay.status()) == std::optional<std::string>("APPROVAL_REQUEST_MISMATCH"));
  CHECK(lax.GrantCount() == 1);
}

TEST_CASE("two concurrent deliveries of one jti token to two approvals: one grant, the other refused, none pending",
          "[integration][authority]") {
  AuthorityHarness h(/*require_auth_req_id_claim=*/false);
  constexpr int kRounds = 10;
  for (int round = 0; round < kRounds; ++round) {
    auto a = h.Request(AuthorityHarness::RefundRequest(absl::StrCat("a", round)));
    auto b = h.Request(AuthorityHarness::RefundRequest(absl::StrCat("b", round)));
    REQUIRE(a.ok());
    REQUIRE(b.ok());
    auto claims = h.Claims("cfo1", a->approval().approval_id());
    claims.erase("urn:openid:params:jwt:claim:auth_req_id");
    claims["jti"] = absl::StrCat("token-", round);
    const std::string token = h.idp.Sign(claims);
    // Delivered as the bridge does: retried while the answer is retryable.
    auto deliver = [&](const std::string& id) {
      absl::StatusOr<av1::CompleteApprovalResponse> r;
      do {
        r = h.Complete(id, token);
      } while (absl::IsAborted(r.status()));
      return r;
    };
    absl::StatusOr<av1::CompleteApprovalResponse> ra, rb;
    std::thread ta([&] { ra = deliver(a->approval().approval_id()); });
    std::thread tb([&] { rb = deliver(b->approval().approval_id()); });
    ta.join();
    tb.join();
    INFO(ra.status().ToString() << " / " << rb.status().ToString());
    CHECK(ra.ok() != rb.ok());
    const auto& refused = ra.ok() ? rb.status() : ra.status();
    CHECK(cantdo::GetReason(refused) == std::optional<std::string>("APPROVAL_REQUEST_MISMATCH"));
  }
  CHECK(h.GrantCount() == kRounds);
  auto conn = h.db.Connect();
  CHECK(*conn->Exec("SELECT count(*) FROM cantdo.approvals WHERE state = 'PENDING'")->GetInt64(0, 0) == 0);
}

TEST_CASE("a denial or expiry from the provider mints nothing", "[integration][authority]") {
  AuthorityHarness h;
  auto r1 = h.Request(AuthorityHarness::RefundRequest("a"));
  auto r2 = h.Request(AuthorityHarness::RefundRequest("b"));
  auto denied = h.Complete(r1->approval().approval_id(), "", av1::CIBA_OUTCOME_DENIED);
  auto expired = h.Complete(r2->approval().approval_id(), "", av1::CIBA_OUTCOME_EXPIRED);
  REQUIRE(denied.ok());
  REQUIRE(expired.ok());
  CHECK(denied->approval().state() == cv1::APPROVAL_STATE_DENIED);
  // The provider's request ended long before the approval's deadline:
  // nobody decided, the approver will be asked again.
  CHECK(expired->approval().state() == cv1::APPROVAL_STATE_PENDING);
  CHECK(h.GrantCount() == 0);
}

namespace {

// The bridge's requests for `approval_id` once there are `n` of them (the
// authority dispatches from its outbox in the background).
std::vector<cantdo::bridge::v1::StartBackchannelAuthenticationRequest> WaitForAsks(AuthorityHarness& h,
                                                                                   const std::string& approval_id,
                                                                                   size_t n) {
  std::vector<cantdo::bridge::v1::StartBackchannelAuthenticationRequest> asks;
  WaitUntil([&] { return (asks = h.bridge.For(approval_id)).size() >= n; }, absl::Seconds(15));
  return asks;
}

cv1::Approval GetApprovalAs(AuthorityHarness& h, const std::string& id) {
  av1::GetApprovalRequest get;
  get.set_approval_id(id);
  ::grpc::ClientContext ctx;
  av1::GetApprovalResponse got;
  REQUIRE(h.Stub("worker")->GetApproval(AuthorityHarness::Ctx(&ctx), get, &got).ok());
  return got.approval();
}

}  // namespace

TEST_CASE(
    "a request the provider ended undecided (its short lifetime, or lost: invalid_grant) is asked again "
    "while the approval's deadline allows, and the approver can still approve (#20)",
    "[integration][authority]") {
  AuthorityHarness h;
  auto r = h.Request(AuthorityHarness::RefundRequest("refund"));
  REQUIRE(r.ok());
  const std::string id = r->approval().approval_id();
  REQUIRE(WaitForAsks(h, id, 1).size() == 1);

  // The provider caps its requests far below the approval's 72 h: the
  // first ends expired_token after a few seconds.
  auto first = h.Complete(id, "", av1::CIBA_OUTCOME_EXPIRED, "ciba-bridge", 1, "expired_token");
  INFO(first.status().ToString());
  REQUIRE(first.ok());
  CHECK(first->approval().state() == cv1::APPROVAL_STATE_PENDING);
  CHECK(first->approval().state_message().find("asked again (ask 2)") != std::string::npos);
  CHECK(h.LedgerCount("APPROVAL_REQUESTED", "APPROVAL_ASKED_AGAIN") == 1);
  CHECK(h.LedgerCount("APPROVAL_REJECTED") == 0);
  // Not at once: the approver's phone rings again after the delay (30 s,
  // but never within a minute of the last ring to the same approver).
  auto dispatched = h.app.authority()->DispatchPending();
  REQUIRE(dispatched.ok());
  CHECK(*dispatched == 0);
  CHECK(h.bridge.For(id).size() == 1);
  h.clock.Advance(absl::Seconds(61));
  auto asks = WaitForAsks(h, id, 2);
  REQUIRE(asks.size() == 2);
  CHECK(asks[1].ask() == 2);
  CHECK(asks[1].binding_message() == asks[0].binding_message());

  // The provider restarts without its state: the second request is lost.
  auto second = h.Complete(id, "", av1::CIBA_OUTCOME_LOST, "ciba-bridge", 2, "invalid_grant");
  INFO(second.status().ToString());
  REQUIRE(second.ok());
  CHECK(second->approval().state() == cv1::APPROVAL_STATE_PENDING);
  CHECK(second->approval().state_message().find("no longer knew the request") != std::string::npos);
  h.clock.Advance(absl::Seconds(61));
  REQUIRE(WaitForAsks(h, id, 3).size() == 3);

  // An old ask's result delivered again changes nothing.
  auto replay = h.Complete(id, "", av1::CIBA_OUTCOME_EXPIRED, "ciba-bridge", 1, "expired_token");
  REQUIRE(replay.ok());
  CHECK(replay->already_recorded());
  // A token the approver obtained for the first ask answers only that ask.
  auto stale = h.Claims("cfo1", id);
  auto wrong = h.Complete(id, h.idp.Sign(stale), av1::CIBA_OUTCOME_APPROVED, "ciba-bridge", 3);
  CHECK(GetReason(wrong.status()) == std::optional<std::string>("APPROVAL_REQUEST_MISMATCH"));
}

TEST_CASE(
    "the third ask approved mints the grant, and asking stops at the approval's deadline with a message that says "
    "so (#20)",
    "[integration][authority]") {
  AuthorityHarness h;
  auto r = h.Request(AuthorityHarness::RefundRequest("refund"));
  const std::string id = r->approval().approval_id();
  REQUIRE(WaitForAsks(h, id, 1).size() == 1);
  REQUIRE(h.Complete(id, "", av1::CIBA_OUTCOME_LOST, "ciba-bridge", 1, "invalid_grant").ok());
  h.clock.Advance(absl::Seconds(61));
  REQUIRE(WaitForAsks(h, id, 2).size() == 2);
  REQUIRE(h.Complete(id, "", av1::CIBA_OUTCOME_EXPIRED, "ciba-bridge", 2, "expired_token").ok());
  h.clock.Advance(absl::Seconds(61));
  REQUIRE(WaitForAsks(h, id, 3).size() == 3);
  auto claims = h.Claims("cfo1", id);
  claims["urn:openid:params:jwt:claim:auth_req_id"] = FakeBridge::AuthReqId(id, 3);
  auto approved = h.Complete(id, h.idp.Sign(claims), av1::CIBA_OUTCOME_APPROVED, "ciba-bridge", 3);
  INFO(approved.status().ToString());
  REQUIRE(approved.ok());
  CHECK(approved->approval().state() == cv1::APPROVAL_STATE_APPROVED);
  CHECK(approved->grant().state() == cv1::GRANT_STATE_ISSUED);
  CHECK(h.LedgerCount("APPROVAL_REQUESTED", "APPROVAL_ASKED_AGAIN") == 2);

  // An approval with a 90 s deadline: after the first request ends, the
  // next ask (a minute on) would leave the approver under a minute, so it
  // ends EXPIRED, saying how often the approver was asked.
  auto shortreq = AuthorityHarness::RefundRequest("refund-short");
  shortreq.mutable_approval_timeout()->set_seconds(90);
  auto s = h.Request(shortreq);
  const std::string sid = s->approval().approval_id();
  REQUIRE(WaitForAsks(h, sid, 1).size() == 1);
  auto ended = h.Complete(sid, "", av1::CIBA_OUTCOME_EXPIRED, "ciba-bridge", 1, "expired_token");
  REQUIRE(ended.ok());
  CHECK(ended->approval().state() == cv1::APPROVAL_STATE_EXPIRED);
  CHECK(ended->approval().state_message().find("asked 1 time(s)") != std::string::npos);
  CHECK(GetApprovalAs(h, sid).state() == cv1::APPROVAL_STATE_EXPIRED);
}

TEST_CASE(
    "an approval signed with a key the provider rotated in just after the authority fetched its keys is "
    "retryable, not refused, and approves once the key is fetched (#20)",
    "[integration][authority]") {
  AuthorityHarness h;
  // The authority fetches the provider's keys for a first approval.
  h.Grant("first");
  // Seconds later the provider rotates to a new signing key.
  TokenSigner rotated("idp-rotated", TokenSigner::Alg::kRS256);
  std::ofstream(h.dir.path() + "/jwks.json") << TokenSigner::JwksOf(rotated, h.idp_ec);
  h.clock.Advance(absl::Seconds(5));
  auto r = h.Request(AuthorityHarness::RefundRequest("second"));
  const std::string id = r->approval().approval_id();
  const std::string token = rotated.Sign(h.Claims("cfo1", id));
  auto held = h.Complete(id, token);
  INFO(held.status().ToString());
  // Retryable (the bridge redelivers UNAVAILABLE), and nothing recorded.
  CHECK(held.status().code() == absl::StatusCode::kUnavailable);
  CHECK(GetReason(held.status()) == std::optional<std::string>("ID_TOKEN_KEY_NOT_YET_FETCHED"));
  CHECK(GetApprovalAs(h, id).state() == cv1::APPROVAL_STATE_PENDING);
  CHECK(h.LedgerCount("APPROVAL_REJECTED") == 0);
  // Once the keys may be fetched again the same delivery approves.
  h.clock.Advance(absl::Seconds(30));
  auto approved = h.Complete(id, token);
  INFO(approved.status().ToString());
  REQUIRE(approved.ok());
  CHECK(approved->approval().state() == cv1::APPROVAL_STATE_APPROVED);
  CHECK(approved->grant().state() == cv1::GRANT_STATE_ISSUED);
}

TEST_CASE("only the bridge may complete approvals, only the gateway may act for others", "[integration][authority]") {
  AuthorityHarness h;
  auto r = h.Request(AuthorityHarness::RefundRequest("refund"));
  const std::string id = r->approval().approval_id();
  auto by_worker = h.Complete(id, h.idp.Sign(h.Claims("cfo1", id)), av1::CIBA_OUTCOME_APPROVED, "worker");
  CHECK(by_worker.status().code() == absl::StatusCode::kPermissionDenied);
  CHECK(GetReason(by_worker.status()) == std::optional<std::string>("CALLER_NOT_ALLOWED"));
  auto req = AuthorityHarness::RefundRequest("x");
  req.set_on_behalf_of("platform:evil");
  auto r2 = h.Request(req, "worker");
  CHECK(r2.status().code() == absl::StatusCode::kInvalidArgument);
  CHECK(cantdo::GetMetadata(r2.status())["field"] == "on_behalf_of");
  CHECK(h.GrantCount() == 0);
}

TEST_CASE("an unanswered approval expires at its deadline", "[integration][authority]") {
  AuthorityHarness h;
  auto r = h.Request(AuthorityHarness::RefundRequest("refund"));
  h.clock.Advance(absl::Hours(73));
  auto swept = h.app.authority()->SweepExpired();
  REQUIRE(swept.ok());
  CHECK(*swept >= 1);
  CHECK(h.LedgerCount("APPROVAL_REJECTED", "APPROVAL_EXPIRED") == 1);
  auto late = h.Complete(r->approval().approval_id(), h.idp.Sign(h.Claims("cfo1", r->approval().approval_id())));
  CHECK(GetReason(late.status()) == std::optional<std::string>("APPROVAL_ALREADY_DECIDED"));
  CHECK(h.GrantCount() == 0);
}
