// ID-token verification against the attacks the authority must withstand.
// Tokens are signed with the test's own keys; every forgery must be
// refused with its own reason.
#include <catch2/catch.hpp>

#include "cantdo/auth/jwt_verifier.hpp"
#include "cantdo/base/status.hpp"
#include "support/token_signer.hpp"

using cantdo::FakeClock;
using cantdo::GetReason;
using cantdo::auth::JwksCache;
using cantdo::auth::JwtVerifier;
using cantdo::testing::TokenSigner;

namespace {

constexpr char kIssuer[] = "https://idp.test/";
constexpr char kClient[] = "cantdo-authority";

struct Fixture {
  FakeClock clock;
  TokenSigner rsa{"rsa-1", TokenSigner::Alg::kRS256};
  TokenSigner ec{"ec-1", TokenSigner::Alg::kES256};
  std::string jwks = TokenSigner::JwksOf(rsa, ec);
  JwksCache keys{[this]() -> absl::StatusOr<std::string> { return jwks; }, clock};
  JwtVerifier verifier{keys, clock, {kIssuer, {kClient}}};

  nlohmann::json Claims() const {
    const int64_t now = absl::ToUnixSeconds(clock.Now());
    return {{"iss", kIssuer}, {"aud", kClient}, {"sub", "auth0|cfo"}, {"iat", now}, {"exp", now + 300}};
  }
  std::optional<std::string> Reason(const std::string& token) {
    auto r = verifier.Verify(token);
    if (r.ok()) return std::string("OK");
    // Refusals are PERMISSION_DENIED; only a key not fetched yet is retryable.
    const auto reason = GetReason(r.status());
    CHECK(r.status().code() == (reason == std::optional<std::string>("ID_TOKEN_KEY_NOT_YET_FETCHED")
                                    ? absl::StatusCode::kUnavailable
                                    : absl::StatusCode::kPermissionDenied));
    return reason;
  }
};

}  // namespace

TEST_CASE("a well-signed RS256 or ES256 token verifies", "[unit][auth]") {
  Fixture f;
  auto r = f.verifier.Verify(f.rsa.Sign(f.Claims()));
  REQUIRE(r.ok());
  CHECK(r->subject == "auth0|cfo");
  CHECK(f.verifier.Verify(f.ec.Sign(f.Claims())).ok());
}

TEST_CASE("forgeries are refused, each with its reason", "[unit][auth]") {
  Fixture f;
  auto c = f.Claims();
  CHECK(f.Reason(TokenSigner::Unsigned(c)) == "ID_TOKEN_ALG_NOT_ALLOWED");
  CHECK(f.Reason(f.rsa.HmacWithPublicKey(c)) == "ID_TOKEN_ALG_NOT_ALLOWED");
  auto richer = c;
  richer["sub"] = "auth0|attacker";
  CHECK(f.Reason(f.rsa.Tampered(c, richer)) == "ID_TOKEN_BAD_SIGNATURE");
  CHECK(f.Reason(f.ec.Tampered(c, richer)) == "ID_TOKEN_BAD_SIGNATURE");
  TokenSigner stranger("rsa-1", TokenSigner::Alg::kRS256);  // same kid, other key
  CHECK(f.Reason(stranger.Sign(c)) == "ID_TOKEN_BAD_SIGNATURE");
  // An ES256 header on a kid that names an RSA key.
  CHECK(f.Reason(f.ec.Sign(c, {{"kid", "rsa-1"}})) == "ID_TOKEN_ALG_NOT_ALLOWED");
}

TEST_CASE("claims are checked after the signature", "[unit][auth]") {
  Fixture f;
  auto c = f.Claims();
  auto wrong_iss = c;
  wrong_iss["iss"] = "https://evil.test/";
  CHECK(f.Reason(f.rsa.Sign(wrong_iss)) == "ID_TOKEN_ISSUER_MISMATCH");
  auto wrong_aud = c;
  wrong_aud["aud"] = "someone-else";
  CHECK(f.Reason(f.rsa.Sign(wrong_aud)) == "ID_TOKEN_AUDIENCE_MISMATCH");
  auto multi_aud = c;
  multi_aud["aud"] = {"someone-else", kClient};
  CHECK(f.Reason(f.rsa.Sign(multi_aud)) == "OK");
  multi_aud["azp"] = "someone-else";
  CHECK(f.Reason(f.rsa.Sign(multi_aud)) == "ID_TOKEN_AUDIENCE_MISMATCH");

  auto expired = c;
  expired["exp"] = absl::ToUnixSeconds(f.clock.Now()) - 61;
  CHECK(f.Reason(f.rsa.Sign(expired)) == "ID_TOKEN_EXPIRED");
  auto within_skew = c;
  within_skew["exp"] = absl::ToUnixSeconds(f.clock.Now()) - 30;
  CHECK(f.Reason(f.rsa.Sign(within_skew)) == "OK");
  auto future = c;
  future["iat"] = absl::ToUnixSeconds(f.clock.Now()) + 3600;
  CHECK(f.Reason(f.rsa.Sign(future)) == "ID_TOKEN_NOT_YET_VALID");
  auto nbf = c;
  nbf["nbf"] = absl::ToUnixSeconds(f.clock.Now()) + 3600;
  CHECK(f.Reason(f.rsa.Sign(nbf)) == "ID_TOKEN_NOT_YET_VALID");
  auto no_sub = c;
  no_sub.erase("sub");
  CHECK(f.Reason(f.rsa.Sign(no_sub)) == "ID_TOKEN_MALFORMED");
}

TEST_CASE("garbage and critical extensions are malformed", "[unit][auth]") {
  Fixture f;
  CHECK(f.Reason("") == "ID_TOKEN_MALFORMED");
  CHECK(f.Reason("a.b") == "ID_TOKEN_MALFORMED");
  CHECK(f.Reason("a.b.c.d") == "ID_TOKEN_MALFORMED");
  CHECK(f.Reason("!!!.???.***") == "ID_TOKEN_MALFORMED");
  CHECK(f.Reason(f.rsa.Sign(f.Claims(), {{"crit", {"exp"}}})) == "ID_TOKEN_MALFORMED");
  CHECK(f.Reason(std::string(20000, 'a')) == "ID_TOKEN_MALFORMED");
}

TEST_CASE("an unknown kid refetches the keys once, so rotation works", "[unit][auth]") {
  Fixture f;
  REQUIRE(f.verifier.Verify(f.rsa.Sign(f.Claims())).ok());
  CHECK(f.keys.fetch_count() == 1);

  TokenSigner rotated("rsa-2", TokenSigner::Alg::kRS256);
  f.jwks = rotated.Jwks();  // the provider rotates
  f.clock.Advance(absl::Minutes(1));
  CHECK(f.Reason(rotated.Sign(f.Claims())) == "OK");
  CHECK(f.keys.fetch_count() == 2);

  // Made-up kids do not cause a fetch each: within the refresh interval
  // they are retryable, and the one fetch after it refuses them for good.
  TokenSigner unknown("nope", TokenSigner::Alg::kRS256);
  CHECK(f.Reason(unknown.Sign(f.Claims())) == "ID_TOKEN_KEY_NOT_YET_FETCHED");
  CHECK(f.Reason(unknown.Sign(f.Claims())) == "ID_TOKEN_KEY_NOT_YET_FETCHED");
  CHECK(f.keys.fetch_count() == 2);
  f.clock.Advance(absl::Seconds(30));
  CHECK(f.Reason(unknown.Sign(f.Claims())) == "ID_TOKEN_UNKNOWN_KID");
  CHECK(f.keys.fetch_count() == 3);
  CHECK(f.Reason(unknown.Sign(f.Claims())) == "ID_TOKEN_KEY_NOT_YET_FETCHED");
  CHECK(f.keys.fetch_count() == 3);
}

TEST_CASE("a key rotated in just after a fetch is retryable, then accepted once published (#20)", "[unit][auth]") {
  Fixture f;
  REQUIRE(f.verifier.Verify(f.rsa.Sign(f.Claims())).ok());
  REQUIRE(f.keys.fetch_count() == 1);
  // Ten seconds later the provider signs with a new key.
  TokenSigner rotated("rsa-new", TokenSigner::Alg::kRS256);
  f.jwks = rotated.Jwks();
  f.clock.Advance(absl::Seconds(10));
  auto held = f.verifier.Verify(rotated.Sign(f.Claims()));
  CHECK(held.status().code() == absl::StatusCode::kUnavailable);
  CHECK(f.Reason(rotated.Sign(f.Claims())) == "ID_TOKEN_KEY_NOT_YET_FETCHED");
  f.clock.Advance(absl::Seconds(20));
  CHECK(f.Reason(rotated.Sign(f.Claims())) == "OK");
}

TEST_CASE("keys that cannot be fetched make verification UNAVAILABLE, not valid", "[unit][auth]") {
  FakeClock clock;
  JwksCache keys([]() -> absl::StatusOr<std::string> { return absl::UnavailableError("down"); }, clock);
  JwtVerifier v(keys, clock, {kIssuer, {kClient}});
  TokenSigner s("k", TokenSigner::Alg::kRS256);
  auto r = v.Verify(s.Sign({{"iss", kIssuer}}));
  CHECK(r.status().code() == absl::StatusCode::kUnavailable);
  CHECK(GetReason(r.status()) == std::optional<std::string>("DEPENDENCY_UNAVAILABLE"));
}
