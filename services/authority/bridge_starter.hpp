#pragma once
// BridgeStarter over gRPC: calls the ciba-bridge's
// StartBackchannelAuthentication with the authority's own mTLS identity.

#include <memory>

#include "authority/authority.hpp"
#include <grpcpp/channel.h>

#include "cantdo/bridge/v1/ciba_bridge_service.grpc.pb.h"

namespace cantdo::authority {

class GrpcBridgeStarter final : public BridgeStarter {
 public:
  explicit GrpcBridgeStarter(std::shared_ptr<::grpc::Channel> channel, std::string scope = "openid")
      : stub_(bridge::v1::CibaBridgeService::NewStub(channel)), scope_(std::move(scope)) {}
  absl::StatusOr<std::string> Start(const common::v1::Approval& approval, absl::Duration requested_expiry) override;

 private:
  std::unique_ptr<bridge::v1::CibaBridgeService::Stub> stub_;
  std::string scope_;
};

}  // namespace cantdo::authority
