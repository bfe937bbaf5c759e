// End to end: every promise of the seed, with the real processes. An
// operator offboards a customer through the gateway; the run waits for the
// ops manager; the low-risk steps run on their own; the refund waits for the
// CFO and the erasure for the DPO, each approved on the identity provider's
// device; everything an agent might try without the right grant is refused
// by the backend (the authority, or the customer database itself), and the
// data shows exactly what happened.

#include "support/e2e_stack.hpp"

#include <set>

#include "absl/strings/str_cat.h"
#include "cantdo/base/status.hpp"
#include "cantdo/gateway/v1/authorization_service.grpc.pb.h"

using namespace cantdo::e2e;

namespace {

// The reason of a refused call (its google.rpc.ErrorInfo).
std::string Reason(const ::grpc::Status& st) {
  return cantdo::GetReason(cantdo::grpc::FromGrpcStatus(st)).value_or("(none)");
}

// ClaimGrant as the worker's identity, presenting `action`.
::grpc::Status ClaimAsWorker(Stack& s, const std::string& grant_id, const cv1::ActionRef& action) {
  av1::ClaimGrantRequest req;
  req.set_grant_id(grant_id);
  *req.mutable_action() = action;
  req.set_idempotency_key("agent-" + grant_id + "-" + action.action());
  ::grpc::ClientContext ctx;
  av1::ClaimGrantResponse resp;
  return s.AsWorker()->ClaimGrant(Stack::Ctx(&ctx), req, &resp);
}

// The erasure of `customer` in this run, as the workflow would bind it.
cv1::ActionRef EraseAction(const wv1::WorkflowExecution& run, const std::string& customer) {
  cv1::ActionRef a;
  a.set_action("customer_data.delete");
  a.set_resource("customer/" + customer);
  a.set_workflow_id(run.workflow_id());
  a.set_run_id(run.run_id());
  a.set_step("delete_customer_data");
  (*a.mutable_parameters()->mutable_fields())["customer_id"].set_string_value(customer);
  return a;
}

// The consumed grant of `action` in these entries (grant id, approval id).
std::pair<std::string, std::string> GrantOf(const std::vector<cv1::LedgerEntry>& entries, const std::string& action) {
  for (const auto& e : entries) {
    if (e.action() == action && e.kind() == cv1::LEDGER_EVENT_KIND_GRANT_CONSUMED)
      return {e.grant_id(), e.approval_id()};
  }
  return {};
}

// `want` appears in `kinds` in this order (other kinds may come between).
bool InOrder(const std::vector<std::string>& kinds, const std::vector<std::string>& want) {
  size_t i = 0;
  for (const auto& k : kinds) {
    if (i < want.size() && k == want[i]) ++i;
  }
  UNSCOPED_INFO("ledger kinds: " << ::Catch::Detail::stringify(kinds));
  return i == want.size();
}

int CountKind(const std::vector<cv1::LedgerEntry>& entries, const std::string& action, cv1::LedgerEventKind kind) {
  int n = 0;
  for (const auto& e : entries) n += e.action() == action && e.kind() == kind;
  return n;
}

void CheckLowRiskDone(const demo::CustomerSnapshot& now, const demo::CustomerSnapshot& before) {
  CHECK(now.users_active == 0);
  CHECK(now.sessions == 0);
  CHECK(now.api_keys_active == 0);
  CHECK(now.subscriptions_active == 0);
  CHECK(now.billing_exports == before.billing_exports + 1);
}

}  // namespace

TEST_CASE("e2e: the whole offboarding scenario, every irreversible step approved out of band, misuse refused",
          "[e2e][offboarding]") {
  Stack s;
  const std::string cus = demo::CustomerId(42);
  const auto before = s.Snapshot(cus);
  REQUIRE(before.users_active > 0);

  // 1. The operator starts it; nothing runs until the ops manager approves.
  auto started = s.StartOffboarding(cus);
  CHECK(started.execution().state() == wv1::WORKFLOW_EXECUTION_STATE_PENDING_ADMISSION);
  const std::string wf = started.execution().workflow_id();
  s.Pending(kOpsManager);
  CHECK(s.Snapshot(cus).users_active == before.users_active);
  s.Approve(kOpsManager);

  // 2. The low-risk steps run on their own; the refund waits for the CFO.
  s.Pending(kCfo);
  const auto run = s.WaitState(wf, wv1::WORKFLOW_EXECUTION_STATE_RUNNING);
  auto after_low_risk = s.Snapshot(cus);
  CheckLowRiskDone(after_low_risk, before);
  CHECK(after_low_risk.refunds == before.refunds);

  // 3. The agent tries to erase the customer's data with no grant: the
  //    authority refuses, and so does the database itself.
  auto no_grant = ClaimAsWorker(s, "00000000-0000-4000-8000-000000000042", EraseAction(run, cus));
  CHECK(no_grant.error_code() == ::grpc::StatusCode::PERMISSION_DENIED);
  CHECK(Reason(no_grant) == "GRANT_NOT_FOUND");
  {
    auto conn = cantdo::pg::Connection::Connect(s.demo_worker->dsn(), absl::Seconds(5));
    REQUIRE(conn.ok());
    auto del = (*conn)->Exec("DELETE FROM platform.users WHERE customer_id = $1", {cus});
    CHECK(del.status().code() == absl::StatusCode::kPermissionDenied);
    auto refund = (*conn)->Exec(
        "INSERT INTO platform.refunds (customer_id, amount_cents, idempotency_key) VALUES ($1, 100, 'agent')", {cus});
    CHECK(refund.status().code() == absl::StatusCode::kPermissionDenied);
  }
  CHECK(s.Snapshot(cus).users == before.users);

  // 4. The CFO approves; the refund is written; the spent grant is refused,
  //    for the refund again and for the deletion.
  s.Approve(kCfo);
  s.Pending(kDpo);
  auto after_refund = s.Snapshot(cus);
  CHECK(after_refund.refunds == before.refunds + 1);
  auto ledger = s.Ledger(wf);
  CHECK(InOrder(Stack::Kinds(ledger, "refund.issue"),
                {"APPROVAL_REQUESTED", "APPROVAL_VERIFIED", "GRANT_ISSUED", "GRANT_CLAIMED", "GRANT_CONSUMED"}));
  const auto [refund_grant, refund_approval] = GrantOf(ledger, "refund.issue");
  REQUIRE(!refund_grant.empty());
  // Exactly the action the CFO approved, presented again.
  auto reuse = ClaimAsWorker(s, refund_grant, s.Approval(refund_approval).action());
  CHECK(reuse.error_code() == ::grpc::StatusCode::PERMISSION_DENIED);
  CHECK(Reason(reuse) == "GRANT_ALREADY_CONSUMED");
  auto other = ClaimAsWorker(s, refund_grant, EraseAction(run, cus));
  CHECK(other.error_code() == ::grpc::StatusCode::PERMISSION_DENIED);
  CHECK(Reason(other) == "GRANT_ACTION_MISMATCH");
  CHECK(s.Snapshot(cus).users == before.users);

  // 5. The DPO approves; the data is erased.
  s.Approve(kDpo);
  s.WaitState(wf, wv1::WORKFLOW_EXECUTION_STATE_COMPLETED);
  auto end = s.Snapshot(cus);
  CHECK(end.erased);
  CHECK(end.users == 0);
  CHECK(end.contact_email.empty());
  CHECK(end.refunds == before.refunds + 1);
  auto result = s.Result(wf);
  CHECK(result.status() == ov1::OFFBOARDING_STATUS_COMPLETED);
  CHECK(result.denied_steps().empty());

  // 6. The ledger: ALLOW for the three low-risk steps, Issued -> Claimed ->
  //    Consumed for each grant, the refusals above; and it verifies.
  ledger = s.Ledger(wf);
  for (const char* action : {"access.revoke", "billing.export", "subscriptions.cancel"}) {
    INFO(action);
    int allows = 0;
    for (const auto& e : ledger) allows += e.action() == action && e.decision() == cv1::DECISION_ALLOW;
    CHECK(allows == 1);
  }
  for (const char* action : {"workflow.start", "refund.issue", "customer_data.delete"}) {
    INFO(action);
    CHECK(CountKind(ledger, action, cv1::LEDGER_EVENT_KIND_GRANT_ISSUED) == 1);
    CHECK(CountKind(ledger, action, cv1::LEDGER_EVENT_KIND_GRANT_CLAIMED) == 1);
    CHECK(CountKind(ledger, action, cv1::LEDGER_EVENT_KIND_GRANT_CONSUMED) == 1);
  }
  CHECK(CountKind(ledger, "customer_data.delete", cv1::LEDGER_EVENT_KIND_GRANT_DENIED) >= 1);
  CHECK(CountKind(ledger, "refund.issue", cv1::LEDGER_EVENT_KIND_GRANT_DENIED) >= 1);
  auto v = s.VerifyLedger();
  INFO(v.message());
  CHECK(v.ok());
}

TEST_CASE("e2e: without the CFO's own approval no refund is issued: denied, a user without the role, the DPO instead",
          "[e2e][offboarding]") {
  const std::string variant =
      GENERATE(std::string("cfo denies"), std::string("no-role user approves"), std::string("dpo approves the refund"));
  INFO(variant);
  Stack s;
  const std::string cus = demo::CustomerId(7);
  const auto before = s.Snapshot(cus);
  const std::string wf = s.StartOffboarding(cus).execution().workflow_id();
  s.Approve(kOpsManager);
  s.Pending(kCfo);
  if (variant == "cfo denies") {
    s.Deny(kCfo);
  } else if (variant == "no-role user approves") {
    s.Approve(kCfo, kNoRole);
  } else {
    s.Approve(kCfo, kDpo);
  }
  if (variant != "cfo denies") {
    // A token that is not the CFO's decides nothing, neither yes nor no
    // (#20): the CFO is asked again, and this time denies.
    s.Deny(kCfo);
  }
  // The refund step is skipped; the DPO declines the erasure too.
  s.Deny(kDpo);
  s.WaitState(wf, wv1::WORKFLOW_EXECUTION_STATE_COMPLETED);
  auto result = s.Result(wf);
  CHECK(result.status() == ov1::OFFBOARDING_STATUS_PARTIALLY_DENIED);
  bool refund_denied = false;
  for (const auto& step : result.steps()) {
    if (step.action() == "refund.issue") {
      refund_denied = step.outcome() == ov1::STEP_OUTCOME_DENIED;
      CHECK(step.approval_state() == cv1::APPROVAL_STATE_DENIED);
      CHECK(step.approval_requests() == (variant == "cfo denies" ? 1 : 2));
      CHECK(step.grant_id().empty());
    }
  }
  CHECK(refund_denied);
  auto end = s.Snapshot(cus);
  CHECK(end.refunds == before.refunds);
  CHECK(end.users == before.users);
  CHECK_FALSE(end.erased);
  auto ledger = s.Ledger(wf);
  CHECK(CountKind(ledger, "refund.issue", cv1::LEDGER_EVENT_KIND_GRANT_ISSUED) == 0);
  CHECK(CountKind(ledger, "customer_data.delete", cv1::LEDGER_EVENT_KIND_GRANT_ISSUED) == 0);
  if (variant != "cfo denies") CHECK(CountKind(ledger, "refund.issue", cv1::LEDGER_EVENT_KIND_APPROVAL_REJECTED) >= 1);
  CHECK(s.VerifyLedger().ok());
}

TEST_CASE("e2e: a grant is bound to its principal: a forwarded grant is refused, its owner may use it once",
          "[e2e][offboarding]") {
  Stack s;
  // An agent platform asks, through the gateway, to refund a customer itself.
  auto platform = gv1::AuthorizationService::NewStub(s.Channel(*s.gateway, "platform"));
  gv1::RequestAuthorizationRequest req;
  req.mutable_action()->set_action("refund.issue");
  req.mutable_action()->set_workflow_id("ticket-981");
  req.mutable_action()->set_step("refund");
  auto* params = req.mutable_action()->mutable_parameters()->mutable_fields();
  (*params)["customer_id"].set_string_value(demo::CustomerId(9));
  (*params)["amount_cents"].set_number_value(1500);
  req.set_requester("agent:support-bot");
  gv1::RequestAuthorizationResponse requested;
  {
    ::grpc::ClientContext ctx;
    auto st = platform->RequestAuthorization(Stack::Ctx(&ctx), req, &requested);
    INFO(st.error_message() << "\n" << s.Logs());
    REQUIRE(st.ok());
  }
  s.Approve(kCfo);
  gv1::GetAuthorizationResponse got;
  WaitUntil(
      [&] {
        gv1::GetAuthorizationRequest g;
        g.set_approval_id(requested.approval().approval_id());
        ::grpc::ClientContext ctx;
        return platform->GetAuthorization(Stack::Ctx(&ctx), g, &got).ok() && !got.grant().grant_id().empty();
      },
      absl::Seconds(30));
  REQUIRE(!got.grant().grant_id().empty());

  // Forwarded: the worker's identity presents the platform's grant.
  av1::ClaimGrantRequest forwarded;
  forwarded.set_grant_id(got.grant().grant_id());
  *forwarded.mutable_action() = req.action();
  forwarded.set_idempotency_key("stolen");
  {
    ::grpc::ClientContext ctx;
    av1::ClaimGrantResponse resp;
    auto st = s.AsWorker()->ClaimGrant(Stack::Ctx(&ctx), forwarded, &resp);
    CHECK(st.error_code() == ::grpc::StatusCode::PERMISSION_DENIED);
    CHECK(Reason(st) == "GRANT_PRINCIPAL_MISMATCH");
  }
  // Its owner claims it (receiving the credential), consumes it, and cannot
  // use it again.
  gv1::ClaimGrantRequest claim;
  claim.set_grant_id(got.grant().grant_id());
  *claim.mutable_action() = req.action();
  claim.set_idempotency_key("ticket-981-refund");
  {
    ::grpc::ClientContext ctx;
    gv1::ClaimGrantResponse resp;
    auto st = platform->ClaimGrant(Stack::Ctx(&ctx), claim, &resp);
    INFO(st.error_message());
    REQUIRE(st.ok());
    CHECK(resp.has_credential());
  }
  {
    gv1::ConsumeGrantRequest consume;
    consume.set_grant_id(got.grant().grant_id());
    consume.set_outcome_digest(std::string(64, 'b'));
    ::grpc::ClientContext ctx;
    gv1::ConsumeGrantResponse resp;
    REQUIRE(platform->ConsumeGrant(Stack::Ctx(&ctx), consume, &resp).ok());
  }
  claim.set_idempotency_key("again");
  ::grpc::ClientContext ctx;
  gv1::ClaimGrantResponse resp;
  auto again = platform->ClaimGrant(Stack::Ctx(&ctx), claim, &resp);
  CHECK(again.error_code() == ::grpc::StatusCode::PERMISSION_DENIED);
  CHECK(Reason(again) == "GRANT_ALREADY_CONSUMED");
}

TEST_CASE("e2e: restarts lose nothing: the bridge while a request is pending, the worker while it waits for the CFO",
          "[e2e][offboarding]") {
  Stack s;
  const std::string cus = demo::CustomerId(100);
  const auto before = s.Snapshot(cus);
  const std::string wf = s.StartOffboarding(cus).execution().workflow_id();

  // The bridge dies with the ops manager's request pending at the provider.
  s.Pending(kOpsManager);
  s.bridge->Kill();
  s.Approve(kOpsManager);
  s.bridge->Restart();

  // The worker dies (SIGKILL) while the run waits for the CFO, and comes
  // back only after the CFO has approved.
  s.Pending(kCfo);
  s.worker->Kill();
  s.Approve(kCfo);
  // The CFO's answer has reached the authority (the bridge delivered it)
  // while the worker is down.
  REQUIRE(
      WaitUntil([&] { return CountKind(s.Ledger(wf), "refund.issue", cv1::LEDGER_EVENT_KIND_APPROVAL_VERIFIED) == 1; },
                absl::Seconds(30)));
  s.worker->Restart();
  s.Approve(kDpo);
  s.WaitState(wf, wv1::WORKFLOW_EXECUTION_STATE_COMPLETED);

  // Each effect exactly once.
  auto end = s.Snapshot(cus);
  CHECK(end.refunds == before.refunds + 1);
  CHECK(end.billing_exports == before.billing_exports + 1);
  CHECK(end.erased);
  auto ledger = s.Ledger(wf);
  for (const char* action : {"refund.issue", "customer_data.delete"}) {
    INFO(action);
    CHECK(CountKind(ledger, action, cv1::LEDGER_EVENT_KIND_GRANT_CONSUMED) == 1);
  }
  CHECK(s.VerifyLedger().ok());
}

TEST_CASE(
    "e2e: a provider whose requests live 4 s does not end the approval: the CFO is asked again until they "
    "answer, within one approval (#20)",
    "[e2e][offboarding]") {
  StackOptions o;
  // The provider caps every backchannel request at 4 seconds (Auth0's own
  // cap is minutes; the policy gives the CFO 72 h).
  o.idp_env = {{"IDP_CIBA_MAX_EXPIRY", "4"}, {"IDP_CIBA_DEFAULT_EXPIRY", "4"}};
  // Asked again a second after each ends (not doubling), to keep it quick.
  o.authority_env = {{"CANTDO_ASK_AGAIN_MAX_DELAY", "1s"}};
  Stack s(o);
  const std::string cus = demo::CustomerId(300);
  const auto before = s.Snapshot(cus);
  const std::string wf = s.StartOffboarding(cus).execution().workflow_id();
  s.Approve(kOpsManager);
  // The CFO lets three requests lapse; the worker's own re-requests (2)
  // would be used up by then. The fourth is approved.
  std::set<std::string> seen;
  std::string current;
  for (int ask = 1; ask <= 4; ++ask) {
    current.clear();
    WaitUntil(
        [&] {
          for (const auto& r : s.idp->Device("GET", std::string("/requests?subject=") + kCfo)) {
            const std::string id = r.at("auth_req_id").get<std::string>();
            if (!seen.count(id)) current = id;
          }
          return !current.empty();
        },
        absl::Seconds(30));
    INFO("ask " << ask << "\n" << s.Logs());
    REQUIRE(!current.empty());
    seen.insert(current);
  }
  s.idp->Device("POST", "/requests/" + current + "/approve");
  s.Approve(kDpo);
  s.WaitState(wf, wv1::WORKFLOW_EXECUTION_STATE_COMPLETED);
  CHECK(s.Snapshot(cus).refunds == before.refunds + 1);
  auto result = s.Result(wf);
  for (const auto& step : result.steps()) {
    if (step.action() == "refund.issue") {
      CHECK(step.outcome() == ov1::STEP_OUTCOME_APPROVED_DONE);
      CHECK(step.approval_requests() == 1);  // one approval, asked four times
    }
  }
  int asked_again = 0;
  for (const auto& e : s.Ledger(wf)) {
    asked_again += e.action() == "refund.issue" && e.kind() == cv1::LEDGER_EVENT_KIND_APPROVAL_REQUESTED &&
                   e.reason() == cv1::APPROVAL_ASKED_AGAIN;
  }
  CHECK(asked_again == 3);
}

TEST_CASE(
    "e2e: the bridge killed after the provider handed it the ops manager's token, before recording it: the "
    "ops manager is asked again and the run completes (#20)",
    "[e2e][offboarding]") {
  StackOptions o;
  o.bridge_env_once = {{"CANTDO_FAILPOINT", "ciba_bridge.poll.after_token_response"}};
  Stack s(o);
  const std::string cus = demo::CustomerId(400);
  const auto before = s.Snapshot(cus);
  const std::string wf = s.StartOffboarding(cus).execution().workflow_id();
  const std::string first = s.Pending(kOpsManager);
  s.idp->Device("POST", "/requests/" + first + "/approve");
  // The bridge's poll collects the token and the bridge dies before it
  // records it; the provider has handed that token out for good.
  auto died = s.bridge->WaitExit(absl::Seconds(30));
  INFO(s.Logs());
  REQUIRE(died.has_value());
  s.bridge->Restart();
  // The restarted bridge hears invalid_grant: the provider no longer knows
  // the request. Nobody denied anything: the ops manager is asked again.
  std::string second;
  WaitUntil(
      [&] {
        for (const auto& r : s.idp->Device("GET", std::string("/requests?subject=") + kOpsManager)) {
          if (r.at("auth_req_id").get<std::string>() != first) second = r.at("auth_req_id").get<std::string>();
        }
        return !second.empty();
      },
      absl::Seconds(30));
  INFO(s.Logs());
  REQUIRE(!second.empty());
  s.idp->Device("POST", "/requests/" + second + "/approve");
  s.Approve(kCfo);
  s.Approve(kDpo);
  s.WaitState(wf, wv1::WORKFLOW_EXECUTION_STATE_COMPLETED);
  const auto end = s.Snapshot(cus);
  CHECK(end.refunds == before.refunds + 1);
  CHECK(end.erased);
  int asked_again = 0;
  for (const auto& e : s.Ledger(wf)) {
    asked_again += e.kind() == cv1::LEDGER_EVENT_KIND_APPROVAL_REQUESTED && e.reason() == cv1::APPROVAL_ASKED_AGAIN;
  }
  CHECK(asked_again == 1);
  CHECK(s.VerifyLedger().ok());
}

// ---- A second, independently configured provider (#20) ----
// tools/dev-idp's strict profile behaves like Okta, Keycloak, or Auth0
// under load: other subjects and claim names, roles only when the `groups`
// scope is asked for, ES256 ID tokens, requests capped at 20 s, state in
// memory only, and the bridge authenticating with private_key_jwt.

namespace {

constexpr char kStrictOps[] = "00u1opsmgr";
constexpr char kStrictCfo[] = "00u2cfo";
constexpr char kStrictDpo[] = "00u3dpo";

// The stack for the strict provider: the deployed policy with that
// provider's claim name and directory, the bridge's own key pair.
StackOptions StrictProvider(const TempDir& dir) {
  const std::string key = dir.path() + "/bridge-client-key.pem";
  REQUIRE(std::system(("openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out " + key + " 2>/dev/null")
                          .c_str()) == 0);
  std::ifstream in(cantdo::testing::SourceDir() + "/deploy/policy.json");
  nlohmann::json policy = nlohmann::json::parse(in);
  policy["role_claim"] = "groups";
  policy["approvers"] = {{"ops_manager", {kStrictOps}}, {"cfo", {kStrictCfo}}, {"dpo", {kStrictDpo}}};
  const std::string policy_file = dir.path() + "/policy-strict.json";
  std::ofstream(policy_file) << policy.dump(2);

  StackOptions o;
  o.idp_env = {{"IDP_PROFILE", "strict"}, {"IDP_CLIENT_PUBLIC_KEY", key}};
  o.bridge_env = {{"CANTDO_CIBA_CLIENT_AUTH", "private_key_jwt"},
                  {"CANTDO_CIBA_CLIENT_KEY_FILE", key},
                  {"CANTDO_CIBA_CLIENT_SECRET", ""},
                  {"CANTDO_CIBA_LOGIN_HINT_FORMAT", "plain"}};
  o.authority_env = {{"CANTDO_POLICY_FILE", policy_file}, {"CANTDO_CIBA_SCOPE", "openid groups"}};
  return o;
}

}  // namespace

TEST_CASE(
    "e2e: the offboarding scenario against a second provider: roles only by scope, other subjects and claim "
    "names, ES256, private_key_jwt (#20)",
    "[e2e][offboarding]") {
  TempDir keys;
  Stack s(StrictProvider(keys));
  const std::string cus = demo::CustomerId(500);
  const auto before = s.Snapshot(cus);
  const std::string wf = s.StartOffboarding(cus, 4200).execution().workflow_id();
  s.Approve(kStrictOps);
  // The ops manager's token carries the role only because the authority
  // asked for the groups scope: the run is admitted.
  s.WaitState(wf, wv1::WORKFLOW_EXECUTION_STATE_RUNNING);
  s.Approve(kStrictCfo);
  s.Approve(kStrictDpo);
  s.WaitState(wf, wv1::WORKFLOW_EXECUTION_STATE_COMPLETED);
  const auto end = s.Snapshot(cus);
  CheckLowRiskDone(end, before);
  CHECK(end.refunds == before.refunds + 1);
  CHECK(end.erased);
  auto result = s.Result(wf);
  CHECK(result.status() == ov1::OFFBOARDING_STATUS_COMPLETED);
  auto ledger = s.Ledger(wf);
  for (const char* action : {"refund.issue", "customer_data.delete"}) {
    INFO(action);
    CHECK(CountKind(ledger, action, cv1::LEDGER_EVENT_KIND_APPROVAL_VERIFIED) == 1);
    CHECK(CountKind(ledger, action, cv1::LEDGER_EVENT_KIND_GRANT_CONSUMED) == 1);
  }
  // The approvers were asked for the roles scope, over private_key_jwt.
  auto asked = s.idp->Device("GET", "/requests?all=1");
  REQUIRE(asked.size() >= 3);
  for (const auto& r : asked) CHECK(r.at("scope").get<std::string>().find("groups") != std::string::npos);
  CHECK(s.VerifyLedger().ok());
}
