#include <catch2/catch.hpp>

#include "cantdo/auth/jwks_cache.hpp"
#include "cantdo/base/status.hpp"
#include "gateway/caller.hpp"
#include "support/token_signer.hpp"

using namespace cantdo::gateway;
using cantdo::GetMetadata;
using cantdo::GetReason;
using cantdo::testing::TokenSigner;

namespace {

constexpr char kIssuer[] = "https://idp.test";
constexpr char kAudience[] = "https://gateway.cantdo.dev";
constexpr char kRoles[] = "https://cantdo.dev/roles";

struct Fixture {
  Fixture()
      : jwks([this]() -> absl::StatusOr<std::string> { return signer.Jwks(); }, clock),
        verifier(jwks, clock, cantdo::auth::VerifyOptions{kIssuer, {kAudience}}),
        auth(&verifier, kRoles, *ParseCallers(R"({"callers": [
                 {"principal": "spiffe://cantdo/operator", "roles": ["operator"]},
                 {"principal": "spiffe://cantdo/auditor", "roles": ["auditor"]},
                 {"principal": "platform:acme", "roles": ["agent_platform"]}]})")) {}

  std::string Token(nlohmann::json claims) {
    const int64_t now = absl::ToUnixSeconds(clock.Now());
    nlohmann::json base = {{"iss", kIssuer}, {"aud", kAudience}, {"iat", now}, {"exp", now + 300}};
    base.update(claims);
    return "Bearer " + signer.Sign(base, {{"typ", "at+jwt"}});
  }

  cantdo::FakeClock clock{absl::Now()};
  TokenSigner signer{"k1", TokenSigner::Alg::kRS256};
  cantdo::auth::JwksCache jwks;
  cantdo::auth::JwtVerifier verifier;
  CallerAuthenticator auth;
};

}  // namespace

TEST_CASE("A client-credentials token is platform:<client_id>, a person's token is user:<iss>#<sub>",
          "[unit][gateway]") {
  CHECK(PrincipalFromClaims({{"client_id", "acme"}, {"sub", "acme"}, {"iss", kIssuer}}) == "platform:acme");
  CHECK(PrincipalFromClaims({{"client_id", "acme"}, {"iss", kIssuer}}) == "platform:acme");
  CHECK(PrincipalFromClaims({{"client_id", "console"}, {"sub", "alice"}, {"iss", kIssuer}}) ==
        "user:https://idp.test#alice");
  CHECK(PrincipalFromClaims({{"sub", "bob"}, {"iss", kIssuer}}) == "user:https://idp.test#bob");
}

TEST_CASE("Roles come from the claim (array or space-separated) and unknown names are ignored", "[unit][gateway]") {
  CHECK(RolesFromClaims({{kRoles, {"operator", "cfo"}}}, kRoles) == std::set<Role>{Role::kOperator});
  CHECK(RolesFromClaims({{kRoles, "auditor agent_platform"}}, kRoles) ==
        std::set<Role>{Role::kAuditor, Role::kAgentPlatform});
  CHECK(RolesFromClaims({{"other", "operator"}}, kRoles).empty());
  CHECK_FALSE(ParseCallers(R"({"callers": [{"principal": "x", "roles": ["root"]}]})").ok());
  CHECK_FALSE(ParseCallers("[]").ok());
}

TEST_CASE("Certificates and bearer tokens map to principals and roles, bad or missing credentials are refused",
          "[unit][gateway]") {
  Fixture f;
  SECTION("certificate: cert:<SPIFFE id>, and the callers file's roles for the SPIFFE id") {
    auto c = f.auth.Authenticate("spiffe://cantdo/operator", {});
    REQUIRE(c.ok());
    CHECK(c->principal == "cert:spiffe://cantdo/operator");
    CHECK(c->roles == std::set<Role>{Role::kOperator});
    CHECK(RequireRole(*c, {Role::kOperator}).ok());
    absl::Status denied = RequireRole(*c, {Role::kAgentPlatform});
    CHECK(denied.code() == absl::StatusCode::kPermissionDenied);
    CHECK(GetReason(denied) == "CALLER_ROLE_MISMATCH");
    CHECK(GetMetadata(denied)["required_role"] == "agent_platform");
    CHECK(GetMetadata(denied)["caller_roles"] == "operator");
  }
  SECTION("an unknown certificate authenticates but has no role") {
    auto c = f.auth.Authenticate("spiffe://cantdo/stranger", {});
    REQUIRE(c.ok());
    CHECK(c->roles.empty());
  }
  SECTION("bearer: roles from the claim plus the callers file") {
    auto c = f.auth.Authenticate("", {f.Token({{"client_id", "acme"}, {"sub", "acme"}, {kRoles, {"auditor"}}})});
    REQUIRE(c.ok());
    CHECK(c->principal == "platform:acme");
    CHECK(c->roles == std::set<Role>{Role::kAgentPlatform, Role::kAuditor});
    CHECK(c->credential == "bearer");
  }
  SECTION("both: the token decides, and a bad token is not rescued by the certificate") {
    auto c = f.auth.Authenticate("spiffe://cantdo/operator", {f.Token({{"client_id", "acme"}, {"sub", "acme"}})});
    REQUIRE(c.ok());
    CHECK(c->principal == "platform:acme");
    CHECK(c->roles == std::set<Role>{Role::kAgentPlatform});
    auto bad = f.auth.Authenticate("spiffe://cantdo/operator", {"Bearer not.a.token"});
    CHECK(bad.status().code() == absl::StatusCode::kUnauthenticated);
  }
  SECTION("refusals say why") {
    auto none = f.auth.Authenticate("", {});
    CHECK(none.status().code() == absl::StatusCode::kUnauthenticated);
    CHECK(GetReason(none.status()) == "CALLER_UNAUTHENTICATED");
    CHECK(GetMetadata(none.status())["problem"] == "missing");
    auto basic = f.auth.Authenticate("", {"Basic dXNlcjpwYXNz"});
    CHECK(GetMetadata(basic.status())["problem"] == "malformed");
    auto expired =
        f.auth.Authenticate("", {f.Token({{"sub", "a"}, {"exp", absl::ToUnixSeconds(f.clock.Now()) - 3600}})});
    CHECK(GetReason(expired.status()) == "CALLER_UNAUTHENTICATED");
    CHECK(GetMetadata(expired.status())["problem"] == "expired");
    auto wrong_aud = f.auth.Authenticate("", {f.Token({{"sub", "a"}, {"aud", "cantdo-authority"}})});
    CHECK(GetMetadata(wrong_aud.status())["problem"] == "audience_mismatch");
    auto forged = f.auth.Authenticate("", {"Bearer " + TokenSigner::Unsigned({{"iss", kIssuer}, {"sub", "a"}})});
    CHECK(forged.status().code() == absl::StatusCode::kUnauthenticated);
  }
  SECTION("without a verifier bearer tokens are refused") {
    CallerAuthenticator certs_only(nullptr, kRoles, {});
    auto c = certs_only.Authenticate("spiffe://cantdo/operator", {"Bearer x"});
    CHECK(c.status().code() == absl::StatusCode::kUnauthenticated);
  }
}
