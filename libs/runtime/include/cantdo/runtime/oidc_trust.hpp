#pragma once
// How a service trusts an OpenID Provider's signed tokens: the gateway for
// bearer callers, the authority for approvers' ID tokens. One place reads
// the provider's key set (an https:// JWKS URI fetched over TLS, or a file
// path) and builds the verifier both services use.

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "cantdo/auth/jwks_cache.hpp"
#include "cantdo/auth/jwt_verifier.hpp"
#include "cantdo/base/clock.hpp"

namespace cantdo::runtime {

struct OidcTrustConfig {
  std::string issuer;    // exactly as in the tokens' "iss"
  std::string audience;  // what the tokens' "aud" must contain
  std::string jwks_uri;  // https://... or a file path; never http://
  std::string ca_file;   // CA bundle for an https JWKS URI; empty: the system's
  auth::JwksCacheOptions jwks;
};

// The provider's key set and a verifier that reads it. Movable; the
// verifier refers to the key set, which lives on the heap.
struct OidcTrust {
  std::unique_ptr<auth::JwksCache> jwks;
  std::unique_ptr<auth::JwtVerifier> verifier;
};

// "" if `uri` may name a key set, else the problem as an option message:
// keys over plain http:// are refused.
std::string CheckJwksUri(const std::string& uri);

// INVALID_ARGUMENT for an http:// URI; an error if the HTTPS client cannot
// be built (unreadable CA bundle). The keys are fetched on first use, not
// here, so a provider that is down does not stop a service from starting.
absl::StatusOr<OidcTrust> LoadOidcTrust(const OidcTrustConfig& config, Clock& clock);

}  // namespace cantdo::runtime
