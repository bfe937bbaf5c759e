#pragma once
// cantdo.gateway.v1.LedgerService: read-only, forwarded to the authority's
// RPCs of the same names (only the authority ever touches the ledger).

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

 private:
  const CallGuard& guard_;
  const AuthorityClient& authority_;
};

}  // namespace cantdo::gateway
