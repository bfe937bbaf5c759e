#pragma once
// The one place where absl::Status becomes a gRPC status and back.
//
// On the wire a failure is a standard gRPC code and message plus, in the
// `grpc-status-details-bin` trailer, a google.rpc.Status whose details hold
// one google.rpc.ErrorInfo{reason, domain="cantdo.dev", metadata}. grpcurl
// prints it; every gRPC client library can decode it.

#include <grpcpp/support/status.h>

#include <utility>

#include "absl/status/status.h"

namespace cantdo::grpc {

::grpc::Status ToGrpcStatus(const absl::Status& status);

// A handler's body, written with absl::Status and CANTDO_RETURN_IF_ERROR,
// answered as its gRPC status: `return Handle([&]() -> absl::Status {...});`
template <typename Fn>
::grpc::Status Handle(Fn&& body) {
  return ToGrpcStatus(std::forward<Fn>(body)());
}

// Inverse of ToGrpcStatus: the reason and metadata come back as the
// payloads libs/base reads (GetReason, GetMetadata).
absl::Status FromGrpcStatus(const ::grpc::Status& status);

}  // namespace cantdo::grpc
