// libs/auth's parsers: a JWKS document as the identity provider publishes
// it, and a compact JWS as the bridge delivers it (verified against a fixed
// RSA key; the seeds are tokens signed with it, so mutations explore the
// header, the payload and the signature's encoding).

#include "cantdo/auth/jwk.hpp"
#include "cantdo/auth/jwt_verifier.hpp"
#include "cantdo/base/clock.hpp"
#include "cantdo/base/status.hpp"
#include "targets.hpp"

namespace cantdo::fuzz {
namespace {

// The public half of the key fuzz/seeds/auth_jwt/*.jwt are signed with
// (RS256, kid "fuzz-rsa"); the private half was not kept.
constexpr char kJwks[] =
#include "auth_jwt_keys.inc"
    ;
// Within the seeds' iat..exp.
constexpr int64_t kNow = 1700000100;

}  // namespace

void AuthJwks(std::string_view input) {
  absl::StatusOr<auth::JwkSet> set = auth::JwkSet::Parse(absl::string_view(input.data(), input.size()));
  if (!set.ok()) {
    if (set.status().code() != absl::StatusCode::kInvalidArgument)
      Fail("a JWKS refusal is not INVALID_ARGUMENT", set.status());
    return;
  }
  for (const char* kid : {"", "fuzz-rsa", "k1"}) {
    if (const auth::Jwk* k = set->Find(kid); k != nullptr) {
      (void)k->Accepts("RS256");
      (void)k->Accepts("ES256");
    }
  }
}

void AuthJwt(std::string_view input) {
  static FakeClock clock(absl::FromUnixSeconds(kNow));
  static auth::JwksCache keys([] { return absl::StatusOr<std::string>(kJwks); }, clock);
  static const auth::JwtVerifier verifier(keys, clock, auth::VerifyOptions{"https://idp.test/", {"cantdo-authority"}});
  absl::StatusOr<auth::VerifiedToken> token = verifier.Verify(absl::string_view(input.data(), input.size()));
  if (token.ok()) return;
  // The one retryable answer (#20): a kid not among the keys while a
  // refetch is held back; the key may be published a moment later.
  if (token.status().code() == absl::StatusCode::kUnavailable &&
      GetReason(token.status()) == std::optional<std::string>("ID_TOKEN_KEY_NOT_YET_FETCHED")) {
    return;
  }
  if (token.status().code() != absl::StatusCode::kPermissionDenied || !GetReason(token.status())) {
    Fail("a token refusal is neither PERMISSION_DENIED with an ID_TOKEN_* reason nor a key not yet fetched",
         token.status());
  }
}

}  // namespace cantdo::fuzz
