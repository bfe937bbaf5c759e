#pragma once
// Label values of the gRPC metrics, and the recording of one finished call,
// shared by the server and client interceptors (internal to libs/grpc).

#include <optional>
#include <string_view>

#include <grpcpp/support/status_code_enum.h>

#include "cantdo/metrics/registry.hpp"

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

// One side's (server or client) call metrics.
struct CallMetricFamilies {
  metrics::Family<metrics::Counter>& handled;    // {grpc_service, grpc_method, grpc_code}
  metrics::Family<metrics::Histogram>& seconds;  // {grpc_service, grpc_method}
};

// Counts one finished call of `full_method` ("/package.Service/Method") that
// ended with `code`, and observes `seconds` when given (unary calls). A
// method no linked protobuf service declares is labelled service and method
// "unknown", so a caller cannot grow the label sets.
void RecordCall(const CallMetricFamilies& families, const char* full_method, ::grpc::StatusCode code,
                std::optional<double> seconds);

}  // namespace cantdo::grpc::internal
