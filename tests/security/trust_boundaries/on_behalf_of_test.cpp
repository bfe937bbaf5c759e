// The gateway acts only for the external callers it authenticated itself
// (issue 18, part 1). With the gateway's certificate and
// on_behalf_of = spiffe://cantdo/worker, the worker's refund grant was
// claimed (its database login released) and consumed, and the ledger named
// the worker as actor.

#include <fstream>

#include "../../integration/gateway/gateway_harness.hpp"

using namespace cantdo::testing;
using cantdo::GetMetadata;
using cantdo::GetReason;

namespace {

std::string GrantState(AuthorityHarness& h, const std::string& grant_id) {
  auto conn = h.db.Connect();
  auto r = conn->Exec("SELECT state FROM cantdo.grants WHERE grant_id = $1::uuid", {grant_id});
  REQUIRE(r.ok());
  REQUIRE(r->Rows() == 1);
  return *r->GetString(0, 0);
}

int64_t ReleasedLogins(AuthorityHarness& h) {
  auto conn = h.db.Connect();
  auto r = conn->Exec("SELECT count(*) FROM pg_auth_members m JOIN pg_roles g ON g.oid = m.roleid WHERE g.rolname = $1",
                      {h.group});
  REQUIRE(r.ok());
  return *r->GetInt64(0, 0);
}

}  // namespace

TEST_CASE("the gateway cannot claim or consume the worker's grant by naming the worker as on_behalf_of",
          "[security][trust_boundaries]") {
  AuthorityHarness h;
  const cv1::Grant grant = h.Grant("refund");
  REQUIRE(grant.principal() == "spiffe://cantdo/worker");

  av1::ClaimGrantRequest claim = AuthorityHarness::ClaimFor(grant, "refund");
  claim.set_on_behalf_of("spiffe://cantdo/worker");
  auto claimed = h.Claim(claim, "gateway");
  INFO(claimed.status().ToString());
  CHECK(claimed.status().code() == absl::StatusCode::kPermissionDenied);
  CHECK(GetReason(claimed.status()) == std::optional<std::string>("PRINCIPAL_NOT_DELEGABLE"));
  CHECK(GetMetadata(claimed.status())["field"] == "on_behalf_of");
  CHECK(GrantState(h, grant.grant_id()) == "ISSUED");
  CHECK(ReleasedLogins(h) == 0);

  av1::ConsumeGrantRequest consume;
  consume.set_grant_id(grant.grant_id());
  consume.set_outcome_digest(std::string(64, 'a'));
  consume.set_on_behalf_of("spiffe://cantdo/worker");
  ::grpc::ClientContext ctx;
  av1::ConsumeGrantResponse resp;
  const absl::Status consumed =
      cantdo::grpc::FromGrpcStatus(h.Stub("gateway")->ConsumeGrant(AuthorityHarness::Ctx(&ctx), consume, &resp));
  CHECK(consumed.code() == absl::StatusCode::kPermissionDenied);
  CHECK(GetReason(consumed) == std::optional<std::string>("PRINCIPAL_NOT_DELEGABLE"));
  CHECK(GrantState(h, grant.grant_id()) == "ISSUED");

  // Nothing was recorded in the worker's name by someone else, and the
  // worker itself still holds a usable grant.
  CHECK(h.LedgerCount("GRANT_CLAIMED") == 0);
  auto mine = h.Claim(AuthorityHarness::ClaimFor(grant, "refund"), "worker");
  INFO(mine.status().ToString());
  CHECK(mine.ok());
}

TEST_CASE("on_behalf_of is accepted only in the forms the gateway gives external callers",
          "[security][trust_boundaries]") {
  AuthorityHarness h;
  av1::GetApprovalRequest get;
  get.set_approval_id("7d444840-9dc0-11d1-b245-5ffdce74fad2");  // exists nowhere
  auto ask = [&](const std::string& on_behalf_of) {
    get.set_on_behalf_of(on_behalf_of);
    ::grpc::ClientContext ctx;
    av1::GetApprovalResponse resp;
    return cantdo::grpc::FromGrpcStatus(h.Stub("gateway")->GetApproval(AuthorityHarness::Ctx(&ctx), get, &resp));
  };
  // Internal identities, other SPIFFE ids, and anything the gateway never
  // produces: refused before anything is looked up.
  for (const std::string refused : {"spiffe://cantdo/worker",
                                    "spiffe://cantdo/gateway",
                                    "spiffe://cantdo/admin",
                                    "spiffe://cantdo/ciba-bridge",
                                    "spiffe://cantdo/authority",
                                    "spiffe://elsewhere/worker",
                                    "SPIFFE://cantdo/worker",
                                    "worker",
                                    "platform:",
                                    "user:",
                                    "user:https://idp.test/",
                                    "user:#alice",
                                    "user:https://idp.test/#",
                                    "cert:",
                                    "cert:worker",
                                    "cert:spiffe://",
                                    " platform:acme",
                                    "platform:acme\n",
                                    "platform:ac\tme",
                                    "admin"}) {
    INFO("on_behalf_of = \"" << refused << "\"");
    const absl::Status st = ask(refused);
    CHECK(st.code() == absl::StatusCode::kPermissionDenied);
    CHECK(GetReason(st) == std::optional<std::string>("PRINCIPAL_NOT_DELEGABLE"));
  }
  // The three forms the gateway produces reach the lookup (and find nothing).
  for (const std::string accepted : {"platform:acme", "user:https://idp.test/#alice", "cert:spiffe://cantdo/operator",
                                     "cert:spiffe://cantdo/worker"}) {
    INFO("on_behalf_of = \"" << accepted << "\"");
    CHECK(GetReason(ask(accepted)) == std::optional<std::string>("APPROVAL_NOT_FOUND"));
  }
}

TEST_CASE("a worker certificate presented to the gateway is an external caller, not the worker",
          "[security][trust_boundaries]") {
  // A deployment whose callers file lets the holder of the worker's
  // certificate use the platform API (by mistake, or a stolen certificate).
  GatewayHarness g([](cantdo::gateway::GatewayConfig& c) {
    std::ofstream(c.callers_file + ".worker") << R"({"callers": [
        {"principal": "spiffe://cantdo/worker", "roles": ["agent_platform"]}]})";
    c.callers_file += ".worker";
  });
  const cv1::Grant grant = g.authority.Grant("refund");
  const av1::ClaimGrantRequest internal = AuthorityHarness::ClaimFor(grant, "refund");
  gv1::ClaimGrantRequest claim;
  claim.set_grant_id(internal.grant_id());
  *claim.mutable_action() = internal.action();
  claim.set_idempotency_key(internal.idempotency_key());
  auto claimed = GatewayHarness::Call(g.CertChannel("worker"), &gv1::AuthorizationService::Stub::ClaimGrant, claim);
  INFO(claimed.status().ToString());
  CHECK(claimed.status().code() == absl::StatusCode::kPermissionDenied);
  CHECK(GetReason(claimed.status()) == std::optional<std::string>("GRANT_PRINCIPAL_MISMATCH"));
  CHECK(GrantState(g.authority, grant.grant_id()) == "ISSUED");
  CHECK(ReleasedLogins(g.authority) == 0);
}

TEST_CASE("the ledger records the acting service apart from the principal it acted for",
          "[security][trust_boundaries]") {
  GatewayHarness g;
  gv1::RequestAuthorizationRequest req;
  auto* a = req.mutable_action();
  a->set_action("customer_data.delete");
  a->set_workflow_id("ticket-9");
  a->set_step("erase");
  (*a->mutable_parameters()->mutable_fields())["customer_id"].set_string_value("cust-42");
  req.set_requester("user:https://crm.example#alice");
  auto asked = GatewayHarness::Call(g.BareChannel(), &gv1::AuthorizationService::Stub::RequestAuthorization, req,
                                    g.Token("acme", {"agent_platform"}));
  INFO(asked.status().ToString());
  REQUIRE(asked.ok());

  // Chained (read through the RPC), then read from the table as stored.
  ::grpc::ClientContext ctx;
  av1::VerifyLedgerResponse verified;
  REQUIRE(g.authority.Stub("admin")->VerifyLedger(AuthorityHarness::Ctx(&ctx), {}, &verified).ok());
  REQUIRE(verified.verification().ok());
  auto conn = g.authority.db.Connect();
  auto rows = conn->Exec(
      "SELECT kind, actor, acting_service FROM cantdo.ledger WHERE workflow_id = 'ticket-9' ORDER BY sequence");
  INFO(rows.status().ToString());
  REQUIRE(rows.ok());
  REQUIRE(rows->Rows() >= 2);  // DECISION, APPROVAL_REQUESTED
  for (int i = 0; i < rows->Rows(); ++i) {
    INFO(*rows->GetString(i, 0));
    CHECK(*rows->GetString(i, 1) == "platform:acme");
    CHECK(*rows->GetString(i, 2) == "spiffe://cantdo/gateway");
  }
}
