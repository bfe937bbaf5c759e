#include "ciba-bridge/ciba_client.hpp"

#include "absl/strings/str_cat.h"
#include "cantdo/base/ids.hpp"
#include "cantdo/base/status.hpp"
#include "cantdo/http/form.hpp"

namespace cantdo::bridge {

absl::StatusOr<ProviderMetadata> CibaClient::Discover() const {
  CANTDO_ASSIGN_OR_RETURN(std::string document, http_.Get(DiscoveryUrl(config_.issuer)));
  return ParseDiscovery(document, config_.issuer, config_.mode);
}

ProviderAnswer CibaClient::PostForm(const std::string& url,
                                    std::vector<std::pair<std::string, std::string>> form) const {
  http::Request request;
  request.method = "POST";
  request.url = url;
  request.headers.emplace_back("content-type", "application/x-www-form-urlencoded");
  request.headers.emplace_back("accept", "application/json");
  switch (config_.auth_method) {
    case ClientAuthMethod::kClientSecretBasic:
      request.headers.emplace_back("authorization", http::BasicAuthorization(config_.client_id, config_.client_secret));
      break;
    case ClientAuthMethod::kClientSecretPost:
      form.emplace_back("client_id", config_.client_id);
      form.emplace_back("client_secret", config_.client_secret);
      break;
    case ClientAuthMethod::kPrivateKeyJwt: {
      absl::StatusOr<std::string> assertion = ClientAssertion();
      if (!assertion.ok()) {
        ProviderAnswer a;
        a.kind = ProviderAnswer::Kind::kOAuthError;
        a.error = "invalid_client";
        a.error_description = absl::StrCat("cannot sign the client assertion: ", assertion.status().message());
        return a;
      }
      form.emplace_back("client_id", config_.client_id);
      form.emplace_back("client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:jwt-bearer");
      form.emplace_back("client_assertion", *std::move(assertion));
      break;
    }
  }
  request.body = http::FormEncode(form);
  return ClassifyAnswer(http_.Send(request));
}

absl::StatusOr<std::string> CibaClient::ClientAssertion() const {
  if (signer_ == nullptr) return absl::FailedPreconditionError("private_key_jwt without a signing key");
  const int64_t now = absl::ToUnixSeconds(absl::Now());
  return signer_->Sign({{"iss", config_.client_id},
                        {"sub", config_.client_id},
                        {"aud", config_.issuer},
                        {"jti", NewSecret(16)},
                        {"iat", now},
                        {"exp", now + 60}});
}

ProviderAnswer CibaClient::Authenticate(const ProviderMetadata& provider, const BackchannelParams& p) const {
  std::vector<std::pair<std::string, std::string>> form = {
      {"scope", p.scope}, {"login_hint", p.login_hint}, {"binding_message", p.binding_message}};
  if (p.requested_expiry_seconds) form.emplace_back("requested_expiry", std::to_string(*p.requested_expiry_seconds));
  if (!p.acr_values.empty()) form.emplace_back("acr_values", p.acr_values);
  if (!p.authorization_details.empty()) form.emplace_back("authorization_details", p.authorization_details);
  if (!p.audience.empty()) form.emplace_back("audience", p.audience);
  if (!p.claims.empty()) form.emplace_back("claims", p.claims);
  if (!p.client_notification_token.empty()) form.emplace_back("client_notification_token", p.client_notification_token);
  return PostForm(provider.backchannel_authentication_endpoint, std::move(form));
}

ProviderAnswer CibaClient::Token(const ProviderMetadata& provider, const std::string& auth_req_id) const {
  return PostForm(provider.token_endpoint, {{"grant_type", std::string(kCibaGrantType)}, {"auth_req_id", auth_req_id}});
}

}  // namespace cantdo::bridge
