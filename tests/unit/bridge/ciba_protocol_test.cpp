// The CIBA client rules without I/O: polling decisions (CIBA Core 7.3, 11),
// Auth0's binding-message rule, login_hint rendering, discovery checks, and
// form/Basic encoding of client credentials (RFC 6749 2.3.1).
#include <catch2/catch.hpp>

#include "cantdo/base/status.hpp"
#include "cantdo/http/form.hpp"
#include "cantdo/http/url.hpp"
#include "ciba-bridge/ciba_protocol.hpp"

using namespace cantdo::bridge;

namespace {
ProviderAnswer OAuthError(const std::string& e, int http = 400) {
  ProviderAnswer a;
  a.kind = ProviderAnswer::Kind::kOAuthError;
  a.error = e;
  a.http_status = http;
  return a;
}
const absl::Time kNow = absl::FromUnixSeconds(1'800'000'000);
const absl::Duration kMax = absl::Seconds(30);
}  // namespace

TEST_CASE("authorization_pending keeps the interval, slow_down adds 5 s for good", "[unit][bridge]") {
  auto d = DecidePoll(OAuthError("authorization_pending"), absl::Seconds(5), 0, kNow, kNow + absl::Minutes(1), kMax);
  CHECK(d.action == PollAction::kKeepWaiting);
  CHECK(d.interval == absl::Seconds(5));
  CHECK(d.next_delay == absl::Seconds(5));
  d = DecidePoll(OAuthError("slow_down"), absl::Seconds(5), 0, kNow, std::nullopt, kMax);
  CHECK(d.action == PollAction::kKeepWaiting);
  CHECK(d.interval == absl::Seconds(10));
  d = DecidePoll(OAuthError("slow_down"), d.interval, 0, kNow, std::nullopt, kMax);
  CHECK(d.interval == absl::Seconds(15));
  auto with_retry_after = OAuthError("slow_down");
  with_retry_after.retry_after = absl::Seconds(40);
  d = DecidePoll(with_retry_after, absl::Seconds(5), 0, kNow, std::nullopt, kMax);
  CHECK(d.interval == absl::Seconds(10));
  CHECK(d.next_delay == absl::Seconds(40));
}

TEST_CASE("terminal errors: denied, expired, and Auth0's access_denied after expiry", "[unit][bridge]") {
  const auto exp = kNow + absl::Seconds(30);
  CHECK(DecidePoll(OAuthError("access_denied"), absl::Seconds(5), 0, kNow, exp, kMax).action == PollAction::kDenied);
  CHECK(DecidePoll(OAuthError("access_denied"), absl::Seconds(5), 0, exp + absl::Seconds(1), exp, kMax).action ==
        PollAction::kExpired);
  CHECK(DecidePoll(OAuthError("expired_token"), absl::Seconds(5), 0, kNow, exp, kMax).action == PollAction::kExpired);
  CHECK(DecidePoll(OAuthError("invalid_grant"), absl::Seconds(5), 0, kNow, exp, kMax).action == PollAction::kLost);
  CHECK(DecidePoll(OAuthError("invalid_grant"), absl::Seconds(5), 0, exp + absl::Seconds(20), exp, kMax).action ==
        PollAction::kExpired);
  CHECK(DecidePoll(OAuthError("invalid_request"), absl::Seconds(5), 0, kNow, exp, kMax).action == PollAction::kFailed);
}

TEST_CASE("transport failures, 5xx and a bad client are retried with backoff, never terminal", "[unit][bridge]") {
  ProviderAnswer t = ClassifyAnswer(absl::UnavailableError("connection refused"));
  CHECK(t.kind == ProviderAnswer::Kind::kTransport);
  auto d = DecidePoll(t, absl::Seconds(1), 0, kNow, std::nullopt, kMax);
  CHECK(d.action == PollAction::kKeepWaiting);
  CHECK(d.transport_failure);
  CHECK(d.interval == absl::Seconds(1));
  d = DecidePoll(t, absl::Seconds(1), 3, kNow, std::nullopt, kMax);
  CHECK(d.next_delay == absl::Seconds(8));
  d = DecidePoll(t, absl::Seconds(1), 20, kNow, std::nullopt, kMax);
  CHECK(d.next_delay == kMax);

  cantdo::http::Response r503{503, {}, "<html>down</html>"};
  CHECK(ClassifyAnswer(r503).kind == ProviderAnswer::Kind::kTransport);
  CHECK(ClassifyAnswer(r503).error == "http_5xx");
  cantdo::http::Response r429{429, {{"retry-after", "7"}}, R"({"error":"too_many"})"};
  auto a429 = ClassifyAnswer(r429);
  CHECK(a429.kind == ProviderAnswer::Kind::kTransport);
  CHECK(a429.retry_after == absl::Seconds(7));
  cantdo::http::Response r401{401, {}, R"({"error":"invalid_client","error_description":"nope"})"};
  auto bad_client = ClassifyAnswer(r401);
  CHECK(bad_client.kind == ProviderAnswer::Kind::kOAuthError);
  d = DecidePoll(bad_client, absl::Seconds(5), 0, kNow, std::nullopt, kMax);
  CHECK(d.action == PollAction::kKeepWaiting);
  CHECK(d.configuration_error);

  cantdo::http::Response ok{200, {}, R"({"id_token":"a.b.c","access_token":"x"})"};
  CHECK(DecidePoll(ClassifyAnswer(ok), absl::Seconds(5), 0, kNow, std::nullopt, kMax).action == PollAction::kApproved);
  cantdo::http::Response no_id{200, {}, R"({"access_token":"x"})"};
  CHECK(DecidePoll(ClassifyAnswer(no_id), absl::Seconds(5), 0, kNow, std::nullopt, kMax).action == PollAction::kFailed);
}

TEST_CASE("binding messages follow Auth0's rule", "[unit][bridge]") {
  CHECK(IsValidBindingMessage("Refund 125.00 EUR to cus_42"));
  CHECK(IsValidBindingMessage("A-Z a-z 0-9 +-_.,:#"));
  CHECK(IsValidBindingMessage(std::string(64, 'x')));
  CHECK_FALSE(IsValidBindingMessage(std::string(65, 'x')));
  CHECK_FALSE(IsValidBindingMessage(""));
  CHECK_FALSE(IsValidBindingMessage("Refund 125 €"));
  CHECK_FALSE(IsValidBindingMessage("a/b"));
  CHECK_FALSE(IsValidBindingMessage("new\nline"));
}

TEST_CASE("start requests are validated field by field", "[unit][bridge]") {
  cantdo::bridge::v1::StartBackchannelAuthenticationRequest r;
  r.set_approval_id("apr_1");
  r.set_login_hint("auth0|cfo");
  r.set_binding_message("Refund 1.00 EUR");
  CHECK(ValidateStartRequest(r).ok());
  auto field = [&] { return cantdo::GetMetadata(ValidateStartRequest(r))["field"]; };
  r.set_scope("email");
  CHECK(field() == "scope");
  r.set_scope("openid email");
  r.mutable_requested_expiry()->set_seconds(5);
  CHECK(field() == "requested_expiry");
  r.mutable_requested_expiry()->set_seconds(300);
  r.set_authorization_details(R"({"type":"refund"})");
  CHECK(field() == "authorization_details");
  r.set_authorization_details(R"([{"type":"refund","amount":"125.00","currency":"EUR"}])");
  CHECK(ValidateStartRequest(r).ok());
  r.set_login_hint("");
  CHECK(field() == "login_hint");
}

TEST_CASE("login_hint in Auth0's iss_sub form or plain", "[unit][bridge]") {
  CHECK(RenderLoginHint(LoginHintFormat::kPlain, "https://t.auth0.com/", "auth0|1") == "auth0|1");
  CHECK(nlohmann::json::parse(RenderLoginHint(LoginHintFormat::kIssSub, "https://t.auth0.com/", "auth0|1")) ==
        nlohmann::json{{"format", "iss_sub"}, {"iss", "https://t.auth0.com/"}, {"sub", "auth0|1"}});
}

TEST_CASE("discovery must name the configured issuer and offer CIBA over https", "[unit][bridge]") {
  const std::string issuer = "https://tenant.eu.auth0.com/";
  CHECK(DiscoveryUrl(issuer) == "https://tenant.eu.auth0.com/.well-known/openid-configuration");
  nlohmann::json doc = {{"issuer", issuer},
                        {"token_endpoint", "https://tenant.eu.auth0.com/oauth/token"},
                        {"backchannel_authentication_endpoint", "https://tenant.eu.auth0.com/bc-authorize"},
                        {"jwks_uri", "https://tenant.eu.auth0.com/.well-known/jwks.json"},
                        {"backchannel_token_delivery_modes_supported", {"poll"}}};
  auto m = ParseDiscovery(doc.dump(), issuer, DeliveryMode::kPoll);
  REQUIRE(m.ok());
  CHECK(m->token_endpoint == "https://tenant.eu.auth0.com/oauth/token");
  CHECK(cantdo::GetReason(ParseDiscovery(doc.dump(), issuer, DeliveryMode::kPing).status()) ==
        "CIBA_CONFIGURATION_ERROR");
  CHECK(!ParseDiscovery(doc.dump(), "https://tenant.eu.auth0.com", DeliveryMode::kPoll).ok());
  auto plain = doc;
  plain["token_endpoint"] = "http://tenant.eu.auth0.com/oauth/token";
  CHECK(!ParseDiscovery(plain.dump(), issuer, DeliveryMode::kPoll).ok());
  auto no_ciba = doc;
  no_ciba.erase("backchannel_authentication_endpoint");
  CHECK(!ParseDiscovery(no_ciba.dump(), issuer, DeliveryMode::kPoll).ok());
}

TEST_CASE("client credentials are form-encoded before HTTP Basic (RFC 6749 2.3.1)", "[unit][bridge]") {
  CHECK(cantdo::http::FormUrlEncode("a b+c/d=e&f%g~") == "a+b%2Bc%2Fd%3De%26f%25g%7E");
  // "id:1" : "s e+c" -> "id%3A1:s+e%2Bc"
  CHECK(cantdo::http::BasicAuthorization("id:1", "s e+c") == "Basic " + cantdo::http::Base64("id%3A1:s+e%2Bc"));
  CHECK(cantdo::http::Base64("ab") == "YWI=");
  CHECK(cantdo::http::FormEncode({{"grant_type", "urn:openid:params:grant-type:ciba"}, {"x", "1 2"}}) ==
        "grant_type=urn%3Aopenid%3Aparams%3Agrant-type%3Aciba&x=1+2");
}

TEST_CASE("only https URLs are accepted", "[unit][bridge]") {
  auto u = cantdo::http::Url::Parse("https://Tenant.Example:8443/a/b?c=d");
  REQUIRE(u.ok());
  CHECK(u->host == "tenant.example");
  CHECK(u->port == 8443);
  CHECK(u->target == "/a/b?c=d");
  CHECK(cantdo::http::Url::Parse("https://[::1]:9/x")->host == "::1");
  CHECK(cantdo::http::Url::Parse("https://h")->target == "/");
  CHECK(!cantdo::http::Url::Parse("http://h/").ok());
  CHECK(!cantdo::http::Url::Parse("https://user@h/").ok());
  CHECK(!cantdo::http::Url::Parse("https://h:99999/").ok());
  CHECK(!cantdo::http::Url::Parse("https://h/a b").ok());
  CHECK(!cantdo::http::Url::Parse("https://h/#frag").ok());
}

TEST_CASE(
    "a provider answer's failure kind comes from a closed set, and the CIBA answers that are no failure have "
    "none",
    "[unit][bridge][metrics]") {
  using cantdo::http::Response;
  auto kind = [](const absl::StatusOr<Response>& r) { return std::string(ProviderErrorKind(ClassifyAnswer(r))); };
  CHECK(kind(absl::UnavailableError("connection refused")) == "transport");
  CHECK(kind(Response{503, {}, "<html>down</html>"}) == "http_5xx");
  CHECK(kind(Response{429, {}, R"({"error":"too_many"})"}) == "rate_limited");
  CHECK(kind(Response{404, {}, "not here"}) == "http_4xx");
  CHECK(kind(Response{200, {}, "not json"}) == "bad_response");
  CHECK(kind(Response{401, {}, R"({"error":"invalid_client"})"}) == "configuration");
  CHECK(kind(Response{400, {}, R"({"error":"unauthorized_client"})"}) == "configuration");
  CHECK(kind(Response{400, {}, R"({"error":"invalid_grant"})"}) == "invalid_grant");
  CHECK(kind(Response{400, {}, R"({"error":"unknown_user_id"})"}) == "oauth_error");
  // A provider's own error code never becomes a label value.
  CHECK(kind(Response{400, {}, R"({"error":"x_made_up_by_the_provider"})"}) == "oauth_error");
  for (const char* not_a_failure : {"authorization_pending", "slow_down", "access_denied", "expired_token"}) {
    INFO(not_a_failure);
    CHECK(kind(Response{400, {}, std::string(R"({"error":")") + not_a_failure + "\"}"}).empty());
  }
  CHECK(kind(Response{200, {}, R"({"id_token":"a.b.c"})"}).empty());
}
