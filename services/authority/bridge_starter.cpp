#include "authority/bridge_starter.hpp"

#include <grpcpp/client_context.h>

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "cantdo/grpc/status.hpp"

namespace cantdo::authority {

absl::StatusOr<std::string> GrpcBridgeStarter::Start(const common::v1::Approval& approval,
                                                     const std::string& login_hint, absl::Duration requested_expiry,
                                                     int ask) {
  bridge::v1::StartBackchannelAuthenticationRequest req;
  req.set_approval_id(approval.approval_id());
  req.set_login_hint(login_hint);
  req.set_binding_message(approval.binding_message());
  req.set_scope(options_.scope);
  for (const auto& acr : options_.acr_values) req.add_acr_values(acr);
  req.set_claims(options_.claims);
  req.set_ask(ask);
  if (options_.max_requested_expiry > absl::ZeroDuration()) {
    requested_expiry = std::min(requested_expiry, options_.max_requested_expiry);
  }
  // The bridge takes 10 s to 7 days; a provider may shorten it further.
  req.mutable_requested_expiry()->set_seconds(
      std::clamp<int64_t>(absl::ToInt64Seconds(requested_expiry), 60, 7 * 24 * 3600));
  ::grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  bridge::v1::StartBackchannelAuthenticationResponse resp;
  auto st = stub_->StartBackchannelAuthentication(&ctx, req, &resp);
  if (!st.ok()) return cantdo::grpc::FromGrpcStatus(st);
  if (resp.authentication().auth_req_id().empty()) {
    return absl::UnavailableError("the bridge accepted the request but has no auth_req_id yet");
  }
  return resp.authentication().auth_req_id();
}

}  // namespace cantdo::authority
