#include "cantdo/grpc/trace.hpp"

#include <string>
#include <string_view>
#include <thread>

#include <grpcpp/client_context.h>
#include <optional>

namespace cantdo::grpc {
namespace {

using ::grpc::experimental::InterceptionHookPoints;

::grpc::string_ref HeaderRef() {
  return ::grpc::string_ref(trace::kTraceparentHeader.data(), trace::kTraceparentHeader.size());
}

class TraceServerInterceptor final : public ::grpc::experimental::Interceptor {
 public:
  void Intercept(::grpc::experimental::InterceptorBatchMethods* m) override {
    if (m->QueryInterceptionHookPoint(InterceptionHookPoints::POST_RECV_INITIAL_METADATA)) {
      auto* md = m->GetRecvInitialMetadata();
      std::optional<trace::TraceContext> ctx;
      // One traceparent only: several (or a malformed one) start a new trace.
      if (md->count(HeaderRef()) == 1) {
        auto it = md->find(HeaderRef());
        ctx = trace::ParseTraceparent(std::string_view(it->second.data(), it->second.size()));
      }
      if (!ctx) ctx = trace::NewTrace();
      md->erase(HeaderRef());
      // The stored text outlives the call's metadata: this interceptor lives
      // as long as the call.
      traceparent_ = trace::FormatTraceparent(*ctx);
      md->emplace(HeaderRef(), ::grpc::string_ref(traceparent_));
      // The handler's thread runs under the trace until the status is sent.
      Enter(std::move(*ctx));
    }
    if (m->QueryInterceptionHookPoint(InterceptionHookPoints::PRE_SEND_STATUS)) {
      m->Proceed();  // the later interceptors (the request log) run in here
      Leave();
      return;
    }
    m->Proceed();
  }

  ~TraceServerInterceptor() override { Leave(); }

 private:
  // gRPC's sync server runs POST_RECV_INITIAL_METADATA, the handler and
  // PRE_SEND_STATUS on one thread. Only that thread's context is touched:
  // if the call ends elsewhere (cancelled before its status), the thread
  // keeps the call's context until its next call replaces it (a sync-server
  // thread runs nothing but calls).
  void Enter(trace::TraceContext ctx) {
    Leave();
    previous_ = trace::ExchangeCurrent(std::move(ctx));
    thread_ = std::this_thread::get_id();
    entered_ = true;
  }
  void Leave() {
    if (!entered_ || thread_ != std::this_thread::get_id()) return;
    trace::ExchangeCurrent(std::move(previous_));
    entered_ = false;
  }

  std::string traceparent_;
  bool entered_ = false;
  std::thread::id thread_;
  std::optional<trace::TraceContext> previous_;
};

class TraceServerInterceptorFactory final : public ::grpc::experimental::ServerInterceptorFactoryInterface {
 public:
  ::grpc::experimental::Interceptor* CreateServerInterceptor(::grpc::experimental::ServerRpcInfo*) override {
    return new TraceServerInterceptor();
  }
};

class TraceClientInterceptor final : public ::grpc::experimental::Interceptor {
 public:
  // Created on the calling thread, with the call.
  explicit TraceClientInterceptor(::grpc::experimental::ClientRpcInfo* /*info*/) {
    if (const trace::TraceContext* current = trace::Current()) {
      traceparent_ = trace::FormatTraceparent(trace::ChildOf(*current));
    }
  }

  void Intercept(::grpc::experimental::InterceptorBatchMethods* m) override {
    if (!traceparent_.empty() && m->QueryInterceptionHookPoint(InterceptionHookPoints::PRE_SEND_INITIAL_METADATA)) {
      auto* md = m->GetSendInitialMetadata();
      if (md->find(std::string(trace::kTraceparentHeader)) == md->end()) {
        md->emplace(std::string(trace::kTraceparentHeader), traceparent_);
      }
    }
    m->Proceed();
  }

 private:
  std::string traceparent_;
};

class TraceClientInterceptorFactory final : public ::grpc::experimental::ClientInterceptorFactoryInterface {
 public:
  ::grpc::experimental::Interceptor* CreateClientInterceptor(::grpc::experimental::ClientRpcInfo* info) override {
    return new TraceClientInterceptor(info);
  }
};

}  // namespace

std::unique_ptr<::grpc::experimental::ServerInterceptorFactoryInterface> MakeTraceServerInterceptorFactory() {
  return std::make_unique<TraceServerInterceptorFactory>();
}

std::unique_ptr<::grpc::experimental::ClientInterceptorFactoryInterface> MakeTraceClientInterceptorFactory() {
  return std::make_unique<TraceClientInterceptorFactory>();
}

}  // namespace cantdo::grpc
