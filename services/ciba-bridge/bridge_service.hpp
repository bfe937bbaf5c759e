#pragma once
// CibaBridgeService handlers: thin. Each checks the caller is the authority
// (mTLS identity), validates, and calls the store/engine; statuses become
// gRPC statuses once, at the end (libs/grpc ToGrpcStatus).

#include "cantdo/bridge/v1/ciba_bridge_service.grpc.pb.h"
#include "ciba-bridge/bridge_config.hpp"
#include "ciba-bridge/ciba_engine.hpp"
#include "ciba-bridge/ciba_request_store.hpp"

namespace cantdo::bridge {

// The public view of a stored request.
v1::BackchannelAuthentication ToProto(const CibaRequestRow& row);

class BridgeService final : public v1::CibaBridgeService::Service {
 public:
  BridgeService(const BridgeConfig& config, PgCibaRequestStore& store, CibaEngine& engine)
      : config_(config), store_(store), engine_(engine) {}

  ::grpc::Status StartBackchannelAuthentication(::grpc::ServerContext* ctx,
                                                const v1::StartBackchannelAuthenticationRequest* request,
                                                v1::StartBackchannelAuthenticationResponse* response) override;
  ::grpc::Status GetBackchannelAuthentication(::grpc::ServerContext* ctx,
                                              const v1::GetBackchannelAuthenticationRequest* request,
                                              v1::GetBackchannelAuthenticationResponse* response) override;
  ::grpc::Status CancelBackchannelAuthentication(::grpc::ServerContext* ctx,
                                                 const v1::CancelBackchannelAuthenticationRequest* request,
                                                 v1::CancelBackchannelAuthenticationResponse* response) override;

 private:
  absl::Status Start(const v1::StartBackchannelAuthenticationRequest& request,
                     v1::StartBackchannelAuthenticationResponse* response);

  const BridgeConfig& config_;
  PgCibaRequestStore& store_;
  CibaEngine& engine_;
};

}  // namespace cantdo::bridge
