#include "ciba-bridge/authority_notifier.hpp"

#include <grpcpp/client_context.h>

#include "cantdo/grpc/status.hpp"

namespace cantdo::bridge {

bool IsRetryableDeliveryError(const absl::Status& s) {
  switch (s.code()) {
    case absl::StatusCode::kUnavailable:
    case absl::StatusCode::kAborted:
    case absl::StatusCode::kDeadlineExceeded:
    case absl::StatusCode::kResourceExhausted:
      return true;
    default:
      return false;
  }
}

GrpcAuthorityNotifier::GrpcAuthorityNotifier(const std::string& address, const grpc::TlsMaterial& tls,
                                             const std::string& server_name, absl::Duration timeout)
    : stub_(authority::v1::AuthorityService::NewStub(grpc::MakeMtlsChannel(address, tls, server_name))),
      timeout_(timeout) {}

absl::Status GrpcAuthorityNotifier::CompleteApproval(const authority::v1::CompleteApprovalRequest& request) {
  ::grpc::ClientContext ctx;
  ctx.set_deadline(absl::ToChronoTime(absl::Now() + timeout_));
  authority::v1::CompleteApprovalResponse response;
  return grpc::FromGrpcStatus(stub_->CompleteApproval(&ctx, request, &response));
}

}  // namespace cantdo::bridge
