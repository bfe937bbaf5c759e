// The ciba-bridge against the real local OpenID Provider (oidc-provider with
// CIBA, tools/dev-idp), real Postgres, and a fake authority reached over
// real gRPC with mutual TLS: approve, deny, expiry, slow_down, ping, a wrong
// client secret, a provider outage, and a bridge killed mid-wait.
#include "integration/bridge/bridge_harness.hpp"

#include "cantdo/auth/jwks_cache.hpp"
#include "cantdo/auth/jwt_verifier.hpp"
#include "cantdo/base/clock.hpp"
#include "cantdo/base/status.hpp"
#include "support/prometheus_checks.hpp"

using namespace cantdo::bridgetest;
using cantdo::testing::TempDir;
using cantdo::testing::TestPki;

namespace {

struct Stack {
  TestDatabase db{TestDatabase::kMigrated};
  BridgeLogin login{db};
  TestPki pki;
  TempDir dir;
  FakeAuthority authority{pki};
  std::unique_ptr<DevIdp> idp;
  std::unique_ptr<Bridge> bridge;

  explicit Stack(std::map<std::string, std::string> idp_env = {}, std::map<std::string, std::string> bridge_env = {}) {
    idp = std::make_unique<DevIdp>(pki, dir.path(), idp_env);
    bridge_env.emplace("CANTDO_CIBA_ISSUER", idp->issuer());
    bridge_env.emplace("CANTDO_CIBA_CA_FILE", idp->ca_file());
    bridge_env.emplace("CANTDO_AUTHORITY_ADDRESS", authority.address());
    bridge = std::make_unique<Bridge>(pki, dir.path(), login.dsn(), bridge_env);
  }
  std::string Logs() const { return "bridge:\n" + bridge->Log() + "\nidp:\n" + idp->Log(); }
};

// Verifies a delivered token the way the authority will: the provider's
// JWKS over HTTPS, issuer, audience = the bridge's client id.
absl::StatusOr<cantdo::auth::VerifiedToken> VerifyToken(const DevIdp& idp, const std::string& token) {
  cantdo::http::ClientOptions o;
  o.ca_file = idp.ca_file();
  auto client = cantdo::http::HttpsClient::Create(o);
  if (!client.ok()) return client.status();
  std::shared_ptr<cantdo::http::HttpsClient> http = *std::move(client);
  const std::string jwks_uri = idp.issuer() + "/jwks";
  cantdo::auth::JwksCache keys([http, jwks_uri] { return http->Get(jwks_uri); }, cantdo::SystemClock());
  cantdo::auth::VerifyOptions vo;
  vo.issuer = idp.issuer();
  vo.audiences = {"cantdo-ciba-bridge"};
  cantdo::auth::JwtVerifier verifier(keys, cantdo::SystemClock(), vo);
  return verifier.Verify(token);
}

std::vector<std::string> Roles(const cantdo::auth::VerifiedToken& t) {
  std::vector<std::string> roles;
  for (const auto& r : t.claims.value("https://cantdo.dev/roles", nlohmann::json::array())) roles.push_back(r);
  return roles;
}

}  // namespace

TEST_CASE(
    "an approval reaches the authority with an ID token that verifies and carries the role, "
    "delivery is retried while the authority is unavailable",
    "[integration][bridge]") {
  Stack s;
  INFO(s.Logs());
  s.authority.FailFirst(2);
  auto started = s.bridge->Start(StartRequest("apr_cfo", "auth0|cfo", "Refund 125.00 EUR to cus_42"));
  INFO(started.status());
  REQUIRE(started.ok());
  CHECK(started->created());
  const auto& auth = started->authentication();
  CHECK(auth.state() == bv1::BACKCHANNEL_AUTHENTICATION_STATE_PENDING);
  CHECK(!auth.auth_req_id().empty());
  CHECK(auth.poll_interval().seconds() == 1);  // the provider's interval

  // A repeat is idempotent; the same key with another message is refused.
  auto again = s.bridge->Start(StartRequest("apr_cfo", "auth0|cfo", "Refund 125.00 EUR to cus_42"));
  REQUIRE(again.ok());
  CHECK(!again->created());
  CHECK(again->authentication().id() == auth.id());
  auto changed = s.bridge->Start(StartRequest("apr_cfo", "auth0|cfo", "Refund 999.00 EUR to cus_42"));
  CHECK(changed.status().code() == absl::StatusCode::kAlreadyExists);
  CHECK(cantdo::GetReason(changed.status()) == "IDEMPOTENCY_KEY_REUSED");

  // The approver sees the exact binding message, and approves.
  const std::string id = s.idp->WaitForPending("auth0|cfo");
  CHECK(id == auth.auth_req_id());
  CHECK(s.idp->Device("GET", "/requests/" + id).at("binding_message") == "Refund 125.00 EUR to cus_42");
  s.idp->Device("POST", "/requests/" + id + "/approve");

  auto ack = s.authority.WaitForAck("apr_cfo", absl::Seconds(30));
  REQUIRE(ack.has_value());
  CHECK(ack->outcome() == av1::CIBA_OUTCOME_APPROVED);
  CHECK(ack->auth_req_id() == auth.auth_req_id());
  CHECK(ack->provider_error().empty());
  auto verified = VerifyToken(*s.idp, ack->id_token());
  INFO(verified.status());
  REQUIRE(verified.ok());
  CHECK(verified->subject == "auth0|cfo");
  CHECK(Roles(*verified) == std::vector<std::string>{"cfo"});
  CHECK(s.authority.calls().size() == 3);  // two UNAVAILABLE, then acknowledged

  CHECK(WaitUntil([&] { return s.bridge->Get(auth.id()).delivered(); }, absl::Seconds(5)));
  auto final_state = s.bridge->Get(auth.id());
  CHECK(final_state.state() == bv1::BACKCHANNEL_AUTHENTICATION_STATE_APPROVED);
  CHECK(final_state.delivery_attempts() == 3);
  CHECK(final_state.attempts() >= 1);

  // A user without the role: the token verifies (the signature is fine) but
  // carries no role, so the authority will refuse it.
  REQUIRE(s.bridge->Start(StartRequest("apr_norole", "auth0|no-role", "Refund 125.00 EUR to cus_42")).ok());
  s.idp->Device("POST", "/requests/" + s.idp->WaitForPending("auth0|no-role") + "/approve");
  auto ack2 = s.authority.WaitForAck("apr_norole", absl::Seconds(30));
  REQUIRE(ack2.has_value());
  auto verified2 = VerifyToken(*s.idp, ack2->id_token());
  REQUIRE(verified2.ok());
  CHECK(Roles(*verified2).empty());

  // Tokens and secrets never reach the logs.
  CHECK(s.bridge->Log().find(ack->id_token().substr(0, 40)) == std::string::npos);
  CHECK(s.bridge->Log().find(DevIdp::kSecret) == std::string::npos);
}

TEST_CASE("a denial and an expiry reach the authority as DENIED and EXPIRED (client_secret_post)",
          "[integration][bridge]") {
  Stack s({{"IDP_CLIENT_AUTH", "client_secret_post"}}, {{"CANTDO_CIBA_CLIENT_AUTH", "client_secret_post"}});
  INFO(s.Logs());
  auto deny = s.bridge->Start(StartRequest("apr_deny", "auth0|dpo", "Delete customer data cus_42"));
  REQUIRE(deny.ok());
  auto expire_req = StartRequest("apr_expire", "auth0|ops-manager", "Start offboarding cus_42");
  expire_req.mutable_requested_expiry()->set_seconds(10);
  auto expire = s.bridge->Start(expire_req);
  REQUIRE(expire.ok());

  s.idp->Device("POST", "/requests/" + s.idp->WaitForPending("auth0|dpo") + "/deny");
  auto denied = s.authority.WaitForAck("apr_deny", absl::Seconds(30));
  REQUIRE(denied.has_value());
  CHECK(denied->outcome() == av1::CIBA_OUTCOME_DENIED);
  CHECK(denied->provider_error() == "access_denied");
  CHECK(denied->id_token().empty());
  CHECK(s.bridge->Get(deny->authentication().id()).state() == bv1::BACKCHANNEL_AUTHENTICATION_STATE_DENIED);

  auto expired = s.authority.WaitForAck("apr_expire", absl::Seconds(40));
  REQUIRE(expired.has_value());
  CHECK(expired->outcome() == av1::CIBA_OUTCOME_EXPIRED);
  CHECK(expired->id_token().empty());
  CHECK(s.bridge->Get(expire->authentication().id()).state() == bv1::BACKCHANNEL_AUTHENTICATION_STATE_EXPIRED);
}

TEST_CASE("slow_down from the provider makes the bridge poll 5 s further apart for good", "[integration][bridge]") {
  // The provider sends no interval and enforces 2 s; the bridge starts at 1 s.
  Stack s({{"IDP_CIBA_INTERVAL", "0"}, {"IDP_CIBA_MIN_POLL", "2"}}, {{"CANTDO_CIBA_DEFAULT_POLL_INTERVAL", "1s"}});
  INFO(s.Logs());
  auto started = s.bridge->Start(StartRequest("apr_slow", "auth0|cfo", "Refund 10.00 EUR to cus_7"));
  REQUIRE(started.ok());
  CHECK(started->authentication().poll_interval().seconds() == 1);
  const std::string id = s.idp->WaitForPending("auth0|cfo");

  REQUIRE(WaitUntil([&] { return s.idp->Device("GET", "/requests/" + id).at("slow_downs").get<int>() >= 1; },
                    absl::Seconds(15)));
  auto state = s.bridge->Get(started->authentication().id());
  CHECK(state.poll_interval().seconds() == 6);
  // Two more polls after the slow_down, each at least 6 s after the last.
  REQUIRE(
      WaitUntil([&] { return s.idp->Device("GET", "/requests/" + id).at("polls").size() >= 4; }, absl::Seconds(20)));
  auto entry = s.idp->Device("GET", "/requests/" + id);
  auto polls = entry.at("polls").get<std::vector<int64_t>>();
  CHECK(entry.at("slow_downs").get<int>() == 1);  // never too early again
  for (size_t i = 2; i < polls.size(); ++i) CHECK(polls[i] - polls[i - 1] >= 5900);
  CHECK(s.bridge->Get(started->authentication().id()).last_provider_error().error() == "authorization_pending");

  s.idp->Device("POST", "/requests/" + id + "/approve");
  auto ack = s.authority.WaitForAck("apr_slow", absl::Seconds(20));
  REQUIRE(ack.has_value());
  CHECK(ack->outcome() == av1::CIBA_OUTCOME_APPROVED);
}

TEST_CASE("ping mode: the provider's notification makes the bridge fetch the token at once", "[integration][bridge]") {
  // The provider is told the callback URL at its start, before the bridge
  // (which needs the provider's address) runs: the port is reserved.
  const PortReservation callback_port;
  const std::string endpoint = "https://" + callback_port.address() + "/ciba/notify";
  Stack s({{"IDP_DELIVERY_MODE", "ping"}, {"IDP_PING_ENDPOINT", endpoint}},
          {{"CANTDO_CIBA_DELIVERY_MODE", "ping"},
           {"CANTDO_CIBA_CALLBACK_LISTEN", callback_port.address()},
           {"CANTDO_CIBA_PING_FALLBACK_POLL", "120s"}});
  INFO(s.Logs());
  auto started = s.bridge->Start(StartRequest("apr_ping", "auth0|dpo", "Delete customer data cus_9"));
  INFO(started.status());
  REQUIRE(started.ok());
  CHECK(started->authentication().delivery_mode() == bv1::DELIVERY_MODE_PING);

  // A notification with the wrong bearer token is refused.
  {
    cantdo::http::ClientOptions o;
    o.ca_file = s.idp->ca_file();
    auto client = cantdo::http::HttpsClient::Create(o);
    REQUIRE(client.ok());
    cantdo::http::Request r;
    r.method = "POST";
    r.url = endpoint;
    r.headers = {{"authorization", "Bearer not-the-token"}, {"content-type", "application/json"}};
    r.body = nlohmann::json{{"auth_req_id", started->authentication().auth_req_id()}}.dump();
    auto res = (*client)->Send(r);
    REQUIRE(res.ok());
    CHECK(res->status == 401);
  }

  const std::string id = s.idp->WaitForPending("auth0|dpo");
  auto decided = s.idp->Device("POST", "/requests/" + id + "/approve");
  CHECK(decided.at("ping") == "sent");
  auto ack = s.authority.WaitForAck("apr_ping", absl::Seconds(15));
  REQUIRE(ack.has_value());
  CHECK(ack->outcome() == av1::CIBA_OUTCOME_APPROVED);
  REQUIRE(VerifyToken(*s.idp, ack->id_token()).ok());
  // No polling happened before the ping: one token request in all.
  CHECK(s.idp->Device("GET", "/requests/" + id).at("polls").size() == 1);
}

TEST_CASE("a wrong client secret is a clear configuration error, and only the authority may call",
          "[integration][bridge]") {
  Stack s({}, {{"CANTDO_CIBA_CLIENT_SECRET", "wrong-secret-wrong-secret"}});
  INFO(s.Logs());
  auto started = s.bridge->Start(StartRequest("apr_bad", "auth0|cfo", "Refund 1.00 EUR to cus_1"));
  CHECK(started.status().code() == absl::StatusCode::kFailedPrecondition);
  CHECK(cantdo::GetReason(started.status()) == "CIBA_CONFIGURATION_ERROR");
  CHECK(started.status().message().find("client credentials") != std::string::npos);
  CHECK(s.bridge->child().WaitForLogLine("rejected the bridge's client credentials", absl::Seconds(5)).has_value());

  // Another service's certificate is refused.
  auto stub = bv1::CibaBridgeService::NewStub(
      cantdo::grpc::MakeMtlsChannel("127.0.0.1:" + std::to_string(s.bridge->port()), s.pki.Issue("worker")));
  ::grpc::ClientContext ctx;
  bv1::GetBackchannelAuthenticationRequest get;
  get.set_id("bca_x");
  bv1::GetBackchannelAuthenticationResponse resp;
  auto st = cantdo::grpc::FromGrpcStatus(stub->GetBackchannelAuthentication(&ctx, get, &resp));
  CHECK(st.code() == absl::StatusCode::kPermissionDenied);
  CHECK(cantdo::GetReason(st) == "CALLER_NOT_ALLOWED");
  // Bad input is INVALID_FIELD.
  auto bad = s.bridge->Start(StartRequest("apr_bad2", "auth0|cfo", "Refund 1.00 EUR <script>"), false);
  CHECK(bad.status().code() == absl::StatusCode::kInvalidArgument);
  CHECK(cantdo::GetMetadata(bad.status())["field"] == "binding_message");
}

TEST_CASE("the provider down for a while, then up: the request survives and completes", "[integration][bridge]") {
  Stack s;
  INFO(s.Logs());
  auto started = s.bridge->Start(StartRequest("apr_outage", "auth0|ops-manager", "Start offboarding cus_3"));
  REQUIRE(started.ok());
  const std::string id = s.idp->WaitForPending("auth0|ops-manager");
  s.idp->Stop();
  REQUIRE(WaitUntil(
      [&] { return s.bridge->Get(started->authentication().id()).last_provider_error().error() == "transport"; },
      absl::Seconds(15)));
  // It keeps trying through the outage (two more token requests, both
  // failing to connect) and the request stays pending.
  const int tried = s.bridge->Get(started->authentication().id()).attempts();
  REQUIRE(WaitUntil([&] { return s.bridge->Get(started->authentication().id()).attempts() >= tried + 2; },
                    absl::Seconds(20)));
  auto during = s.bridge->Get(started->authentication().id());
  CHECK(during.last_provider_error().error() == "transport");
  CHECK(during.state() == bv1::BACKCHANNEL_AUTHENTICATION_STATE_PENDING);
  s.idp->Start();
  s.idp->Device("POST", "/requests/" + id + "/approve");
  auto ack = s.authority.WaitForAck("apr_outage", absl::Seconds(30));
  REQUIRE(ack.has_value());
  CHECK(ack->outcome() == av1::CIBA_OUTCOME_APPROVED);
  CHECK(VerifyToken(*s.idp, ack->id_token()).ok());
}

TEST_CASE("the bridge killed mid-wait and restarted: the request survives and completes", "[integration][bridge]") {
  Stack s;
  INFO(s.Logs());
  auto started = s.bridge->Start(StartRequest("apr_crash", "auth0|cfo", "Refund 50.00 EUR to cus_5"));
  REQUIRE(started.ok());
  const std::string id = s.idp->WaitForPending("auth0|cfo");
  // Killed while it waits: it has polled and been told to keep waiting.
  REQUIRE(WaitUntil(
      [&] {
        return s.bridge->Get(started->authentication().id()).last_provider_error().error() == "authorization_pending";
      },
      absl::Seconds(15)));
  s.bridge->Kill();
  s.idp->Device("POST", "/requests/" + id + "/approve");
  CHECK(s.authority.calls().empty());
  s.bridge->Start();
  auto ack = s.authority.WaitForAck("apr_crash", absl::Seconds(40));
  REQUIRE(ack.has_value());
  CHECK(ack->outcome() == av1::CIBA_OUTCOME_APPROVED);
  CHECK(VerifyToken(*s.idp, ack->id_token()).ok());
  CHECK(s.bridge->Get(started->authentication().id()).state() == bv1::BACKCHANNEL_AUTHENTICATION_STATE_APPROVED);
}

TEST_CASE(
    "bridge metrics: requests, polls, slow_down, a provider error and a result delivered after a retry are "
    "counted, what is pending is read from the database, and promtool passes",
    "[integration][bridge][metrics]") {
  // slow_down as in the test above; the authority unavailable once.
  Stack s({{"IDP_CIBA_INTERVAL", "0"}, {"IDP_CIBA_MIN_POLL", "2"}},
          {{"CANTDO_CIBA_DEFAULT_POLL_INTERVAL", "1s"}, {"CANTDO_METRICS_LISTEN", "127.0.0.1:0"}});
  INFO(s.Logs());
  s.authority.FailFirst(1);
  std::string m = s.bridge->Metrics();
  CHECK(cantdo::testing::RequireSample(m, R"(cantdo_bridge_backchannel_requests_total{result="accepted"})") == 0);
  CHECK(cantdo::testing::RequireSample(m, "cantdo_bridge_requests_pending") == 0);

  auto started = s.bridge->Start(StartRequest("apr_metrics", "auth0|cfo", "Refund 10.00 EUR to cus_9"));
  REQUIRE(started.ok());
  const std::string id = s.idp->WaitForPending("auth0|cfo");
  REQUIRE(WaitUntil([&] { return s.idp->Device("GET", "/requests/" + id).at("slow_downs").get<int>() >= 1; },
                    absl::Seconds(15)));
  m = s.bridge->Metrics();
  CHECK(cantdo::testing::RequireSample(m, R"(cantdo_bridge_backchannel_requests_total{result="accepted"})") == 1);
  CHECK(cantdo::testing::RequireSample(m, "cantdo_bridge_requests_pending") == 1);
  CHECK(cantdo::testing::RequireSample(m, "cantdo_bridge_requests_oldest_pending_age_seconds") > 0);
  CHECK(cantdo::testing::RequireSample(m, "cantdo_bridge_slow_down_total") == 1);
  CHECK(cantdo::testing::RequireSample(m, "cantdo_bridge_token_polls_total") >= 2);

  // A login_hint the provider does not know: refused at the backchannel
  // endpoint, an OAuth error, the request FAILED.
  auto unknown = s.bridge->Start(StartRequest("apr_nobody", "auth0|nobody", "Refund 10.00 EUR to cus_9"));
  CHECK(unknown.status().code() == absl::StatusCode::kFailedPrecondition);
  m = s.bridge->Metrics();
  CHECK(cantdo::testing::RequireSample(m, R"(cantdo_bridge_backchannel_requests_total{result="failed"})") == 1);
  CHECK(cantdo::testing::RequireSample(
            m, R"(cantdo_bridge_provider_errors_total{endpoint="backchannel",kind="oauth_error"})") == 1);
  CHECK(cantdo::testing::RequireSample(m, R"(cantdo_bridge_requests_finished_total{state="FAILED"})") == 1);
  CHECK(cantdo::testing::RequireSample(
            m, R"(cantdo_grpc_server_handled_total{grpc_service="cantdo.bridge.v1.CibaBridgeService",)"
               R"(grpc_method="StartBackchannelAuthentication",grpc_code="FAILED_PRECONDITION"})") == 1);

  // Approved: delivered after one retry, nothing pending or undelivered.
  s.idp->Device("POST", "/requests/" + id + "/approve");
  REQUIRE(s.authority.WaitForAck("apr_metrics", absl::Seconds(30)).has_value());
  REQUIRE(WaitUntil([&] { return s.bridge->Get(started->authentication().id()).delivered(); }, absl::Seconds(10)));
  m = s.bridge->Metrics();
  CHECK(cantdo::testing::RequireSample(m, R"(cantdo_bridge_requests_finished_total{state="APPROVED"})") == 1);
  CHECK(cantdo::testing::RequireSample(m, R"(cantdo_bridge_deliveries_total{result="retry"})") == 1);
  CHECK(cantdo::testing::RequireSample(m, R"(cantdo_bridge_deliveries_total{result="delivered"})") == 1);
  CHECK(cantdo::testing::RequireSample(m, "cantdo_bridge_requests_pending") == 0);
  CHECK(cantdo::testing::RequireSample(m, "cantdo_bridge_results_undelivered") == 0);
  CHECK(cantdo::testing::RequireSample(
            m, R"(cantdo_bridge_provider_errors_total{endpoint="token",kind="transport"})") == 0);
  cantdo::testing::CheckPromtoolClean(m);
}
