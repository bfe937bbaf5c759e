#pragma once
// cantdo.gateway.v1.AuthorizationService: agent platforms' own actions,
// forwarded to the authority with on_behalf_of = the platform's principal,
// so every approval and grant belongs to the calling platform.

#include "cantdo/gateway/v1/authorization_service.grpc.pb.h"
#include "gateway/authority_client.hpp"
#include "gateway/call_guard.hpp"

namespace cantdo::gateway {

class AuthorizationServiceImpl final : public v1::AuthorizationService::Service {
 public:
  // Both must outlive the service.
  AuthorizationServiceImpl(const CallGuard& guard, const AuthorityClient& authority)
      : guard_(guard), authority_(authority) {}

  ::grpc::Status RequestAuthorization(::grpc::ServerContext* ctx, const v1::RequestAuthorizationRequest* req,
                                      v1::RequestAuthorizationResponse* resp) override;
  ::grpc::Status GetAuthorization(::grpc::ServerContext* ctx, const v1::GetAuthorizationRequest* req,
                                  v1::GetAuthorizationResponse* resp) override;
  ::grpc::Status ClaimGrant(::grpc::ServerContext* ctx, const v1::ClaimGrantRequest* req,
                            v1::ClaimGrantResponse* resp) override;
  ::grpc::Status ConsumeGrant(::grpc::ServerContext* ctx, const v1::ConsumeGrantRequest* req,
                              v1::ConsumeGrantResponse* resp) override;

 private:
  const CallGuard& guard_;
  const AuthorityClient& authority_;
};

}  // namespace cantdo::gateway
