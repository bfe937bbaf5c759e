#pragma once
// cantdo-gateway: the public gRPC front door (docs/api.md). This skeleton
// serves the v1 services, health and reflection over TLS; the workflow,
// authorization and ledger RPCs answer UNIMPLEMENTED until issue #7 lands.
// Callers may present a client certificate or (from #7) a bearer token.

#include <memory>

#include "cantdo/gateway/v1/authorization_service.grpc.pb.h"
#include "cantdo/gateway/v1/ledger_service.grpc.pb.h"
#include "cantdo/gateway/v1/workflow_service.grpc.pb.h"
#include "cantdo/runtime/service_runtime.hpp"

namespace cantdo::gateway {

class GatewayApp final : public runtime::ServiceApp {
 public:
  std::string Name() const override { return "gateway"; }
  std::string DefaultListen() const override { return "0.0.0.0:8443"; }
  grpc::ClientCertPolicy ClientCerts() const override { return grpc::ClientCertPolicy::kRequestAndVerify; }
  absl::Status Init(const runtime::RuntimeContext& ctx) override;
  std::vector<::grpc::Service*> Services() override;

 private:
  std::unique_ptr<v1::WorkflowService::Service> workflows_;
  std::unique_ptr<v1::AuthorizationService::Service> authorizations_;
  std::unique_ptr<v1::LedgerService::Service> ledger_;
};

}  // namespace cantdo::gateway
