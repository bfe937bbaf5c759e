#include "gateway/authorization_service.hpp"

#include <thread>

#include "absl/strings/str_cat.h"
#include "cantdo/base/status.hpp"
#include "cantdo/grpc/status.hpp"
#include "gateway/validation.hpp"

namespace cantdo::gateway {

namespace av1 = authority::v1;
namespace cv1 = common::v1;

using cantdo::grpc::Handle;

::grpc::Status AuthorizationServiceImpl::RequestAuthorization(::grpc::ServerContext* ctx,
                                                              const v1::RequestAuthorizationRequest* req,
                                                              v1::RequestAuthorizationResponse* resp) {
  return Handle([&]() -> absl::Status {
    CANTDO_ASSIGN_OR_RETURN(Caller caller, guard_.Admit(*ctx, {Role::kAgentPlatform}));
    CANTDO_RETURN_IF_ERROR(ValidateRequestAuthorization(*req));
    av1::RequestApprovalRequest fwd;
    *fwd.mutable_action() = req->action();
    fwd.set_requester(req->requester());
    fwd.set_on_behalf_of(caller.principal);
    if (req->has_approval_timeout()) *fwd.mutable_approval_timeout() = req->approval_timeout();
    CANTDO_ASSIGN_OR_RETURN(av1::RequestApprovalResponse got, authority_.RequestApproval(fwd));
    resp->set_decision(got.decision());
    if (got.has_approval()) *resp->mutable_approval() = got.approval();
    if (got.has_grant()) *resp->mutable_grant() = got.grant();
    resp->set_ledger_entry_id(got.ledger_entry_id());
    return absl::OkStatus();
  });
}

::grpc::Status AuthorizationServiceImpl::GetAuthorization(::grpc::ServerContext* ctx,
                                                          const v1::GetAuthorizationRequest* req,
                                                          v1::GetAuthorizationResponse* resp) {
  return Handle([&]() -> absl::Status {
    CANTDO_ASSIGN_OR_RETURN(Caller caller, guard_.Admit(*ctx, {Role::kAgentPlatform}));
    CANTDO_ASSIGN_OR_RETURN(const absl::Duration wait, ValidateGetAuthorization(*req));
    absl::Time end = absl::Now() + wait;
    const absl::Time call_deadline = absl::FromChrono(ctx->deadline());
    if (call_deadline < end) end = call_deadline - absl::Milliseconds(100);
    av1::GetApprovalRequest get;
    get.set_approval_id(req->approval_id());
    get.set_on_behalf_of(caller.principal);
    while (true) {
      CANTDO_ASSIGN_OR_RETURN(av1::GetApprovalResponse got, authority_.GetApproval(get));
      const bool pending = got.approval().state() == cv1::APPROVAL_STATE_PENDING;
      if (!pending || absl::Now() >= end || ctx->IsCancelled()) {
        *resp->mutable_approval() = got.approval();
        if (got.has_grant()) *resp->mutable_grant() = got.grant();
        return absl::OkStatus();
      }
      // Long poll by re-reading: decisions are rare and waits short.
      std::this_thread::sleep_for(absl::ToChronoMilliseconds(std::min(absl::Milliseconds(250), end - absl::Now())));
    }
  });
}

::grpc::Status AuthorizationServiceImpl::ClaimGrant(::grpc::ServerContext* ctx, const v1::ClaimGrantRequest* req,
                                                    v1::ClaimGrantResponse* resp) {
  return Handle([&]() -> absl::Status {
    CANTDO_ASSIGN_OR_RETURN(Caller caller, guard_.Admit(*ctx, {Role::kAgentPlatform}));
    CANTDO_RETURN_IF_ERROR(ValidateClaimGrant(*req));
    av1::ClaimGrantRequest fwd;
    fwd.set_grant_id(req->grant_id());
    *fwd.mutable_action() = req->action();
    fwd.set_idempotency_key(req->idempotency_key());
    fwd.set_on_behalf_of(caller.principal);
    CANTDO_ASSIGN_OR_RETURN(av1::ClaimGrantResponse got, authority_.ClaimGrant(fwd));
    *resp->mutable_grant() = got.grant();
    *resp->mutable_action() = got.action();
    if (got.has_credential()) *resp->mutable_credential() = got.credential();
    return absl::OkStatus();
  });
}

::grpc::Status AuthorizationServiceImpl::ConsumeGrant(::grpc::ServerContext* ctx, const v1::ConsumeGrantRequest* req,
                                                      v1::ConsumeGrantResponse* resp) {
  return Handle([&]() -> absl::Status {
    CANTDO_ASSIGN_OR_RETURN(Caller caller, guard_.Admit(*ctx, {Role::kAgentPlatform}));
    CANTDO_RETURN_IF_ERROR(ValidateConsumeGrant(*req));
    av1::ConsumeGrantRequest fwd;
    fwd.set_grant_id(req->grant_id());
    fwd.set_outcome_digest(req->outcome_digest());
    fwd.set_on_behalf_of(caller.principal);
    CANTDO_ASSIGN_OR_RETURN(av1::ConsumeGrantResponse got, authority_.ConsumeGrant(fwd));
    *resp->mutable_grant() = got.grant();
    resp->set_ledger_entry_id(got.ledger_entry_id());
    return absl::OkStatus();
  });
}

}  // namespace cantdo::gateway
