#pragma once
// Label values of the gRPC metrics, shared by the server and client
// interceptors (internal to libs/grpc).

#include <string_view>

#include <grpcpp/support/status_code_enum.h>

namespace cantdo::grpc::internal {

// gRPC's status code names, as the gRPC specification spells them.
std::string_view CodeName(::grpc::StatusCode code);

// Whether `service`.`method` is declared by a protobuf service this binary
// links (every service we serve or call is).
bool KnownMethod(std::string_view service, std::string_view method);

// "/package.Service/Method" split into its service and method ("" parts
// when the name is not of that form).
struct MethodName {
  std::string_view service;
  std::string_view method;
};
MethodName SplitMethod(const char* full_method);

}  // namespace cantdo::grpc::internal
