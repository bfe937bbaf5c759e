#pragma once
// cantdo-ciba-bridge: the OpenID Connect CIBA client. This skeleton serves
// CibaBridgeService, health and reflection over mutual TLS; its RPCs answer
// UNIMPLEMENTED until issue #5 lands.

#include <memory>

#include "cantdo/bridge/v1/ciba_bridge_service.grpc.pb.h"
#include "cantdo/runtime/service_runtime.hpp"

namespace cantdo::bridge {

class BridgeApp final : public runtime::ServiceApp {
 public:
  std::string Name() const override { return "ciba-bridge"; }
  std::string DefaultListen() const override { return "0.0.0.0:9444"; }
  absl::Status Init(const runtime::RuntimeContext& ctx) override;
  std::vector<::grpc::Service*> Services() override;

 private:
  std::unique_ptr<v1::CibaBridgeService::Service> bridge_;
};

}  // namespace cantdo::bridge
