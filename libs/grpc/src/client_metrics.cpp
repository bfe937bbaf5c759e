#include "cantdo/grpc/client_metrics.hpp"

#include <chrono>
#include <memory>

#include <grpcpp/support/client_interceptor.h>

#include "method_labels.hpp"

namespace cantdo::grpc {
namespace {

using ::grpc::experimental::InterceptionHookPoints;

internal::CallMetricFamilies ClientMetricFamilies(metrics::Registry& r) {
  return {r.AddCounterFamily("cantdo_grpc_client_handled_total",
                             "gRPC calls this process made that ended, by service, method and the status code it got.",
                             {"grpc_service", "grpc_method", "grpc_code"}, {.max_children = 512}),
          r.AddHistogramFamily("cantdo_grpc_client_handling_seconds",
                               "Time from the start of a unary gRPC call this process made to its status, in seconds.",
                               {"grpc_service", "grpc_method"}, metrics::LatencyBuckets(), {.max_children = 128})};
}

class ClientMetricsInterceptor final : public ::grpc::experimental::Interceptor {
 public:
  ClientMetricsInterceptor(::grpc::experimental::ClientRpcInfo* info, const internal::CallMetricFamilies* families)
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
    std::optional<double> seconds;
    if (info_->type() == ::grpc::experimental::ClientRpcInfo::Type::UNARY) {
      seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
    }
    internal::RecordCall(*families_, info_->method(), code, seconds);
  }

  ::grpc::experimental::ClientRpcInfo* info_;
  const internal::CallMetricFamilies* families_;
  std::chrono::steady_clock::time_point start_;
};

class ClientMetricsInterceptorFactory final : public ::grpc::experimental::ClientInterceptorFactoryInterface {
 public:
  explicit ClientMetricsInterceptorFactory(std::shared_ptr<const internal::CallMetricFamilies> families)
      : families_(std::move(families)) {}
  ::grpc::experimental::Interceptor* CreateClientInterceptor(::grpc::experimental::ClientRpcInfo* info) override {
    return new ClientMetricsInterceptor(info, families_.get());
  }

 private:
  std::shared_ptr<const internal::CallMetricFamilies> families_;
};

}  // namespace

ClientInterceptorMaker MakeClientMetricsInterceptor(metrics::Registry& registry) {
  auto families = std::make_shared<const internal::CallMetricFamilies>(ClientMetricFamilies(registry));
  return [families] { return std::make_unique<ClientMetricsInterceptorFactory>(families); };
}

}  // namespace cantdo::grpc
