#pragma once
// gRPC client metrics: what a service sees of the services it calls (the
// gateway of the authority, the authority of the ciba-bridge, the worker
// and the bridge of the authority). The server side is in interceptors.hpp.

#include "cantdo/grpc/tls.hpp"
#include "cantdo/metrics/registry.hpp"

namespace cantdo::grpc {

// Registers in `registry`, once:
//   cantdo_grpc_client_handled_total{grpc_service, grpc_method, grpc_code}
//     calls this process made that ended, by the status code it got (OK,
//     UNAVAILABLE when the peer could not be reached, DEADLINE_EXCEEDED, ...);
//   cantdo_grpc_client_handling_seconds{grpc_service, grpc_method}
//     histogram of the time from a unary call's start to its status, as the
//     caller waited for it (1 ms .. 10 s buckets).
// and returns what makes the interceptor of a channel: put it in
// TlsMaterial::client_interceptors and every channel made from that
// material counts its calls. Label values as on the server: a method no
// protobuf service linked into the binary declares counts as "unknown".
// `registry` must outlive every call made through those channels (as the
// runtime's does: services stop their clients before it goes away).
ClientInterceptorMaker MakeClientMetricsInterceptor(metrics::Registry& registry);

}  // namespace cantdo::grpc
