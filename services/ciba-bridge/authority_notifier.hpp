#pragma once
// Hands a CIBA result to the authority (AuthorityService.CompleteApproval
// over mutual TLS). The bridge only relays: the authority verifies the ID
// token and decides.

#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "cantdo/authority/v1/authority_service.grpc.pb.h"
#include "cantdo/grpc/tls.hpp"

namespace cantdo::bridge {

class AuthorityNotifier {
 public:
  virtual ~AuthorityNotifier() = default;
  // The authority's answer as an absl::Status (reason and metadata kept).
  virtual absl::Status CompleteApproval(const authority::v1::CompleteApprovalRequest& request) = 0;
};

// The codes after which the same result is offered again (docs/api.md).
bool IsRetryableDeliveryError(const absl::Status& status);

class GrpcAuthorityNotifier final : public AuthorityNotifier {
 public:
  GrpcAuthorityNotifier(const std::string& address, const grpc::TlsMaterial& tls, const std::string& server_name,
                        absl::Duration timeout);
  absl::Status CompleteApproval(const authority::v1::CompleteApprovalRequest& request) override;

 private:
  std::unique_ptr<authority::v1::AuthorityService::Stub> stub_;
  absl::Duration timeout_;
};

}  // namespace cantdo::bridge
