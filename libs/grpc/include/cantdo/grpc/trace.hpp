#pragma once
// W3C trace context over gRPC metadata (cantdo/base/trace_context.hpp).
//
// Server side: every call runs under a trace. The caller's `traceparent`
// if it is well-formed (its trace id and parent id as received), else a new
// trace: a malformed header is ignored, never an error, as the
// specification asks. The interceptor makes it the handler thread's current
// context (gRPC's sync server runs the hooks before and after the handler
// on the handler's thread; the request log line is written inside them)
// and rewrites the call's `traceparent` metadata to the context in force.
//
// Client side: calls made while a thread has a current context carry it
// (a new parent id, the same trace id) unless the ClientContext already
// names a traceparent.

#include <memory>

#include <grpcpp/support/client_interceptor.h>
#include <grpcpp/support/server_interceptor.h>

#include "cantdo/base/trace_context.hpp"

namespace cantdo::grpc {

// Install first, so the other interceptors' hooks and the handler run
// under the call's trace.
std::unique_ptr<::grpc::experimental::ServerInterceptorFactoryInterface> MakeTraceServerInterceptorFactory();

// For channels (MakeMtlsChannel and MakeTlsChannel install it).
std::unique_ptr<::grpc::experimental::ClientInterceptorFactoryInterface> MakeTraceClientInterceptorFactory();

}  // namespace cantdo::grpc
