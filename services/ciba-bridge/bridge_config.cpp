#include "ciba-bridge/bridge_config.hpp"

#include <fstream>
#include <sstream>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "cantdo/base/status.hpp"

namespace cantdo::bridge {

void RegisterBridgeOptions(Options& o, BridgeConfig* c) {
  o.String("ciba-issuer", &c->issuer,
           "OpenID Provider issuer URL (https); discovery at <issuer>/.well-known/openid-configuration", true)
      .String("ciba-client-id", &c->client_id, "the bridge's client id at the provider", true)
      .String("ciba-client-secret", &c->client_secret,
              "client secret; prefer the environment variable or --ciba-client-secret-file (never logged)")
      .String("ciba-client-secret-file", &c->client_secret_file, "file holding the client secret")
      .String("ciba-client-auth", &c->client_auth, "client_secret_basic, client_secret_post or private_key_jwt")
      .String("ciba-client-key-file", &c->client_key_file,
              "private_key_jwt: PEM private key signing the client assertions (RSA or EC P-256; a mounted Secret)")
      .String("ciba-client-assertion-alg", &c->client_assertion_alg,
              "private_key_jwt: RS256, PS256 or ES256 (default: RS256 for RSA keys, ES256 for EC keys)")
      .String("ciba-client-key-id", &c->client_key_id,
              "private_key_jwt: the kid of the key as registered at the provider (sent in the JWS header)")
      .String("ciba-ca-file", &c->ca_file, "PEM CA bundle for the provider's HTTPS (default: system trust store)")
      .String("ciba-delivery-mode", &c->delivery_mode, "poll or ping")
      .String("ciba-login-hint-format", &c->login_hint_format,
              "iss_sub (Auth0: JSON {format,iss,sub}) or plain (the subject as is)")
      .String("ciba-callback-listen", &c->callback_listen,
              "host:port of the HTTPS ping notification endpoint (ping mode only)")
      .String("authority-address", &c->authority_address, "cantdo-authority host:port (mutual TLS)", true)
      .String("authority-server-name", &c->authority_server_name,
              "TLS name to expect from the authority when it differs from the address host")
      .Duration("ciba-default-poll-interval", &c->default_poll_interval,
                "poll spacing when the provider sends no interval (CIBA: 5s)")
      .Duration("ciba-ping-fallback-poll", &c->ping_fallback_poll,
                "ping mode: poll this often anyway, in case a notification was lost")
      .Duration("ciba-http-timeout", &c->http_timeout, "timeout of each HTTPS exchange with the provider")
      .Duration("ciba-scan-interval", &c->scan_interval, "how often idle workers look for due requests")
      .Duration("ciba-max-backoff", &c->max_backoff, "cap of the retry backoff (provider and authority)")
      .Int("ciba-workers", &c->workers, "threads polling the provider and delivering results")
      .Check([c] { return c->workers >= 1 && c->workers <= 64 ? "" : "--ciba-workers must be 1..64"; })
      .Check([c] {
        return c->default_poll_interval >= absl::Milliseconds(100)
                   ? ""
                   : "--ciba-default-poll-interval must be at least 100ms";
      })
      .Check([c] {
        return c->client_secret.empty() || c->client_secret_file.empty()
                   ? ""
                   : "give only one of --ciba-client-secret and --ciba-client-secret-file";
      });
}

absl::Status FinishBridgeConfig(BridgeConfig& c) {
  if (!c.client_secret_file.empty()) {
    std::ifstream in(c.client_secret_file);
    if (!in) return InvalidArgument("ciba-client-secret-file", absl::StrCat("cannot read ", c.client_secret_file));
    std::stringstream ss;
    ss << in.rdbuf();
    c.client_secret = std::string(absl::StripAsciiWhitespace(ss.str()));
  }
  if (c.client_auth == "client_secret_basic") {
    c.auth_method = ClientAuthMethod::kClientSecretBasic;
  } else if (c.client_auth == "client_secret_post") {
    c.auth_method = ClientAuthMethod::kClientSecretPost;
  } else if (c.client_auth == "private_key_jwt") {
    c.auth_method = ClientAuthMethod::kPrivateKeyJwt;
  } else {
    return InvalidArgument("ciba-client-auth", "must be client_secret_basic, client_secret_post or private_key_jwt");
  }
  if (c.auth_method == ClientAuthMethod::kPrivateKeyJwt) {
    if (c.client_key_file.empty()) {
      return InvalidArgument("ciba-client-key-file", "private_key_jwt needs the private key file");
    }
    if (!c.client_secret.empty()) {
      return InvalidArgument("ciba-client-secret", "private_key_jwt uses no client secret; remove it");
    }
    if (!c.client_assertion_alg.empty() && c.client_assertion_alg != "RS256" && c.client_assertion_alg != "PS256" &&
        c.client_assertion_alg != "ES256") {
      return InvalidArgument("ciba-client-assertion-alg", "must be RS256, PS256 or ES256");
    }
  } else if (c.client_secret.empty()) {
    return InvalidArgument("ciba-client-secret",
                           "a client secret is required (CANTDO_CIBA_CLIENT_SECRET or --ciba-client-secret-file)");
  }
  if (c.delivery_mode == "poll") {
    c.mode = DeliveryMode::kPoll;
  } else if (c.delivery_mode == "ping") {
    c.mode = DeliveryMode::kPing;
  } else {
    return InvalidArgument("ciba-delivery-mode", "must be poll or ping");
  }
  if (c.login_hint_format == "iss_sub") {
    c.hint_format = LoginHintFormat::kIssSub;
  } else if (c.login_hint_format == "plain") {
    c.hint_format = LoginHintFormat::kPlain;
  } else {
    return InvalidArgument("ciba-login-hint-format", "must be iss_sub or plain");
  }
  return absl::OkStatus();
}

}  // namespace cantdo::bridge
