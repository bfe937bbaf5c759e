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

}  // namespace cantdo::gateway
