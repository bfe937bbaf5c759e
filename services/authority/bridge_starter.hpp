#pragma once
// BridgeStarter: how the authority asks the ciba-bridge to start a
// backchannel authentication for an approval. GrpcBridgeStarter calls the
// bridge's StartBackchannelAuthentication with the authority's own mTLS
// identity.

#include <memory>
#include <string>

#include <grpcpp/channel.h>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "cantdo/bridge/v1/ciba_bridge_service.grpc.pb.h"
#include "cantdo/common/v1/authorization.pb.h"

namespace cantdo::authority {

class BridgeStarter {
 public:
  virtual ~BridgeStarter() = default;
  // Starts (or finds) the request for `approval` to `login_hint` (the
  // approver's subject); returns the provider's auth_req_id. Idempotent per
  // approval id.
  virtual absl::StatusOr<std::string> Start(const common::v1::Approval& approval, const std::string& login_hint,
                                            absl::Duration requested_expiry) = 0;
};

class GrpcBridgeStarter final : public BridgeStarter {
 public:
  explicit GrpcBridgeStarter(std::shared_ptr<::grpc::Channel> channel, std::string scope = "openid")
      : stub_(bridge::v1::CibaBridgeService::NewStub(channel)), scope_(std::move(scope)) {}
  absl::StatusOr<std::string> Start(const common::v1::Approval& approval, const std::string& login_hint,
                                    absl::Duration requested_expiry) override;

 private:
  std::unique_ptr<bridge::v1::CibaBridgeService::Stub> stub_;
  std::string scope_;
};

}  // namespace cantdo::authority
