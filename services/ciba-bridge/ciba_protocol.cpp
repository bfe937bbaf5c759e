#include "ciba-bridge/ciba_protocol.hpp"

#include <algorithm>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "cantdo/base/status.hpp"
#include "cantdo/http/url.hpp"

namespace cantdo::bridge {
namespace {

constexpr absl::string_view kConfigReason = "CIBA_CONFIGURATION_ERROR";
constexpr absl::Duration kSlowDownIncrement = absl::Seconds(5);

absl::Status ConfigError(absl::string_view message) { return FailedPrecondition(kConfigReason, message); }

bool HasString(const nlohmann::json& doc, const char* key, absl::string_view value) {
  if (!doc.contains(key) || !doc[key].is_array()) return true;  // not stated: assume yes
  for (const auto& v : doc[key]) {
    if (v.is_string() && v.get<std::string>() == value) return true;
  }
  return false;
}

}  // namespace

std::string DiscoveryUrl(absl::string_view issuer) {
  while (absl::EndsWith(issuer, "/")) issuer.remove_suffix(1);
  return absl::StrCat(issuer, "/.well-known/openid-configuration");
}

absl::StatusOr<ProviderMetadata> ParseDiscovery(absl::string_view document, absl::string_view expected_issuer,
                                                DeliveryMode mode) {
  nlohmann::json doc = nlohmann::json::parse(document, nullptr, /*allow_exceptions=*/false);
  if (!doc.is_object()) return ConfigError("the discovery document is not a JSON object");
  auto str = [&](const char* key) -> std::string {
    return doc.contains(key) && doc[key].is_string() ? doc[key].get<std::string>() : "";
  };
  ProviderMetadata m;
  m.issuer = str("issuer");
  m.backchannel_authentication_endpoint = str("backchannel_authentication_endpoint");
  m.token_endpoint = str("token_endpoint");
  m.jwks_uri = str("jwks_uri");
  if (m.issuer != expected_issuer) {
    return ConfigError(absl::StrCat("the provider states issuer '", m.issuer, "', not the configured '",
                                    expected_issuer, "' (they must match exactly)"));
  }
  if (m.backchannel_authentication_endpoint.empty()) {
    return ConfigError("the provider does not advertise backchannel_authentication_endpoint: CIBA is not enabled");
  }
  for (const std::string* url : {&m.backchannel_authentication_endpoint, &m.token_endpoint}) {
    if (url->empty()) return ConfigError("the provider does not advertise token_endpoint");
    if (!http::Url::Parse(*url).ok()) return ConfigError(absl::StrCat("endpoint '", *url, "' is not an https URL"));
  }
  if (!HasString(doc, "grant_types_supported", kCibaGrantType)) {
    return ConfigError("the provider does not list the CIBA grant type in grant_types_supported");
  }
  const char* mode_name = mode == DeliveryMode::kPing ? "ping" : "poll";
  if (!HasString(doc, "backchannel_token_delivery_modes_supported", mode_name)) {
    return ConfigError(absl::StrCat("the provider does not support CIBA delivery mode ", mode_name));
  }
  return m;
}

bool IsValidBindingMessage(absl::string_view message) {
  if (message.empty() || message.size() > 64) return false;
  return std::all_of(message.begin(), message.end(), [](char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
           absl::string_view(" +-_.,:#").find(c) != absl::string_view::npos;
  });
}

absl::Status ValidateStartRequest(const v1::StartBackchannelAuthenticationRequest& r) {
  auto printable = [](absl::string_view s) {
    return std::all_of(s.begin(), s.end(), [](char c) { return c > 0x20 && c < 0x7f; });
  };
  if (r.approval_id().empty() || r.approval_id().size() > 128 || !printable(r.approval_id())) {
    return InvalidArgument("approval_id", "required, 1-128 printable ASCII characters without spaces");
  }
  if (r.login_hint().empty() || r.login_hint().size() > 256 || !printable(r.login_hint())) {
    return InvalidArgument("login_hint", "required, 1-256 printable ASCII characters without spaces");
  }
  if (!IsValidBindingMessage(r.binding_message())) {
    return InvalidArgument("binding_message", "required, 1-64 characters of A-Za-z0-9 +-_.,:#");
  }
  if (r.scope().size() > 512) return InvalidArgument("scope", "at most 512 characters");
  if (!r.scope().empty()) {
    std::vector<absl::string_view> scopes = absl::StrSplit(r.scope(), ' ', absl::SkipEmpty());
    if (std::find(scopes.begin(), scopes.end(), "openid") == scopes.end()) {
      return InvalidArgument("scope", "must include openid");
    }
    for (auto s : scopes) {
      if (!printable(s) || s.find('"') != absl::string_view::npos || s.find('\\') != absl::string_view::npos) {
        return InvalidArgument("scope", "scope tokens must be printable ASCII without quotes or backslashes");
      }
    }
  }
  if (r.has_requested_expiry()) {
    const int64_t s = r.requested_expiry().seconds();
    if (r.requested_expiry().nanos() != 0 || s < 10 || s > 7 * 24 * 3600) {
      return InvalidArgument("requested_expiry", "whole seconds, 10 s to 7 days");
    }
  }
  for (const auto& acr : r.acr_values()) {
    if (acr.empty() || acr.size() > 256 || !printable(acr)) {
      return InvalidArgument("acr_values", "each 1-256 printable ASCII characters without spaces");
    }
  }
  if (!r.authorization_details().empty()) {
    if (r.authorization_details().size() > 8192) return InvalidArgument("authorization_details", "at most 8 KiB");
    auto doc = nlohmann::json::parse(r.authorization_details(), nullptr, false);
    bool ok = doc.is_array() && !doc.empty();
    if (ok) {
      for (const auto& e : doc) ok = ok && e.is_object() && e.contains("type") && e["type"].is_string();
    }
    if (!ok)
      return InvalidArgument("authorization_details", "must be a JSON array of objects each with a string \"type\"");
  }
  if (!r.claims().empty()) {
    if (r.claims().size() > 4096) return InvalidArgument("claims", "at most 4 KiB");
    auto doc = nlohmann::json::parse(r.claims(), nullptr, false);
    if (!doc.is_object()) return InvalidArgument("claims", "must be a JSON object (OpenID Connect Core 5.5)");
  }
  if (r.ask() < 0 || r.ask() > 100000) return InvalidArgument("ask", "0 to 100000 (0 means 1)");
  if (r.audience().size() > 512 || !printable(r.audience())) {
    return InvalidArgument("audience", "at most 512 printable ASCII characters without spaces");
  }
  return absl::OkStatus();
}

std::string RenderLoginHint(LoginHintFormat format, absl::string_view issuer, absl::string_view subject) {
  if (format == LoginHintFormat::kPlain) return std::string(subject);
  nlohmann::json hint = {{"format", "iss_sub"}, {"iss", std::string(issuer)}, {"sub", std::string(subject)}};
  return hint.dump();
}

ProviderAnswer ClassifyAnswer(const absl::StatusOr<http::Response>& response) {
  ProviderAnswer a;
  if (!response.ok()) {
    a.kind = ProviderAnswer::Kind::kTransport;
    a.error = "transport";
    a.error_description = std::string(response.status().message());
    return a;
  }
  a.http_status = response->status;
  if (auto ra = response->Header("retry-after")) {
    int seconds = 0;
    if (absl::SimpleAtoi(*ra, &seconds) && seconds >= 0 && seconds <= 3600) a.retry_after = absl::Seconds(seconds);
  }
  auto body = nlohmann::json::parse(response->body, nullptr, false);
  if (response->status >= 200 && response->status < 300) {
    if (!body.is_object()) {
      a.kind = ProviderAnswer::Kind::kTransport;
      a.error = "bad_response";
      a.error_description = "the provider's answer is not a JSON object";
      return a;
    }
    a.kind = ProviderAnswer::Kind::kSuccess;
    a.body = std::move(body);
    return a;
  }
  if (response->status >= 400 && response->status < 500 && response->status != 429 && body.is_object() &&
      body.contains("error") && body["error"].is_string()) {
    a.kind = ProviderAnswer::Kind::kOAuthError;
    a.error = body["error"].get<std::string>().substr(0, 256);
    if (body.contains("error_description") && body["error_description"].is_string()) {
      a.error_description = body["error_description"].get<std::string>().substr(0, 1024);
    }
    return a;
  }
  a.kind = ProviderAnswer::Kind::kTransport;
  a.error = response->status >= 500 ? "http_5xx" : absl::StrCat("http_", response->status);
  a.error_description = absl::StrCat("HTTP ", response->status, " from the provider");
  return a;
}

absl::Duration Backoff(int failures, absl::Duration max) {
  absl::Duration d = absl::Seconds(1);
  for (int i = 1; i < failures && d < max; ++i) d *= 2;
  return std::min(d, max);
}

bool IsConfigurationError(absl::string_view e) {
  return e == "invalid_client" || e == "unauthorized_client" || e == "unsupported_grant_type";
}

PollDecision DecidePoll(const ProviderAnswer& a, absl::Duration interval, int transport_failures, absl::Time now,
                        std::optional<absl::Time> expire_time, absl::Duration max_backoff) {
  PollDecision d;
  d.interval = interval;
  d.next_delay = interval;
  const bool past_expiry = expire_time.has_value() && now >= *expire_time;
  switch (a.kind) {
    case ProviderAnswer::Kind::kSuccess:
      if (a.body.contains("id_token") && a.body["id_token"].is_string()) {
        d.action = PollAction::kApproved;
      } else {
        d.action = PollAction::kFailed;  // tokens without an ID token: not an approval we can prove
      }
      return d;
    case ProviderAnswer::Kind::kTransport:
      d.transport_failure = true;
      d.next_delay = std::max(interval, Backoff(transport_failures + 1, max_backoff));
      if (a.retry_after) d.next_delay = std::max(d.next_delay, *a.retry_after);
      return d;
    case ProviderAnswer::Kind::kOAuthError:
      break;
  }
  if (a.error == "authorization_pending") return d;
  if (a.error == "slow_down") {
    d.interval = interval + kSlowDownIncrement;
    d.next_delay = d.interval;
    if (a.retry_after) d.next_delay = std::max(d.next_delay, *a.retry_after);
    return d;
  }
  if (a.error == "expired_token") {
    d.action = PollAction::kExpired;
  } else if (a.error == "access_denied") {
    // Auth0 reports an expired request as access_denied.
    d.action = past_expiry ? PollAction::kExpired : PollAction::kDenied;
  } else if (a.error == "invalid_grant") {
    // oidc-provider forgets an expired request after a while and then says
    // invalid_grant. Before the expiry the provider no longer knows the
    // request: it restarted without its state, or it already handed the
    // tokens to a poll whose answer was never recorded (a bridge killed in
    // between). Nobody decided anything: the authority asks again.
    d.action = past_expiry ? PollAction::kExpired : PollAction::kLost;
  } else if (IsConfigurationError(a.error)) {
    d.configuration_error = true;
    d.transport_failure = true;
    d.next_delay = std::max(interval, Backoff(transport_failures + 1, max_backoff));
  } else {
    d.action = PollAction::kFailed;
  }
  return d;
}

absl::string_view ProviderErrorKind(const ProviderAnswer& a) {
  switch (a.kind) {
    case ProviderAnswer::Kind::kSuccess:
      return "";
    case ProviderAnswer::Kind::kTransport:
      if (a.error == "bad_response") return "bad_response";
      if (a.http_status == 0) return "transport";
      if (a.http_status >= 500) return "http_5xx";
      if (a.http_status == 429) return "rate_limited";
      return "http_4xx";
    case ProviderAnswer::Kind::kOAuthError:
      break;
  }
  if (a.error == "authorization_pending" || a.error == "slow_down" || a.error == "access_denied" ||
      a.error == "expired_token") {
    return "";
  }
  if (IsConfigurationError(a.error)) return "configuration";
  if (a.error == "invalid_grant") return "invalid_grant";
  return "oauth_error";
}

}  // namespace cantdo::bridge
