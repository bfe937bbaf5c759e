#pragma once
// OpenID Connect CIBA Core 1.0 as a client sees it, without I/O: discovery
// metadata, request validation (Auth0's rules), the login_hint rendering,
// the classification of provider answers, and the polling policy (section
// 7.3 and 11: interval, slow_down, authorization_pending, terminal errors).

#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "cantdo/bridge/v1/ciba_bridge_service.pb.h"
#include "cantdo/http/https_client.hpp"
#include "ciba-bridge/bridge_config.hpp"

namespace cantdo::bridge {

inline constexpr absl::string_view kCibaGrantType = "urn:openid:params:grant-type:ciba";

struct ProviderMetadata {
  std::string issuer;
  std::string backchannel_authentication_endpoint;
  std::string token_endpoint;
  std::string jwks_uri;
};

// <issuer without trailing slash>/.well-known/openid-configuration
std::string DiscoveryUrl(absl::string_view issuer);

// Checks the discovery document: issuer equal to `expected_issuer`, https
// endpoints, CIBA and `mode` supported where the document says. FAILED_PRECONDITION
// (CIBA_CONFIGURATION_ERROR) naming the problem.
absl::StatusOr<ProviderMetadata> ParseDiscovery(absl::string_view document, absl::string_view expected_issuer,
                                                DeliveryMode mode);

// 1-64 characters of A-Za-z0-9 +-_.,:# (Auth0's rule, the strictest known).
bool IsValidBindingMessage(absl::string_view message);

// Every field of a StartBackchannelAuthentication request; INVALID_FIELD
// naming the first bad one.
absl::Status ValidateStartRequest(const v1::StartBackchannelAuthenticationRequest& request);

// The login_hint as sent: the subject itself, or Auth0's JSON iss_sub form
// {"format":"iss_sub","iss":"<issuer>","sub":"<subject>"}.
std::string RenderLoginHint(LoginHintFormat format, absl::string_view issuer, absl::string_view subject);

// What the provider answered, reduced to what the policy needs.
struct ProviderAnswer {
  enum class Kind { kSuccess, kOAuthError, kTransport };
  Kind kind = Kind::kTransport;
  int http_status = 0;            // 0 for transport failures
  nlohmann::json body;            // kSuccess: the JSON object
  std::string error;              // OAuth error, or "transport" / "http_5xx" / "bad_response"
  std::string error_description;  // never contains secrets
  std::optional<absl::Duration> retry_after;
};

// Classifies an HTTP exchange: 2xx with a JSON object is success; a 4xx
// with a JSON `error` is an OAuth error; anything else (transport failure,
// 5xx, 429, unparsable bodies) is transport-level and will be retried.
ProviderAnswer ClassifyAnswer(const absl::StatusOr<http::Response>& response);

// Exponential backoff: 1s, 2s, 4s, ... capped at `max`.
absl::Duration Backoff(int consecutive_failures, absl::Duration max);

enum class PollAction {
  kKeepWaiting,  // authorization_pending / slow_down / retryable failure
  kApproved,     // tokens received
  kDenied,       // access_denied before the expiry
  kExpired,      // expired_token, or invalid_grant / access_denied after the expiry
  kLost,         // invalid_grant before the expiry: the provider no longer knows the request
  kFailed,       // any other terminal OAuth error
};

struct PollDecision {
  PollAction action = PollAction::kKeepWaiting;
  absl::Duration interval;    // the poll interval from now on (slow_down adds 5 s for good)
  absl::Duration next_delay;  // when to poll next (kKeepWaiting)
  bool transport_failure = false;
  bool configuration_error = false;  // invalid_client / unauthorized_client: kept, retried, logged loudly
};

// The token-endpoint answer to a poll. `expire_time` is when the request
// expires at the provider (absent if unknown).
PollDecision DecidePoll(const ProviderAnswer& answer, absl::Duration interval, int transport_failures, absl::Time now,
                        std::optional<absl::Time> expire_time, absl::Duration max_backoff);

// True for OAuth errors that mean the bridge itself is misconfigured.
bool IsConfigurationError(absl::string_view oauth_error);

// What kind of provider failure `answer` is, from a closed set (metrics
// label it): transport (no HTTP answer), http_5xx, rate_limited (429),
// http_4xx (a 4xx without an OAuth error), bad_response (not a JSON
// object), configuration (invalid_client, unauthorized_client,
// unsupported_grant_type), invalid_grant (the provider lost the request),
// oauth_error (any other OAuth error). "" for an answer that is no failure:
// a success, authorization_pending, slow_down, or the end of a request
// (access_denied, expired_token).
absl::string_view ProviderErrorKind(const ProviderAnswer& answer);

}  // namespace cantdo::bridge
