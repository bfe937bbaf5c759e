#pragma once
// cantdo.gateway.v1.LedgerService: read-only, forwarded to the authority's
// RPCs of the same names (only the authority ever touches the ledger).
// Checkpoints, proofs and receipts are open to agent platforms too: a
// platform keeps the receipts of what it was approved and consumed.

#include "cantdo/gateway/v1/ledger_service.grpc.pb.h"
#include "gateway/authority_client.hpp"
#include "gateway/call_guard.hpp"

namespace cantdo::gateway {

class LedgerServiceImpl final : public v1::LedgerService::Service {
 public:
  // Both must outlive the service.
  LedgerServiceImpl(const CallGuard& guard, const AuthorityClient& authority) : guard_(guard), authority_(authority) {}

  ::grpc::Status ListLedgerEntries(::grpc::ServerContext* ctx, const v1::ListLedgerEntriesRequest* req,
                                   v1::ListLedgerEntriesResponse* resp) override;
  ::grpc::Status VerifyLedger(::grpc::ServerContext* ctx, const v1::VerifyLedgerRequest* req,
                              v1::VerifyLedgerResponse* resp) override;
  ::grpc::Status GetCheckpoint(::grpc::ServerContext* ctx, const v1::GetCheckpointRequest* req,
                               v1::GetCheckpointResponse* resp) override;
  ::grpc::Status GetInclusionProof(::grpc::ServerContext* ctx, const v1::GetInclusionProofRequest* req,
                                   v1::GetInclusionProofResponse* resp) override;
  ::grpc::Status GetConsistencyProof(::grpc::ServerContext* ctx, const v1::GetConsistencyProofRequest* req,
                                     v1::GetConsistencyProofResponse* resp) override;
  ::grpc::Status GetReceipt(::grpc::ServerContext* ctx, const v1::GetReceiptRequest* req,
                            v1::GetReceiptResponse* resp) override;

 private:
  const CallGuard& guard_;
  const AuthorityClient& authority_;
};

}  // namespace cantdo::gateway
