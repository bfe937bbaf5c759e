#include "cantdo/grpc/client_metrics.hpp"

#include <chrono>
#include <memory>

#include <grpcpp/support/client_interceptor.h>

#include "method_labels.hpp"

namespace cantdo::grpc {
namespace {

using ::grpc::experimental::InterceptionHookPoints;

struct ClientMetricFamilies {
  explicit ClientMetricFamilies(metrics::Registry& r)
      : handled(r.AddCounterFamily("cantdo_grpc_client_handled_total",
                                   "gRPC calls this process made that ended, by service, method and the status code "
                                   "it got.",
                                   {"grpc_service", "grpc_method", "grpc_code"}, {.max_children = 512})),
        seconds(r.AddHistogramFamily("cantdo_grpc_client_handling_seconds",
                                     "Time from the start of a unary gRPC call this process made to its status, in "
                                     "seconds.",
                                     {"grpc_service", "grpc_method"}, metrics::LatencyBuckets(),
                                     {.max_children = 128})) {}
  metrics::Family<metrics::Counter>& handled;
  metrics::Family<metrics::Histogram>& seconds;
};

class ClientMetricsInterceptor final : public ::grpc::experimental::Interceptor {
 public:
  ClientMetricsInterceptor(::grpc::experimental::ClientRpcInfo* info, const ClientMetricFamilies* families)
      : info_(info), families_(families), start_(std::chrono::steady_clock::now()) {}

  void Intercept(::grpc::experimental::InterceptorBatchMethods* m) override {
    if (m->QueryInterceptionHookPoint(InterceptionHookPoints::POST_RECV_STATUS)) {
      const ::grpc::Status* status = m->GetRecvStatus();
      Record(status != nullptr ? status->error_code() : ::grpc::StatusCode::UNKNOWN);
    }
    m->Proceed();
  }

 private:
  void Record(::grpc::StatusCode code) {
    auto [service, method] = internal::SplitMethod(info_->method());
    const std::string_view code_name = internal::CodeName(code);
    metrics::Counter* handled = families_->handled.Find({service, method, code_name});
    if (handled == nullptr) {
      if (!internal::KnownMethod(service, method)) service = method = "unknown";
      handled = &families_->handled.Labels({service, method, code_name});
    }
    handled->Inc();
    if (info_->type() != ::grpc::experimental::ClientRpcInfo::Type::UNARY) return;
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
    metrics::Histogram* latency = families_->seconds.Find({service, method});
    if (latency == nullptr) {
      if (!internal::KnownMethod(service, method)) service = method = "unknown";
      latency = &families_->seconds.Labels({service, method});
    }
    latency->Observe(seconds);
  }

  ::grpc::experimental::ClientRpcInfo* info_;
  const ClientMetricFamilies* families_;
  std::chrono::steady_clock::time_point start_;
};

class ClientMetricsInterceptorFactory final : public ::grpc::experimental::ClientInterceptorFactoryInterface {
 public:
  explicit ClientMetricsInterceptorFactory(std::shared_ptr<const ClientMetricFamilies> families)
      : families_(std::move(families)) {}
  ::grpc::experimental::Interceptor* CreateClientInterceptor(::grpc::experimental::ClientRpcInfo* info) override {
    return new ClientMetricsInterceptor(info, families_.get());
  }

 private:
  std::shared_ptr<const ClientMetricFamilies> families_;
};

}  // namespace

ClientInterceptorMaker MakeClientMetricsInterceptor(metrics::Registry& registry) {
  auto families = std::make_shared<const ClientMetricFamilies>(registry);
  return [families] { return std::make_unique<ClientMetricsInterceptorFactory>(families); };
}

}  // namespace cantdo::grpc
