#pragma once
// The ciba-bridge's own options (beyond libs/runtime's common ones). Every
// option is a flag and a CANTDO_* environment variable; see docs/ciba.md.

#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "cantdo/base/config.hpp"

namespace cantdo::bridge {

enum class ClientAuthMethod { kClientSecretBasic, kClientSecretPost, kPrivateKeyJwt };
enum class DeliveryMode { kPoll, kPing };
enum class LoginHintFormat { kIssSub, kPlain };

struct BridgeConfig {
  std::string issuer;  // OIDC issuer URL, exactly as the provider states it
  std::string client_id;
  std::string client_secret;  // never logged
  std::string client_secret_file;
  std::string client_auth = "client_secret_basic";
  // private_key_jwt (RFC 7523): the PEM private key (e.g. a mounted
  // Secret), the JWS algorithm (RS256, PS256, ES256; "" from the key) and
  // the kid the provider knows the public key by ("" for none).
  std::string client_key_file;
  std::string client_assertion_alg;
  std::string client_key_id;
  std::string ca_file;  // CA bundle for the provider's HTTPS; empty: system store
  std::string delivery_mode = "poll";
  std::string login_hint_format = "iss_sub";
  std::string callback_listen = "0.0.0.0:9446";
  std::string authority_address;
  std::string authority_server_name;
  absl::Duration default_poll_interval = absl::Seconds(5);
  absl::Duration ping_fallback_poll = absl::Seconds(60);
  absl::Duration http_timeout = absl::Seconds(10);
  absl::Duration scan_interval = absl::Seconds(1);
  absl::Duration max_backoff = absl::Seconds(30);
  int workers = 2;

  // Derived by Finish().
  ClientAuthMethod auth_method = ClientAuthMethod::kClientSecretBasic;
  DeliveryMode mode = DeliveryMode::kPoll;
  LoginHintFormat hint_format = LoginHintFormat::kIssSub;
};

// Registers the options bound to `config`, with checks.
void RegisterBridgeOptions(Options& options, BridgeConfig* config);

// Reads the secret file when given and derives the enums. INVALID_ARGUMENT
// naming the option otherwise. The secret's value never appears in errors.
// private_key_jwt needs --ciba-client-key-file and no secret; the key is
// loaded (and checked against the algorithm) by CibaClient::Create.
absl::Status FinishBridgeConfig(BridgeConfig& config);

}  // namespace cantdo::bridge
