#include <fstream>

#include <catch2/catch.hpp>

#include "cantdo/base/clock.hpp"
#include "cantdo/runtime/oidc_trust.hpp"
#include "support/test_pki.hpp"
#include "support/token_signer.hpp"

using cantdo::runtime::CheckJwksUri;
using cantdo::runtime::LoadOidcTrust;
using cantdo::runtime::OidcTrustConfig;
using cantdo::testing::TokenSigner;

namespace {

constexpr char kIssuer[] = "https://idp.example";
constexpr char kAudience[] = "cantdo-gateway";

nlohmann::json Claims(const cantdo::Clock& clock, const std::string& audience) {
  const int64_t now = absl::ToUnixSeconds(clock.Now());
  return {{"iss", kIssuer}, {"aud", audience}, {"sub", "ops-1"}, {"iat", now}, {"exp", now + 300}};
}

}  // namespace

TEST_CASE("A key set over plain http is refused as an option and when loading", "[unit][runtime][oidc]") {
  CHECK(CheckJwksUri("http://idp.example/jwks") == "--oidc-jwks-uri must be https:// (or a file path)");
  CHECK(CheckJwksUri("https://idp.example/jwks").empty());
  CHECK(CheckJwksUri("/etc/cantdo/jwks.json").empty());

  cantdo::FakeClock clock;
  auto trust = LoadOidcTrust({kIssuer, kAudience, "http://idp.example/jwks", "", {}}, clock);
  REQUIRE_FALSE(trust.ok());
  CHECK(trust.status().code() == absl::StatusCode::kInvalidArgument);
}

TEST_CASE("A key set from a file verifies the provider's tokens for our issuer and audience only",
          "[unit][runtime][oidc]") {
  cantdo::testing::TempDir dir;
  TokenSigner provider("k1", TokenSigner::Alg::kES256);
  const std::string path = dir.path() + "/jwks.json";
  std::ofstream(path) << provider.Jwks();

  cantdo::FakeClock clock;
  auto trust = LoadOidcTrust({kIssuer, kAudience, path, "", {}}, clock);
  REQUIRE(trust.ok());
  REQUIRE(trust->verifier != nullptr);

  auto ok = trust->verifier->Verify(provider.Sign(Claims(clock, kAudience)));
  REQUIRE(ok.ok());
  CHECK(ok->subject == "ops-1");
  CHECK_FALSE(trust->verifier->Verify(provider.Sign(Claims(clock, "someone-else"))).ok());
  TokenSigner stranger("k1", TokenSigner::Alg::kES256);
  CHECK_FALSE(trust->verifier->Verify(stranger.Sign(Claims(clock, kAudience))).ok());
}
