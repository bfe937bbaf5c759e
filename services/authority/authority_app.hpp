#pragma once
// cantdo-authority: the security kernel (policy, approvals, one-shot grants,
// execution credentials, ledger). This skeleton serves AuthorityService,
// health and reflection over mutual TLS; its RPCs answer UNIMPLEMENTED until
// issue #3 lands.

#include <memory>

#include "cantdo/authority/v1/authority_service.grpc.pb.h"
#include "cantdo/runtime/service_runtime.hpp"

namespace cantdo::authority {

class AuthorityApp final : public runtime::ServiceApp {
 public:
  std::string Name() const override { return "authority"; }
  std::string DefaultListen() const override { return "0.0.0.0:9443"; }
  absl::Status Init(const runtime::RuntimeContext& ctx) override;
  std::vector<::grpc::Service*> Services() override;

 private:
  std::unique_ptr<v1::AuthorityService::Service> authority_;
};

}  // namespace cantdo::authority
