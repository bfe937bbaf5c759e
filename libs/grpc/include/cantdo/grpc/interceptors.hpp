#pragma once
// Server interceptors shared by all services.

#include <memory>
#include <string>

#include <grpcpp/support/server_interceptor.h>

#include "cantdo/metrics/registry.hpp"

namespace cantdo::grpc {

// Logs one JSON line per call (method, peer identity, code, reason,
// duration, request id) and guarantees every call has a request id: the
// caller's `x-request-id` if well-formed (≤128 chars of [A-Za-z0-9._-]),
// else a new UUID. Handlers read it with RequestId(); it is echoed in the
// response's initial metadata. Health checks log at debug level only.
std::unique_ptr<::grpc::experimental::ServerInterceptorFactoryInterface> MakeLoggingInterceptorFactory();

// Answers a request message that could not be parsed (not protobuf wire
// format, a string that is not UTF-8, nesting beyond protobuf's limit) with
// INVALID_ARGUMENT, reason REQUEST_UNPARSEABLE and metadata `method`: the
// caller's fault, where gRPC itself answers INTERNAL with an empty message.
// Unary and server-streaming methods (one request message; for a client
// stream a missing message means its end). Install it before the logging
// interceptor so the log shows the status the caller gets.
std::unique_ptr<::grpc::experimental::ServerInterceptorFactoryInterface> MakeUnparseableRequestInterceptorFactory();

// Counts every call in `registry` (which must outlive the server):
//   cantdo_grpc_server_handled_total{grpc_service, grpc_method, grpc_code}
//     calls answered, by the status code sent (OK, PERMISSION_DENIED, ...);
//   cantdo_grpc_server_handling_seconds{grpc_service, grpc_method}
//     histogram of the time from the call's start to its status, unary
//     calls only (a stream lasts as long as its client wants).
// A method no protobuf service linked into the binary declares (a client
// calling one that does not exist) counts as service and method "unknown",
// so callers cannot grow the label sets. Per call: two lock-free lookups and
// atomic updates; the first call of a (method, code) takes a lock once.
// Install it after the unparseable-request interceptor, so it counts the
// status the caller gets.
std::unique_ptr<::grpc::experimental::ServerInterceptorFactoryInterface> MakeMetricsInterceptorFactory(
    metrics::Registry& registry);

// The call's request id (see above); "" outside an intercepted call.
std::string RequestId(const ::grpc::ServerContextBase& ctx);

}  // namespace cantdo::grpc
