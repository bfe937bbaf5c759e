#include "cantdo/runtime/oidc_trust.hpp"

#include "absl/strings/match.h"
#include "cantdo/base/status.hpp"
#include "cantdo/http/https_client.hpp"

namespace cantdo::runtime {

std::string CheckJwksUri(const std::string& uri) {
  return absl::StartsWith(uri, "http://") ? "--oidc-jwks-uri must be https:// (or a file path)" : "";
}

absl::StatusOr<OidcTrust> LoadOidcTrust(const OidcTrustConfig& config, Clock& clock) {
  if (std::string problem = CheckJwksUri(config.jwks_uri); !problem.empty()) {
    return absl::InvalidArgumentError(problem);
  }
  auth::JwksFetcher fetch = auth::FileJwksFetcher(config.jwks_uri);
  if (absl::StartsWith(config.jwks_uri, "https://")) {
    http::ClientOptions http_options;
    http_options.ca_file = config.ca_file;
    CANTDO_ASSIGN_OR_RETURN(std::shared_ptr<http::HttpsClient> client, http::HttpsClient::Create(http_options));
    fetch = [client, uri = config.jwks_uri]() { return client->Get(uri); };
  }
  OidcTrust trust;
  trust.jwks = std::make_unique<auth::JwksCache>(std::move(fetch), clock, config.jwks);
  trust.verifier =
      std::make_unique<auth::JwtVerifier>(*trust.jwks, clock, auth::VerifyOptions{config.issuer, {config.audience}});
  return trust;
}

}  // namespace cantdo::runtime
