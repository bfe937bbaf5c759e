// An agent platform with a real client-credentials token from the real dev
// identity provider (tools/dev-idp): its approval, its grant, no one else's.

#include "absl/strings/escaping.h"
#include "cantdo/http/https_client.hpp"
#include "gateway_harness.hpp"

using namespace cantdo::testing;
using cantdo::GetReason;

namespace {

std::string FetchToken(const DevIdp& idp, const std::string& client) {
  cantdo::http::ClientOptions o;
  o.ca_file = idp.ca_file();
  auto http = cantdo::http::HttpsClient::Create(o);
  REQUIRE(http.ok());
  cantdo::http::Request r;
  r.method = "POST";
  r.url = idp.issuer() + "/token";
  r.headers = {{"content-type", "application/x-www-form-urlencoded"},
               {"authorization", "Basic " + absl::Base64Escape(client + ":" + "m2m-secret-0123456789abcdef")}};
  r.body = "grant_type=client_credentials&resource=https%3A%2F%2Fgateway.cantdo.dev";
  auto res = (*http)->Send(r);
  REQUIRE(res.ok());
  INFO(res->body);
  REQUIRE(res->status == 200);
  return nlohmann::json::parse(res->body).at("access_token").get<std::string>();
}

}  // namespace

TEST_CASE("An agent platform authenticates with a real client-credentials token and owns its approvals and grants",
          "[integration][gateway]") {
  TempDir idp_dir;
  TestPki idp_pki;
  DevIdp idp(idp_pki, idp_dir.path(), {{"IDP_M2M_CLIENT_SECRET", "m2m-secret-0123456789abcdef"}});
  const std::string ca = idp_pki.ca_pem();
  GatewayHarness h([&](cantdo::gateway::GatewayConfig& c) {
    c.oidc_issuer = idp.issuer();
    c.oidc_jwks_uri = idp.issuer() + "/jwks";
    c.oidc_ca_file = idp.ca_file();
  });
  // Real tokens carry real times: the gateway's fake clock starts at now.
  const std::string token = FetchToken(idp, "cantdo-demo-platform");

  gv1::RequestAuthorizationRequest req;
  auto* a = req.mutable_action();
  a->set_action("refund.issue");
  a->set_workflow_id("ticket-7");
  a->set_step("refund");
  (*a->mutable_parameters()->mutable_fields())["amount_cents"].set_number_value(1200);
  (*a->mutable_parameters()->mutable_fields())["customer_id"].set_string_value("cust-42");
  req.set_requester("user:https://crm.example#alice");
  auto asked =
      GatewayHarness::Call(h.BareChannel(), &gv1::AuthorizationService::Stub::RequestAuthorization, req, token);
  INFO(asked.status().ToString());
  REQUIRE(asked.ok());
  CHECK(asked->decision() == cantdo::common::v1::DECISION_REQUIRE_APPROVAL);
  CHECK(asked->approval().principal() == "platform:cantdo-demo-platform");
  const std::string approval_id = asked->approval().approval_id();

  // Another platform (certificate) cannot see it.
  gv1::GetAuthorizationRequest get;
  get.set_approval_id(approval_id);
  auto foreign =
      GatewayHarness::Call(h.CertChannel("platform"), &gv1::AuthorizationService::Stub::GetAuthorization, get);
  CHECK(GetReason(foreign.status()) == "APPROVAL_NOT_FOUND");
  // An operator's token (role operator) may not use this API.
  auto op = GatewayHarness::Call(h.BareChannel(), &gv1::AuthorizationService::Stub::GetAuthorization, get,
                                 FetchToken(idp, "cantdo-operator-cli"));
  CHECK(GetReason(op.status()) == "CALLER_ROLE_MISMATCH");

  // The CFO approves (delivered as the bridge would); a long poll sees it.
  REQUIRE(h.authority.Complete(approval_id, h.authority.idp.Sign(h.authority.Claims("cfo1", approval_id))).ok());
  get.mutable_wait()->set_seconds(5);
  auto got = GatewayHarness::Call(h.BareChannel(), &gv1::AuthorizationService::Stub::GetAuthorization, get, token);
  REQUIRE(got.ok());
  CHECK(got->approval().state() == cantdo::common::v1::APPROVAL_STATE_APPROVED);
  REQUIRE(got->has_grant());

  gv1::ClaimGrantRequest claim;
  claim.set_grant_id(got->grant().grant_id());
  *claim.mutable_action() = req.action();
  claim.set_idempotency_key("exec-1");
  auto stolen = GatewayHarness::Call(h.CertChannel("platform"), &gv1::AuthorizationService::Stub::ClaimGrant, claim);
  CHECK(GetReason(stolen.status()) == "GRANT_PRINCIPAL_MISMATCH");
  auto claimed = GatewayHarness::Call(h.BareChannel(), &gv1::AuthorizationService::Stub::ClaimGrant, claim, token);
  INFO(claimed.status().ToString());
  REQUIRE(claimed.ok());
  CHECK(claimed->grant().state() == cantdo::common::v1::GRANT_STATE_CLAIMED);
  CHECK(claimed->has_credential());
  gv1::ConsumeGrantRequest consume;
  consume.set_grant_id(claim.grant_id());
  consume.set_outcome_digest(std::string(64, 'b'));
  auto consumed = GatewayHarness::Call(h.BareChannel(), &gv1::AuthorizationService::Stub::ConsumeGrant, consume, token);
  REQUIRE(consumed.ok());
  CHECK(consumed->grant().state() == cantdo::common::v1::GRANT_STATE_CONSUMED);

  // The ledger, through the gateway, shows it all and verifies.
  gv1::ListLedgerEntriesRequest list;
  list.mutable_filter()->set_approval_id(approval_id);
  auto entries = GatewayHarness::Call(h.CertChannel("auditor"), &gv1::LedgerService::Stub::ListLedgerEntries, list);
  REQUIRE(entries.ok());
  CHECK(entries->entries_size() >= 4);
  auto verified = GatewayHarness::Call(h.BareChannel(), &gv1::LedgerService::Stub::VerifyLedger,
                                       gv1::VerifyLedgerRequest(), FetchToken(idp, "cantdo-auditor-cli"));
  REQUIRE(verified.ok());
  CHECK(verified->verification().ok());
}
