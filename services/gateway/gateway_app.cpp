#include "gateway/gateway_app.hpp"

namespace cantdo::gateway {

absl::Status GatewayApp::Init(const runtime::RuntimeContext& /*ctx*/) {
  workflows_ = std::make_unique<v1::WorkflowService::Service>();
  authorizations_ = std::make_unique<v1::AuthorizationService::Service>();
  ledger_ = std::make_unique<v1::LedgerService::Service>();
  return absl::OkStatus();
}

std::vector<::grpc::Service*> GatewayApp::Services() {
  return {workflows_.get(), authorizations_.get(), ledger_.get()};
}

}  // namespace cantdo::gateway
