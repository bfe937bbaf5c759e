#include "ciba-bridge/bridge_app.hpp"

namespace cantdo::bridge {

absl::Status BridgeApp::Init(const runtime::RuntimeContext& /*ctx*/) {
  bridge_ = std::make_unique<v1::CibaBridgeService::Service>();
  return absl::OkStatus();
}

std::vector<::grpc::Service*> BridgeApp::Services() { return {bridge_.get()}; }

}  // namespace cantdo::bridge
