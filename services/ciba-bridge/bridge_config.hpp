#pragma once
// The ciba-bridge's own options (beyond libs/runtime's common ones). Every
// option is a flag and a CANTDO_* environment variable; see docs/ciba.md.

#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "cantdo/base/config.hpp"

namespace cantdo::bridge {

enum class ClientAuthMethod { kClientSecretBasic, kClientSecretPost };
enum class DeliveryMode { kPoll, kPing };
enum class LoginHintFormat { kIssSub, kPlain };

struct BridgeConfig {
  std::string issuer;          // OIDC issuer URL, exactly as the provider states it
  std::string client_id;
  std::string client_secret;   // never logged
  std::string client_secret_file;
  std::string client_auth = "client_secret_basic";
  std::string ca_file;         // CA bundle for the provider's HTTPS; empty: system store
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
absl::Status FinishBridgeConfig(BridgeConfig& config);

}  // namespace cantdo::bridge
