#pragma once
// The worker's view of the authority (AuthorityService over mutual TLS, as
// spiffe://cantdo/worker): the four calls the offboarding activities make,
// and the health probe readiness uses. Errors come back as absl::Status with
// the authority's reason and metadata (cantdo::GetReason).

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "cantdo/authority/v1/authority_service.grpc.pb.h"
#include "cantdo/grpc/tls.hpp"

namespace cantdo::worker {

class AuthorityClient {
 public:
  virtual ~AuthorityClient() = default;
  virtual absl::StatusOr<authority::v1::RequestApprovalResponse> RequestApproval(
      const authority::v1::RequestApprovalRequest& request) = 0;
  virtual absl::StatusOr<authority::v1::GetApprovalResponse> GetApproval(const std::string& approval_id) = 0;
  virtual absl::StatusOr<authority::v1::ClaimGrantResponse> ClaimGrant(
      const authority::v1::ClaimGrantRequest& request) = 0;
  virtual absl::StatusOr<authority::v1::ConsumeGrantResponse> ConsumeGrant(
      const authority::v1::ConsumeGrantRequest& request) = 0;
  // OK when the authority's grpc.health.v1 answers SERVING.
  virtual absl::Status CheckHealth() = 0;
};

class GrpcAuthorityClient final : public AuthorityClient {
 public:
  // `server_name`: the TLS name to expect (default: the address's host).
  GrpcAuthorityClient(const std::string& address, const grpc::TlsMaterial& tls, const std::string& server_name,
                      absl::Duration timeout);

  absl::StatusOr<authority::v1::RequestApprovalResponse> RequestApproval(
      const authority::v1::RequestApprovalRequest& request) override;
  absl::StatusOr<authority::v1::GetApprovalResponse> GetApproval(const std::string& approval_id) override;
  absl::StatusOr<authority::v1::ClaimGrantResponse> ClaimGrant(
      const authority::v1::ClaimGrantRequest& request) override;
  absl::StatusOr<authority::v1::ConsumeGrantResponse> ConsumeGrant(
      const authority::v1::ConsumeGrantRequest& request) override;
  absl::Status CheckHealth() override;

 private:
  std::shared_ptr<::grpc::Channel> channel_;
  std::unique_ptr<authority::v1::AuthorityService::Stub> stub_;
  absl::Duration timeout_;
};

}  // namespace cantdo::worker
