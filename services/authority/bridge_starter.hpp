#pragma once
// BridgeStarter: how the authority asks the ciba-bridge to start a
// backchannel authentication for an approval. GrpcBridgeStarter calls the
// bridge's StartBackchannelAuthentication with the authority's own mTLS
// identity.

#include <memory>
#include <string>
#include <vector>

#include <grpcpp/channel.h>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "cantdo/bridge/v1/ciba_bridge_service.grpc.pb.h"
#include "cantdo/common/v1/authorization.pb.h"

namespace cantdo::authority {

// What every CIBA request asks the provider for, beyond the approver and
// the binding message (docs/ciba.md, "Providers"). A provider that
// releases the roles claim only for a scope (Okta, Keycloak client scopes,
// the dev provider's second profile) needs that scope here, or every
// approval is refused with APPROVAL_ROLE_MISMATCH.
struct CibaRequestOptions {
  // Space-separated; must include openid.
  std::string scope = "openid";
  // Authentication context classes, in preference order (acr_values).
  std::vector<std::string> acr_values;
  // The OIDC `claims` request parameter as JSON text, e.g.
  // {"id_token":{"groups":{"essential":true}}}; "" sends none.
  std::string claims;
  // Caps requested_expiry (the approval's remaining time otherwise) for
  // providers that refuse a longer one; zero: no cap.
  absl::Duration max_requested_expiry = absl::ZeroDuration();
};

class BridgeStarter {
 public:
  virtual ~BridgeStarter() = default;
  // Starts (or finds) the request for `approval`'s `ask` (1 = the first
  // time the approver is asked) to `login_hint` (the approver's subject);
  // returns the provider's auth_req_id. Idempotent per (approval, ask).
  virtual absl::StatusOr<std::string> Start(const common::v1::Approval& approval, const std::string& login_hint,
                                            absl::Duration requested_expiry, int ask) = 0;
};

class GrpcBridgeStarter final : public BridgeStarter {
 public:
  explicit GrpcBridgeStarter(std::shared_ptr<::grpc::Channel> channel, CibaRequestOptions options = {})
      : stub_(bridge::v1::CibaBridgeService::NewStub(channel)), options_(std::move(options)) {}
  absl::StatusOr<std::string> Start(const common::v1::Approval& approval, const std::string& login_hint,
                                    absl::Duration requested_expiry, int ask) override;

 private:
  std::unique_ptr<bridge::v1::CibaBridgeService::Stub> stub_;
  CibaRequestOptions options_;
};

}  // namespace cantdo::authority
