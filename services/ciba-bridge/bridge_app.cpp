#include "ciba-bridge/bridge_app.hpp"

#include <unistd.h>

#include "absl/strings/str_cat.h"
#include "cantdo/base/ids.hpp"
#include "cantdo/base/log.hpp"
#include "cantdo/base/status.hpp"
#include "cantdo/db/migrations.hpp"
#include "ciba-bridge/ping_endpoint.hpp"

namespace cantdo::bridge {

BridgeApp::~BridgeApp() { Stop(); }

void BridgeApp::RegisterOptions(Options& options) { RegisterBridgeOptions(options, &config_); }

absl::Status BridgeApp::Init(const runtime::RuntimeContext& ctx) {
  CANTDO_RETURN_IF_ERROR(FinishBridgeConfig(config_));
  http::ClientOptions ho;
  ho.ca_file = config_.ca_file;
  ho.connect_timeout = std::min(config_.http_timeout, absl::Seconds(5));
  ho.request_timeout = config_.http_timeout;
  ho.user_agent = "cantdo-ciba-bridge";
  CANTDO_ASSIGN_OR_RETURN(http_, http::HttpsClient::Create(ho));
  std::unique_ptr<auth::JwtSigner> signer;
  if (config_.auth_method == ClientAuthMethod::kPrivateKeyJwt) {
    auto loaded =
        auth::JwtSigner::FromPemFile(config_.client_key_file, config_.client_assertion_alg, config_.client_key_id);
    if (!loaded.ok()) return InvalidArgument("ciba-client-key-file", loaded.status().message());
    signer = *std::move(loaded);
  }
  client_ = std::make_unique<CibaClient>(*http_, config_, std::move(signer));
  store_ = std::make_unique<PgCibaRequestStore>(*ctx.pool);
  if (!authority_) {
    authority_ = std::make_unique<GrpcAuthorityNotifier>(config_.authority_address, ctx.tls,
                                                         config_.authority_server_name, absl::Seconds(10));
  }
  char host[256] = {};
  gethostname(host, sizeof(host) - 1);
  metrics_ = std::make_unique<BridgeMetrics>(*ctx.metrics);
  BridgeMetrics::AddCollectors(*ctx.metrics, *ctx.pool);
  engine_ = std::make_unique<CibaEngine>(config_, *store_, *client_, *authority_,
                                         absl::StrCat(host, "/", getpid(), "/", NewSecret(6)), *metrics_);
  service_ = std::make_unique<BridgeService>(config_, *store_, *engine_);
  if (config_.mode == DeliveryMode::kPing) {
    http::ServerOptions so;
    so.listen = config_.callback_listen;
    so.cert_pem = ctx.tls.cert_pem;
    so.key_pem = ctx.tls.key_pem;
    so.max_body_bytes = 16 * 1024;
    CANTDO_ASSIGN_OR_RETURN(callback_, http::HttpsServer::Start(so, MakePingHandler(*store_, *engine_)));
    log::Info("ping notification endpoint listening", {{"port", callback_->port()}, {"path", kPingPath}});
  }
  log::Info("ciba-bridge configured", {{"issuer", config_.issuer},
                                       {"client_id", config_.client_id},
                                       {"client_auth", config_.client_auth},
                                       {"delivery_mode", config_.delivery_mode},
                                       {"authority", config_.authority_address}});
  engine_->Start();
  return absl::OkStatus();
}

std::vector<::grpc::Service*> BridgeApp::Services() { return {service_.get()}; }

absl::Status BridgeApp::Ready() { return engine_ ? engine_->Ready() : absl::UnavailableError("not started"); }

void BridgeApp::Stop() {
  if (callback_) callback_->Stop();
  if (engine_) engine_->Stop();
}

const std::vector<pg::Migration>& BridgeApp::Migrations() const { return db::AllMigrations(); }

}  // namespace cantdo::bridge
