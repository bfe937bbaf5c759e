#include "worker/authority_client.hpp"

#include <grpcpp/client_context.h>

#include "absl/strings/str_cat.h"
#include "cantdo/base/status.hpp"
#include "cantdo/grpc/status.hpp"
#include "grpc/health/v1/health.grpc.pb.h"

namespace cantdo::worker {
namespace {

template <typename Response, typename Call>
absl::StatusOr<Response> Invoke(absl::Duration timeout, Call call) {
  ::grpc::ClientContext ctx;
  ctx.set_deadline(absl::ToChronoTime(absl::Now() + timeout));
  Response response;
  ::grpc::Status st = call(&ctx, &response);
  if (!st.ok()) return grpc::FromGrpcStatus(st);
  return response;
}

}  // namespace

GrpcAuthorityClient::GrpcAuthorityClient(const std::string& address, const grpc::TlsMaterial& tls,
                                         const std::string& server_name, absl::Duration timeout)
    : channel_(grpc::MakeMtlsChannel(address, tls, server_name)),
      stub_(authority::v1::AuthorityService::NewStub(channel_)),
      timeout_(timeout) {}

absl::StatusOr<authority::v1::RequestApprovalResponse> GrpcAuthorityClient::RequestApproval(
    const authority::v1::RequestApprovalRequest& request) {
  return Invoke<authority::v1::RequestApprovalResponse>(
      timeout_, [&](auto* ctx, auto* resp) { return stub_->RequestApproval(ctx, request, resp); });
}

absl::StatusOr<authority::v1::GetApprovalResponse> GrpcAuthorityClient::GetApproval(const std::string& approval_id) {
  authority::v1::GetApprovalRequest request;
  request.set_approval_id(approval_id);
  return Invoke<authority::v1::GetApprovalResponse>(
      timeout_, [&](auto* ctx, auto* resp) { return stub_->GetApproval(ctx, request, resp); });
}

absl::StatusOr<authority::v1::ClaimGrantResponse> GrpcAuthorityClient::ClaimGrant(
    const authority::v1::ClaimGrantRequest& request) {
  return Invoke<authority::v1::ClaimGrantResponse>(
      timeout_, [&](auto* ctx, auto* resp) { return stub_->ClaimGrant(ctx, request, resp); });
}

absl::StatusOr<authority::v1::ConsumeGrantResponse> GrpcAuthorityClient::ConsumeGrant(
    const authority::v1::ConsumeGrantRequest& request) {
  return Invoke<authority::v1::ConsumeGrantResponse>(
      timeout_, [&](auto* ctx, auto* resp) { return stub_->ConsumeGrant(ctx, request, resp); });
}

absl::Status GrpcAuthorityClient::CheckHealth() {
  auto health = ::grpc::health::v1::Health::NewStub(channel_);
  ::grpc::health::v1::HealthCheckRequest request;
  auto resp = Invoke<::grpc::health::v1::HealthCheckResponse>(
      std::min(timeout_, absl::Seconds(2)), [&](auto* ctx, auto* r) { return health->Check(ctx, request, r); });
  if (!resp.ok()) {
    return WithReason(absl::UnavailableError(absl::StrCat("authority unreachable: ", resp.status().message())),
                      "DEPENDENCY_UNAVAILABLE");
  }
  if (resp->status() != ::grpc::health::v1::HealthCheckResponse::SERVING) {
    return WithReason(absl::UnavailableError("authority is not SERVING"), "DEPENDENCY_UNAVAILABLE");
  }
  return absl::OkStatus();
}

}  // namespace cantdo::worker
