#include "gateway/authority_client.hpp"

#include "absl/strings/str_cat.h"
#include "cantdo/base/status.hpp"
#include "cantdo/grpc/status.hpp"

namespace cantdo::gateway {

namespace av1 = authority::v1;

template <typename Req, typename Resp, typename Method>
absl::StatusOr<Resp> AuthorityClient::Call(Method method, const Req& req) const {
  ::grpc::ClientContext ctx;
  ctx.set_deadline(absl::ToChronoTime(absl::Now() + timeout_));
  Resp resp;
  ::grpc::Status st = ((*stub_).*method)(&ctx, req, &resp);
  if (st.ok()) return resp;
  absl::Status s = cantdo::grpc::FromGrpcStatus(st);
  if (!GetReason(s).has_value() && (st.error_code() == ::grpc::StatusCode::UNAVAILABLE ||
                                    st.error_code() == ::grpc::StatusCode::DEADLINE_EXCEEDED)) {
    return WithMetadata(Unavailable("DEPENDENCY_UNAVAILABLE", absl::StrCat("authority: ", st.error_message())),
                        "dependency", "authority");
  }
  return s;
}

absl::StatusOr<av1::RequestApprovalResponse> AuthorityClient::RequestApproval(
    const av1::RequestApprovalRequest& req) const {
  return Call<av1::RequestApprovalRequest, av1::RequestApprovalResponse>(
      &av1::AuthorityService::StubInterface::RequestApproval, req);
}
absl::StatusOr<av1::GetApprovalResponse> AuthorityClient::GetApproval(const av1::GetApprovalRequest& req) const {
  return Call<av1::GetApprovalRequest, av1::GetApprovalResponse>(&av1::AuthorityService::StubInterface::GetApproval,
                                                                 req);
}
absl::StatusOr<av1::ClaimGrantResponse> AuthorityClient::ClaimGrant(const av1::ClaimGrantRequest& req) const {
  return Call<av1::ClaimGrantRequest, av1::ClaimGrantResponse>(&av1::AuthorityService::StubInterface::ClaimGrant, req);
}
absl::StatusOr<av1::ConsumeGrantResponse> AuthorityClient::ConsumeGrant(const av1::ConsumeGrantRequest& req) const {
  return Call<av1::ConsumeGrantRequest, av1::ConsumeGrantResponse>(&av1::AuthorityService::StubInterface::ConsumeGrant,
                                                                   req);
}
absl::StatusOr<av1::RevokeGrantResponse> AuthorityClient::RevokeGrant(const av1::RevokeGrantRequest& req) const {
  return Call<av1::RevokeGrantRequest, av1::RevokeGrantResponse>(&av1::AuthorityService::StubInterface::RevokeGrant,
                                                                 req);
}
absl::StatusOr<av1::ListLedgerEntriesResponse> AuthorityClient::ListLedgerEntries(
    const av1::ListLedgerEntriesRequest& req) const {
  return Call<av1::ListLedgerEntriesRequest, av1::ListLedgerEntriesResponse>(
      &av1::AuthorityService::StubInterface::ListLedgerEntries, req);
}
absl::StatusOr<av1::VerifyLedgerResponse> AuthorityClient::VerifyLedger(const av1::VerifyLedgerRequest& req) const {
  return Call<av1::VerifyLedgerRequest, av1::VerifyLedgerResponse>(&av1::AuthorityService::StubInterface::VerifyLedger,
                                                                   req);
}

absl::StatusOr<av1::GetCheckpointResponse> AuthorityClient::GetCheckpoint() const {
  return Call<av1::GetCheckpointRequest, av1::GetCheckpointResponse>(
      &av1::AuthorityService::StubInterface::GetCheckpoint, av1::GetCheckpointRequest());
}

absl::StatusOr<av1::GetInclusionProofResponse> AuthorityClient::GetInclusionProof(
    const av1::GetInclusionProofRequest& req) const {
  return Call<av1::GetInclusionProofRequest, av1::GetInclusionProofResponse>(
      &av1::AuthorityService::StubInterface::GetInclusionProof, req);
}

absl::StatusOr<av1::GetConsistencyProofResponse> AuthorityClient::GetConsistencyProof(
    const av1::GetConsistencyProofRequest& req) const {
  return Call<av1::GetConsistencyProofRequest, av1::GetConsistencyProofResponse>(
      &av1::AuthorityService::StubInterface::GetConsistencyProof, req);
}

absl::StatusOr<av1::GetReceiptResponse> AuthorityClient::GetReceipt(const av1::GetReceiptRequest& req) const {
  return Call<av1::GetReceiptRequest, av1::GetReceiptResponse>(&av1::AuthorityService::StubInterface::GetReceipt, req);
}

}  // namespace cantdo::gateway
