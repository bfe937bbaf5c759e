#pragma once
// The gRPC edge of the authority: authenticates the caller by its mTLS
// identity (each RPC admits only the identities docs/api.md lists),
// validates every field with a clear INVALID_FIELD naming it, calls
// Authority, and converts statuses once.

#include "authority/authority.hpp"
#include "authority/ledger_checkpointer.hpp"
#include "authority/ledger_proofs.hpp"
#include "cantdo/authority/v1/authority_service.grpc.pb.h"

namespace cantdo::authority {

class AuthorityServiceImpl final : public v1::AuthorityService::Service {
 public:
  // `checkpointer` may be null (ledger checkpoints off); it must outlive
  // the service.
  AuthorityServiceImpl(Authority& authority, pg::Pool& pool, Clock& clock,
                       const LedgerCheckpointer* checkpointer = nullptr)
      : authority_(authority), pool_(pool), clock_(clock), checkpointer_(checkpointer), proofs_(checkpointer) {}

  ::grpc::Status RequestApproval(::grpc::ServerContext*, const v1::RequestApprovalRequest*,
                                 v1::RequestApprovalResponse*) override;
  ::grpc::Status GetApproval(::grpc::ServerContext*, const v1::GetApprovalRequest*, v1::GetApprovalResponse*) override;
  ::grpc::Status CompleteApproval(::grpc::ServerContext*, const v1::CompleteApprovalRequest*,
                                  v1::CompleteApprovalResponse*) override;
  ::grpc::Status ClaimGrant(::grpc::ServerContext*, const v1::ClaimGrantRequest*, v1::ClaimGrantResponse*) override;
  ::grpc::Status ConsumeGrant(::grpc::ServerContext*, const v1::ConsumeGrantRequest*,
                              v1::ConsumeGrantResponse*) override;
  ::grpc::Status RevokeGrant(::grpc::ServerContext*, const v1::RevokeGrantRequest*, v1::RevokeGrantResponse*) override;
  ::grpc::Status ListLedgerEntries(::grpc::ServerContext*, const v1::ListLedgerEntriesRequest*,
                                   v1::ListLedgerEntriesResponse*) override;
  ::grpc::Status VerifyLedger(::grpc::ServerContext*, const v1::VerifyLedgerRequest*,
                              v1::VerifyLedgerResponse*) override;
  ::grpc::Status GetPolicy(::grpc::ServerContext*, const v1::GetPolicyRequest*, v1::GetPolicyResponse*) override;
  ::grpc::Status GetCheckpoint(::grpc::ServerContext*, const v1::GetCheckpointRequest*,
                               v1::GetCheckpointResponse*) override;
  ::grpc::Status GetInclusionProof(::grpc::ServerContext*, const v1::GetInclusionProofRequest*,
                                   v1::GetInclusionProofResponse*) override;
  ::grpc::Status GetConsistencyProof(::grpc::ServerContext*, const v1::GetConsistencyProofRequest*,
                                     v1::GetConsistencyProofResponse*) override;
  ::grpc::Status GetReceipt(::grpc::ServerContext*, const v1::GetReceiptRequest*, v1::GetReceiptResponse*) override;

 private:
  Authority& authority_;
  pg::Pool& pool_;
  Clock& clock_;
  const LedgerCheckpointer* checkpointer_;
  LedgerProofs proofs_;
};

}  // namespace cantdo::authority
