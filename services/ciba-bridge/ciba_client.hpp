#pragma once
// The bridge's HTTPS conversation with the OpenID Provider: discovery, the
// backchannel authentication request and the CIBA token request, each with
// the configured client authentication (RFC 6749 2.3.1). Stateless and
// thread-safe. Nothing here logs: requests carry the client secret or a
// signed client assertion.

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <memory>

#include "absl/status/statusor.h"
#include "cantdo/auth/jwt_signer.hpp"
#include "cantdo/http/https_client.hpp"
#include "ciba-bridge/bridge_config.hpp"
#include "ciba-bridge/ciba_protocol.hpp"

namespace cantdo::bridge {

struct BackchannelParams {
  std::string scope;
  std::string login_hint;  // rendered (RenderLoginHint)
  std::string binding_message;
  std::optional<int64_t> requested_expiry_seconds;
  std::string acr_values;  // space-separated
  std::string authorization_details;
  std::string audience;
  std::string claims;                     // the OIDC `claims` parameter (JSON text), or ""
  std::string client_notification_token;  // ping mode only
};

class CibaClient {
 public:
  // `http` and `config` must outlive the client. With private_key_jwt,
  // `signer` signs the client assertions (required then, unused otherwise).
  CibaClient(const http::HttpsClient& http, const BridgeConfig& config,
             std::unique_ptr<auth::JwtSigner> signer = nullptr)
      : http_(http), config_(config), signer_(std::move(signer)) {}

  // GET and check the discovery document.
  absl::StatusOr<ProviderMetadata> Discover() const;

  ProviderAnswer Authenticate(const ProviderMetadata& provider, const BackchannelParams& params) const;
  ProviderAnswer Token(const ProviderMetadata& provider, const std::string& auth_req_id) const;

 private:
  ProviderAnswer PostForm(const std::string& url, std::vector<std::pair<std::string, std::string>> form) const;

  // private_key_jwt (RFC 7523 2.2): a fresh assertion per request, iss =
  // sub = client id, aud = the issuer (which CIBA Core 7.1 and FAPI-CIBA
  // require every OP to accept at both endpoints), a random jti, a minute
  // to live.
  absl::StatusOr<std::string> ClientAssertion() const;

  const http::HttpsClient& http_;
  const BridgeConfig& config_;
  std::unique_ptr<auth::JwtSigner> signer_;
};

}  // namespace cantdo::bridge
