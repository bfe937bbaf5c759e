#include "authority/authority_service.hpp"

#include "absl/strings/str_cat.h"
#include "authority/request_validation.hpp"
#include "cantdo/base/status.hpp"
#include "cantdo/fields/principal.hpp"
#include "cantdo/grpc/peer_identity.hpp"
#include "cantdo/grpc/status.hpp"

namespace cantdo::authority {
namespace {

using cantdo::grpc::Handle;

// The verified caller, if it is one of `allowed`. `on_behalf_of` is
// honoured from the gateway only, and only for the external callers the
// gateway authenticates itself (cantdo/fields/principal.hpp): never an
// internal service, whose grants it could otherwise claim.
absl::StatusOr<Caller> Authenticate(const ::grpc::ServerContext& ctx, const std::vector<std::string>& allowed,
                                    const std::string& on_behalf_of = "") {
  CANTDO_RETURN_IF_ERROR(cantdo::grpc::RequirePeer(ctx, allowed));
  Caller c;
  c.identity = cantdo::grpc::PeerFromContext(ctx)->spiffe_id;
  if (!on_behalf_of.empty()) {
    if (c.identity != kGatewayId)
      return InvalidArgument("on_behalf_of", "only the gateway may act on behalf of others");
    CANTDO_RETURN_IF_ERROR(fields::RequireExternalPrincipal(on_behalf_of, "on_behalf_of"));
    c.on_behalf_of = on_behalf_of;
  }
  return c;
}

}  // namespace

::grpc::Status AuthorityServiceImpl::RequestApproval(::grpc::ServerContext* ctx, const v1::RequestApprovalRequest* req,
                                                     v1::RequestApprovalResponse* resp) {
  return Handle([&]() -> absl::Status {
    CANTDO_ASSIGN_OR_RETURN(Caller caller, Authenticate(*ctx, {kWorkerId, kGatewayId}, req->on_behalf_of()));
    CANTDO_RETURN_IF_ERROR(ValidateRequestApproval(
        *req, caller.identity == kWorkerId ? fields::ActionBinding::kWorkflow : fields::ActionBinding::kOptional));
    CANTDO_ASSIGN_OR_RETURN(*resp, authority_.RequestApproval(caller, *req));
    return absl::OkStatus();
  });
}

::grpc::Status AuthorityServiceImpl::GetApproval(::grpc::ServerContext* ctx, const v1::GetApprovalRequest* req,
                                                 v1::GetApprovalResponse* resp) {
  return Handle([&]() -> absl::Status {
    CANTDO_ASSIGN_OR_RETURN(Caller caller, Authenticate(*ctx, {kWorkerId, kGatewayId, kAdminId}, req->on_behalf_of()));
    CANTDO_RETURN_IF_ERROR(ValidateGetApproval(*req));
    CANTDO_ASSIGN_OR_RETURN(*resp, authority_.GetApproval(caller, req->approval_id(), caller.identity == kAdminId));
    return absl::OkStatus();
  });
}

::grpc::Status AuthorityServiceImpl::CompleteApproval(::grpc::ServerContext* ctx,
                                                      const v1::CompleteApprovalRequest* req,
                                                      v1::CompleteApprovalResponse* resp) {
  return Handle([&]() -> absl::Status {
    CANTDO_ASSIGN_OR_RETURN(Caller caller, Authenticate(*ctx, {kBridgeId}));
    CANTDO_RETURN_IF_ERROR(ValidateCompleteApproval(*req));
    CANTDO_ASSIGN_OR_RETURN(*resp, authority_.CompleteApproval(caller, *req));
    return absl::OkStatus();
  });
}

::grpc::Status AuthorityServiceImpl::ClaimGrant(::grpc::ServerContext* ctx, const v1::ClaimGrantRequest* req,
                                                v1::ClaimGrantResponse* resp) {
  return Handle([&]() -> absl::Status {
    CANTDO_ASSIGN_OR_RETURN(Caller caller, Authenticate(*ctx, {kWorkerId, kGatewayId}, req->on_behalf_of()));
    CANTDO_RETURN_IF_ERROR(ValidateClaimGrant(*req));
    CANTDO_ASSIGN_OR_RETURN(*resp, authority_.ClaimGrant(caller, *req));
    return absl::OkStatus();
  });
}

::grpc::Status AuthorityServiceImpl::ConsumeGrant(::grpc::ServerContext* ctx, const v1::ConsumeGrantRequest* req,
                                                  v1::ConsumeGrantResponse* resp) {
  return Handle([&]() -> absl::Status {
    CANTDO_ASSIGN_OR_RETURN(Caller caller, Authenticate(*ctx, {kWorkerId, kGatewayId}, req->on_behalf_of()));
    CANTDO_RETURN_IF_ERROR(ValidateConsumeGrant(*req));
    CANTDO_ASSIGN_OR_RETURN(*resp, authority_.ConsumeGrant(caller, *req));
    return absl::OkStatus();
  });
}

::grpc::Status AuthorityServiceImpl::RevokeGrant(::grpc::ServerContext* ctx, const v1::RevokeGrantRequest* req,
                                                 v1::RevokeGrantResponse* resp) {
  return Handle([&]() -> absl::Status {
    CANTDO_ASSIGN_OR_RETURN(Caller caller, Authenticate(*ctx, {kAdminId, kGatewayId}, req->on_behalf_of()));
    CANTDO_RETURN_IF_ERROR(ValidateRevokeGrant(*req));
    CANTDO_ASSIGN_OR_RETURN(*resp, authority_.RevokeGrant(caller, *req));
    return absl::OkStatus();
  });
}

::grpc::Status AuthorityServiceImpl::ListLedgerEntries(::grpc::ServerContext* ctx,
                                                       const v1::ListLedgerEntriesRequest* req,
                                                       v1::ListLedgerEntriesResponse* resp) {
  return Handle([&]() -> absl::Status {
    CANTDO_RETURN_IF_ERROR(Authenticate(*ctx, {kGatewayId, kAdminId}).status());
    CANTDO_ASSIGN_OR_RETURN(const LedgerPage page, ValidateListLedgerEntries(*req));
    const int size = page.size;
    CANTDO_ASSIGN_OR_RETURN(auto conn, pool_.Acquire(absl::Now() + absl::Seconds(10)));
    // Read your writes: entries committed before this call are chained first.
    CANTDO_RETURN_IF_ERROR(Ledger::ChainAll(*conn).status());
    CANTDO_ASSIGN_OR_RETURN(auto entries, Ledger::List(*conn, req->filter(), page.start_sequence, size + 1));
    for (int i = 0; i < static_cast<int>(entries.size()) && i < size; ++i) *resp->add_entries() = entries[i];
    if (static_cast<int>(entries.size()) > size) resp->set_next_page_token(absl::StrCat(entries[size].sequence()));
    return absl::OkStatus();
  });
}

::grpc::Status AuthorityServiceImpl::VerifyLedger(::grpc::ServerContext* ctx, const v1::VerifyLedgerRequest* req,
                                                  v1::VerifyLedgerResponse* resp) {
  return Handle([&]() -> absl::Status {
    CANTDO_RETURN_IF_ERROR(Authenticate(*ctx, {kGatewayId, kAdminId}).status());
    CANTDO_RETURN_IF_ERROR(ValidateVerifyLedger(*req));
    CANTDO_ASSIGN_OR_RETURN(auto conn, pool_.Acquire(absl::Now() + absl::Seconds(10)));
    CANTDO_RETURN_IF_ERROR(Ledger::ChainAll(*conn).status());
    // The whole ledger, with checkpoints on: against the newest checkpoint
    // and the leaf hashes beside it, which live outside the database, so a
    // rewrite with every later hash recomputed is found too.
    const bool whole = req->start_sequence() <= 1 && req->end_sequence() == 0;
    if (whole && checkpointer_ != nullptr && checkpointer_->Latest().size > 0) {
      const std::vector<tlog::Hash> leaves = checkpointer_->PublishedLeaves();
      CANTDO_ASSIGN_OR_RETURN(*resp->mutable_verification(),
                              Ledger::VerifyCheckpoint(*conn, checkpointer_->Latest(), clock_.Now(), &leaves));
      return absl::OkStatus();
    }
    CANTDO_ASSIGN_OR_RETURN(*resp->mutable_verification(),
                            Ledger::Verify(*conn, req->start_sequence(), req->end_sequence(), clock_.Now()));
    return absl::OkStatus();
  });
}

::grpc::Status AuthorityServiceImpl::GetPolicy(::grpc::ServerContext* ctx, const v1::GetPolicyRequest*,
                                               v1::GetPolicyResponse* resp) {
  return Handle([&]() -> absl::Status {
    CANTDO_RETURN_IF_ERROR(Authenticate(*ctx, {kWorkerId, kGatewayId, kAdminId}).status());
    *resp->mutable_policy() = authority_.policy().proto();
    return absl::OkStatus();
  });
}

::grpc::Status AuthorityServiceImpl::GetCheckpoint(::grpc::ServerContext* ctx, const v1::GetCheckpointRequest*,
                                                   v1::GetCheckpointResponse* resp) {
  return Handle([&]() -> absl::Status {
    CANTDO_RETURN_IF_ERROR(Authenticate(*ctx, {kGatewayId, kAdminId}).status());
    CANTDO_ASSIGN_OR_RETURN(*resp->mutable_checkpoint(), proofs_.Checkpoint());
    return absl::OkStatus();
  });
}

::grpc::Status AuthorityServiceImpl::GetInclusionProof(::grpc::ServerContext* ctx,
                                                       const v1::GetInclusionProofRequest* req,
                                                       v1::GetInclusionProofResponse* resp) {
  return Handle([&]() -> absl::Status {
    CANTDO_RETURN_IF_ERROR(Authenticate(*ctx, {kGatewayId, kAdminId}).status());
    CANTDO_ASSIGN_OR_RETURN(auto conn, pool_.Acquire(absl::Now() + absl::Seconds(10)));
    CANTDO_ASSIGN_OR_RETURN(*resp, proofs_.Inclusion(*conn, *req));
    return absl::OkStatus();
  });
}

::grpc::Status AuthorityServiceImpl::GetConsistencyProof(::grpc::ServerContext* ctx,
                                                         const v1::GetConsistencyProofRequest* req,
                                                         v1::GetConsistencyProofResponse* resp) {
  return Handle([&]() -> absl::Status {
    CANTDO_RETURN_IF_ERROR(Authenticate(*ctx, {kGatewayId, kAdminId}).status());
    CANTDO_ASSIGN_OR_RETURN(auto conn, pool_.Acquire(absl::Now() + absl::Seconds(10)));
    CANTDO_ASSIGN_OR_RETURN(*resp, proofs_.Consistency(*conn, *req));
    return absl::OkStatus();
  });
}

::grpc::Status AuthorityServiceImpl::GetReceipt(::grpc::ServerContext* ctx, const v1::GetReceiptRequest* req,
                                                v1::GetReceiptResponse* resp) {
  return Handle([&]() -> absl::Status {
    CANTDO_RETURN_IF_ERROR(Authenticate(*ctx, {kGatewayId, kAdminId}).status());
    if ((req->sequence() != 0) == (req->entry_id() != 0)) {
      return InvalidArgument("sequence", "give exactly one of sequence and entry_id");
    }
    if (req->sequence() < 0) return InvalidArgument("sequence", "must be positive");
    if (req->entry_id() < 0) return InvalidArgument("entry_id", "must be positive");
    CANTDO_ASSIGN_OR_RETURN(auto conn, pool_.Acquire(absl::Now() + absl::Seconds(10)));
    int64_t sequence = req->sequence();
    if (sequence == 0) {
      CANTDO_ASSIGN_OR_RETURN(sequence, Ledger::SequenceOf(*conn, req->entry_id()));
    }
    CANTDO_ASSIGN_OR_RETURN(*resp->mutable_receipt(), proofs_.Receipt(*conn, sequence));
    return absl::OkStatus();
  });
}

}  // namespace cantdo::authority
