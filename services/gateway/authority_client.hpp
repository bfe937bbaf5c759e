#pragma once
// The gateway's calls to the authority (mTLS, as spiffe://cantdo/gateway).
// Each call has a deadline; a transport failure (no ErrorInfo from the
// authority) becomes UNAVAILABLE (DEPENDENCY_UNAVAILABLE, dependency
// "authority"), anything the authority said is passed on unchanged.
//
// Thread-safe (gRPC stubs are).

#include <memory>

#include <grpcpp/client_context.h>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "cantdo/authority/v1/authority_service.grpc.pb.h"

namespace cantdo::gateway {

class AuthorityClient {
 public:
  explicit AuthorityClient(std::shared_ptr<authority::v1::AuthorityService::StubInterface> stub,
                           absl::Duration timeout = absl::Seconds(10))
      : stub_(std::move(stub)), timeout_(timeout) {}

  absl::StatusOr<authority::v1::RequestApprovalResponse> RequestApproval(
      const authority::v1::RequestApprovalRequest& req) const;
  absl::StatusOr<authority::v1::GetApprovalResponse> GetApproval(const authority::v1::GetApprovalRequest& req) const;
  absl::StatusOr<authority::v1::ClaimGrantResponse> ClaimGrant(const authority::v1::ClaimGrantRequest& req) const;
  absl::StatusOr<authority::v1::ConsumeGrantResponse> ConsumeGrant(const authority::v1::ConsumeGrantRequest& req) const;
  absl::StatusOr<authority::v1::RevokeGrantResponse> RevokeGrant(const authority::v1::RevokeGrantRequest& req) const;
  absl::StatusOr<authority::v1::ListLedgerEntriesResponse> ListLedgerEntries(
      const authority::v1::ListLedgerEntriesRequest& req) const;
  absl::StatusOr<authority::v1::VerifyLedgerResponse> VerifyLedger(const authority::v1::VerifyLedgerRequest& req) const;
  absl::StatusOr<authority::v1::GetCheckpointResponse> GetCheckpoint() const;
  absl::StatusOr<authority::v1::GetInclusionProofResponse> GetInclusionProof(
      const authority::v1::GetInclusionProofRequest& req) const;
  absl::StatusOr<authority::v1::GetConsistencyProofResponse> GetConsistencyProof(
      const authority::v1::GetConsistencyProofRequest& req) const;
  absl::StatusOr<authority::v1::GetReceiptResponse> GetReceipt(const authority::v1::GetReceiptRequest& req) const;

 private:
  template <typename Req, typename Resp, typename Method>
  absl::StatusOr<Resp> Call(Method method, const Req& req) const;

  std::shared_ptr<authority::v1::AuthorityService::StubInterface> stub_;
  absl::Duration timeout_;
};

}  // namespace cantdo::gateway
