#include "gateway/ledger_service.hpp"

#include "cantdo/base/status.hpp"
#include "cantdo/grpc/status.hpp"
#include "gateway/validation.hpp"

namespace cantdo::gateway {

namespace av1 = authority::v1;

::grpc::Status LedgerServiceImpl::ListLedgerEntries(::grpc::ServerContext* ctx, const v1::ListLedgerEntriesRequest* req,
                                                    v1::ListLedgerEntriesResponse* resp) {
  return cantdo::grpc::ToGrpcStatus([&]() -> absl::Status {
    CANTDO_RETURN_IF_ERROR(guard_.Admit(*ctx, {Role::kOperator, Role::kAuditor}).status());
    CANTDO_RETURN_IF_ERROR(ValidateListLedgerEntries(*req));
    av1::ListLedgerEntriesRequest fwd;
    fwd.set_page_size(req->page_size());
    fwd.set_page_token(req->page_token());
    *fwd.mutable_filter() = req->filter();
    fwd.set_start_sequence(req->start_sequence());
    CANTDO_ASSIGN_OR_RETURN(av1::ListLedgerEntriesResponse got, authority_.ListLedgerEntries(fwd));
    *resp->mutable_entries() = got.entries();
    resp->set_next_page_token(got.next_page_token());
    return absl::OkStatus();
  }());
}

::grpc::Status LedgerServiceImpl::VerifyLedger(::grpc::ServerContext* ctx, const v1::VerifyLedgerRequest* req,
                                               v1::VerifyLedgerResponse* resp) {
  return cantdo::grpc::ToGrpcStatus([&]() -> absl::Status {
    CANTDO_RETURN_IF_ERROR(guard_.Admit(*ctx, {Role::kOperator, Role::kAuditor}).status());
    CANTDO_RETURN_IF_ERROR(ValidateVerifyLedger(*req));
    av1::VerifyLedgerRequest fwd;
    fwd.set_start_sequence(req->start_sequence());
    fwd.set_end_sequence(req->end_sequence());
    CANTDO_ASSIGN_OR_RETURN(av1::VerifyLedgerResponse got, authority_.VerifyLedger(fwd));
    *resp->mutable_verification() = got.verification();
    return absl::OkStatus();
  }());
}

// Who may read checkpoints, proofs and receipts: everything in them is
// about entries a caller of the ledger API may see, and a platform needs
// them for its own receipts.
const std::vector<Role> kProofReaders = {Role::kOperator, Role::kAuditor, Role::kAgentPlatform};

::grpc::Status LedgerServiceImpl::GetCheckpoint(::grpc::ServerContext* ctx, const v1::GetCheckpointRequest*,
                                                v1::GetCheckpointResponse* resp) {
  return cantdo::grpc::ToGrpcStatus([&]() -> absl::Status {
    CANTDO_RETURN_IF_ERROR(guard_.Admit(*ctx, kProofReaders).status());
    CANTDO_ASSIGN_OR_RETURN(av1::GetCheckpointResponse got, authority_.GetCheckpoint());
    *resp->mutable_checkpoint() = got.checkpoint();
    return absl::OkStatus();
  }());
}

::grpc::Status LedgerServiceImpl::GetInclusionProof(::grpc::ServerContext* ctx, const v1::GetInclusionProofRequest* req,
                                                    v1::GetInclusionProofResponse* resp) {
  return cantdo::grpc::ToGrpcStatus([&]() -> absl::Status {
    CANTDO_RETURN_IF_ERROR(guard_.Admit(*ctx, kProofReaders).status());
    if (req->sequence() <= 0) return InvalidArgument("sequence", "must be positive");
    if (req->tree_size() < 0) return InvalidArgument("tree_size", "must not be negative");
    av1::GetInclusionProofRequest fwd;
    fwd.set_sequence(req->sequence());
    fwd.set_tree_size(req->tree_size());
    CANTDO_ASSIGN_OR_RETURN(av1::GetInclusionProofResponse got, authority_.GetInclusionProof(fwd));
    resp->set_leaf_index(got.leaf_index());
    resp->set_tree_size(got.tree_size());
    *resp->mutable_hashes() = got.hashes();
    resp->set_document(got.document());
    return absl::OkStatus();
  }());
}

::grpc::Status LedgerServiceImpl::GetConsistencyProof(::grpc::ServerContext* ctx,
                                                      const v1::GetConsistencyProofRequest* req,
                                                      v1::GetConsistencyProofResponse* resp) {
  return cantdo::grpc::ToGrpcStatus([&]() -> absl::Status {
    CANTDO_RETURN_IF_ERROR(guard_.Admit(*ctx, kProofReaders).status());
    if (req->old_size() <= 0) return InvalidArgument("old_size", "must be positive");
    if (req->new_size() < 0) return InvalidArgument("new_size", "must not be negative");
    av1::GetConsistencyProofRequest fwd;
    fwd.set_old_size(req->old_size());
    fwd.set_new_size(req->new_size());
    CANTDO_ASSIGN_OR_RETURN(av1::GetConsistencyProofResponse got, authority_.GetConsistencyProof(fwd));
    resp->set_old_size(got.old_size());
    resp->set_new_size(got.new_size());
    *resp->mutable_hashes() = got.hashes();
    return absl::OkStatus();
  }());
}

::grpc::Status LedgerServiceImpl::GetReceipt(::grpc::ServerContext* ctx, const v1::GetReceiptRequest* req,
                                             v1::GetReceiptResponse* resp) {
  return cantdo::grpc::ToGrpcStatus([&]() -> absl::Status {
    CANTDO_RETURN_IF_ERROR(guard_.Admit(*ctx, kProofReaders).status());
    if ((req->sequence() != 0) == (req->entry_id() != 0)) {
      return InvalidArgument("sequence", "give exactly one of sequence and entry_id");
    }
    if (req->sequence() < 0) return InvalidArgument("sequence", "must be positive");
    if (req->entry_id() < 0) return InvalidArgument("entry_id", "must be positive");
    av1::GetReceiptRequest fwd;
    fwd.set_sequence(req->sequence());
    fwd.set_entry_id(req->entry_id());
    CANTDO_ASSIGN_OR_RETURN(av1::GetReceiptResponse got, authority_.GetReceipt(fwd));
    *resp->mutable_receipt() = got.receipt();
    return absl::OkStatus();
  }());
}

}  // namespace cantdo::gateway
