#pragma once
// cantdo-ciba-bridge: the OpenID Connect CIBA client (see docs/ciba.md).
// Serves CibaBridgeService (authority only), keeps requests in Postgres,
// polls the provider or takes its pings, and delivers results to the
// authority's CompleteApproval. SERVING only once the database is current
// and the provider's discovery document was read.

#include <memory>
#include <string>

#include "cantdo/http/https_client.hpp"
#include "cantdo/http/https_server.hpp"
#include "cantdo/runtime/service_runtime.hpp"
#include "ciba-bridge/authority_notifier.hpp"
#include "ciba-bridge/bridge_config.hpp"
#include "ciba-bridge/bridge_metrics.hpp"
#include "ciba-bridge/bridge_service.hpp"
#include "ciba-bridge/ciba_client.hpp"
#include "ciba-bridge/ciba_engine.hpp"
#include "ciba-bridge/ciba_request_store.hpp"

namespace cantdo::bridge {

class BridgeApp final : public runtime::ServiceApp {
 public:
  BridgeApp() = default;
  // Tests: a preset configuration (RegisterOptions is then not used), and
  // optionally another way to reach the authority.
  explicit BridgeApp(BridgeConfig config, std::unique_ptr<AuthorityNotifier> authority = nullptr)
      : config_(std::move(config)), authority_(std::move(authority)) {}
  ~BridgeApp() override;

  std::string Name() const override { return "ciba-bridge"; }
  std::string DefaultListen() const override { return "0.0.0.0:9444"; }
  void RegisterOptions(Options& options) override;
  absl::Status Init(const runtime::RuntimeContext& ctx) override;
  std::vector<::grpc::Service*> Services() override;
  const std::vector<pg::Migration>& Migrations() const override;
  absl::Status Ready() override;
  void Stop() override;

  // The ping endpoint's port (ping mode), 0 otherwise.
  int callback_port() const { return callback_ ? callback_->port() : 0; }

 private:
  BridgeConfig config_;
  std::unique_ptr<http::HttpsClient> http_;
  std::unique_ptr<CibaClient> client_;
  std::unique_ptr<PgCibaRequestStore> store_;
  std::unique_ptr<AuthorityNotifier> authority_;
  std::unique_ptr<BridgeMetrics> metrics_;
  std::unique_ptr<CibaEngine> engine_;
  std::unique_ptr<BridgeService> service_;
  std::unique_ptr<http::HttpsServer> callback_;
};

}  // namespace cantdo::bridge
