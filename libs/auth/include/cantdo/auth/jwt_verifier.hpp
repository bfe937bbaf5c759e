#pragma once
// Verifies a compact-serialized JWS ID token (OpenID Connect Core 3.1.3.7)
// with the identity provider's keys. The authority calls this itself on the
// raw token; it never trusts anyone's word that a token was valid.
//
// Checks, in order, each failure a PERMISSION_DENIED with its reason:
//   ID_TOKEN_MALFORMED       not three base64url parts of JSON; a "crit"
//                            header; missing sub/exp/iat
//   ID_TOKEN_ALG_NOT_ALLOWED alg outside the allow-list (RS256, ES256 by
//                            default: never "none", never HMAC), or a key
//                            whose type does not fit the alg
//   ID_TOKEN_UNKNOWN_KID     no such key, even after one refetch
//   ID_TOKEN_BAD_SIGNATURE   the signature does not verify
//   ID_TOKEN_ISSUER_MISMATCH iss differs from the configured issuer
//   ID_TOKEN_AUDIENCE_MISMATCH none of aud is ours (or azp, when aud has
//                            several values, is not ours)
//   ID_TOKEN_EXPIRED         now > exp + skew
//   ID_TOKEN_NOT_YET_VALID   iat or nbf later than now + skew
// The signature is checked before any claim is believed.

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "cantdo/auth/jwks_cache.hpp"
#include "cantdo/base/clock.hpp"

namespace cantdo::auth {

struct VerifyOptions {
  std::string issuer;                  // exact match
  std::vector<std::string> audiences;  // accept a token for any of these
  std::vector<std::string> algorithms = {"RS256", "ES256"};
  absl::Duration clock_skew = absl::Seconds(60);
  std::size_t max_token_bytes = 16 * 1024;
};

struct VerifiedToken {
  nlohmann::json header;
  nlohmann::json claims;
  std::string subject;
  std::string issuer;
  absl::Time expires;
  absl::Time issued;
};

class JwtVerifier {
 public:
  // `keys` and `clock` must outlive the verifier.
  JwtVerifier(KeySource& keys, Clock& clock, VerifyOptions options);
  absl::StatusOr<VerifiedToken> Verify(absl::string_view compact) const;

 private:
  KeySource& keys_;
  Clock& clock_;
  VerifyOptions options_;
};

}  // namespace cantdo::auth
