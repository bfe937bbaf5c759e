#include "authority/authority_app.hpp"

namespace cantdo::authority {

absl::Status AuthorityApp::Init(const runtime::RuntimeContext& /*ctx*/) {
  authority_ = std::make_unique<v1::AuthorityService::Service>();
  return absl::OkStatus();
}

std::vector<::grpc::Service*> AuthorityApp::Services() { return {authority_.get()}; }

}  // namespace cantdo::authority
