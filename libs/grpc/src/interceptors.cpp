#include "cantdo/grpc/interceptors.hpp"

#include <chrono>
#include <iterator>
#include <string_view>

#include <google/protobuf/descriptor.h>
#include <grpcpp/server_context.h>

#include "absl/strings/match.h"
#include "absl/time/clock.h"
#include "cantdo/base/ids.hpp"
#include "cantdo/base/log.hpp"
#include "cantdo/base/status.hpp"
#include "cantdo/grpc/peer_identity.hpp"
#include "cantdo/grpc/status.hpp"
#include "google/rpc/error_details.pb.h"
#include "google/rpc/status.pb.h"
#include "method_labels.hpp"

namespace cantdo::grpc {
namespace {

using ::grpc::experimental::InterceptionHookPoints;

constexpr std::string_view kRequestIdHeader = "x-request-id";

bool WellFormedRequestId(std::string_view id) {
  if (id.empty() || id.size() > 128) return false;
  for (char c : id) {
    bool ok =
        (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.';
    if (!ok) return false;
  }
  return true;
}

class LoggingInterceptor final : public ::grpc::experimental::Interceptor {
 public:
  explicit LoggingInterceptor(::grpc::experimental::ServerRpcInfo* info) : info_(info), start_(absl::Now()) {}

  void Intercept(::grpc::experimental::InterceptorBatchMethods* m) override {
    if (m->QueryInterceptionHookPoint(InterceptionHookPoints::POST_RECV_INITIAL_METADATA)) {
      auto* md = m->GetRecvInitialMetadata();
      auto it = md->find(::grpc::string_ref(kRequestIdHeader.data(), kRequestIdHeader.size()));
      if (it != md->end() && WellFormedRequestId(std::string_view(it->second.data(), it->second.size()))) {
        request_id_.assign(it->second.data(), it->second.size());
      } else {
        request_id_ = NewUuid();
        if (it != md->end()) md->erase(it);
        // request_id_ outlives the call's metadata: this interceptor lives
        // as long as the call.
        md->emplace(::grpc::string_ref(kRequestIdHeader.data(), kRequestIdHeader.size()),
                    ::grpc::string_ref(request_id_));
      }
    }
    if (m->QueryInterceptionHookPoint(InterceptionHookPoints::PRE_SEND_INITIAL_METADATA)) {
      if (!request_id_.empty()) m->GetSendInitialMetadata()->emplace(std::string(kRequestIdHeader), request_id_);
    }
    if (m->QueryInterceptionHookPoint(InterceptionHookPoints::PRE_SEND_STATUS)) {
      Log(m->GetSendStatus());
    }
    m->Proceed();
  }

 private:
  void Log(const ::grpc::Status& status) {
    const std::string method = info_->method() ? info_->method() : "";
    const bool health = absl::StartsWith(method, "/grpc.health.v1.") || absl::StartsWith(method, "/grpc.reflection.");
    const log::Level level = health ? log::Level::kDebug : (status.ok() ? log::Level::kInfo : log::Level::kWarn);
    if (!log::Enabled(level)) return;
    nlohmann::json f = {
        {"method", method},
        {"code", static_cast<int>(status.error_code())},
        {"duration_ms", absl::ToDoubleMilliseconds(absl::Now() - start_)},
        {"request_id", request_id_},
    };
    if (auto* ctx = info_->server_context()) {
      if (auto peer = PeerFromContext(*ctx)) f["peer"] = peer->spiffe_id;
    }
    if (!status.ok()) {
      f["error"] = status.error_message();
      if (auto reason = GetReason(FromGrpcStatus(status))) f["reason"] = *reason;
    }
    log::Write(level, "rpc", f);
  }

  ::grpc::experimental::ServerRpcInfo* info_;
  absl::Time start_;
  std::string request_id_;
};

class LoggingInterceptorFactory final : public ::grpc::experimental::ServerInterceptorFactoryInterface {
 public:
  ::grpc::experimental::Interceptor* CreateServerInterceptor(::grpc::experimental::ServerRpcInfo* info) override {
    return new LoggingInterceptor(info);
  }
};

// gRPC's sync server deserializes the request before any hook runs; when
// that fails it hands POST_RECV_MESSAGE a null message and sends its own
// INTERNAL status without calling the handler.
class UnparseableRequestInterceptor final : public ::grpc::experimental::Interceptor {
 public:
  explicit UnparseableRequestInterceptor(::grpc::experimental::ServerRpcInfo* info) : info_(info) {}

  void Intercept(::grpc::experimental::InterceptorBatchMethods* m) override {
    if (m->QueryInterceptionHookPoint(InterceptionHookPoints::POST_RECV_MESSAGE) && m->GetRecvMessage() == nullptr) {
      unparseable_ = true;
    }
    if (unparseable_ && m->QueryInterceptionHookPoint(InterceptionHookPoints::PRE_SEND_STATUS) &&
        m->GetSendStatus().error_code() == ::grpc::StatusCode::INTERNAL) {
      const std::string method = info_->method() ? info_->method() : "";
      absl::Status st = WithReason(
          absl::InvalidArgumentError("the request message could not be parsed as " + method + "'s request type"),
          "REQUEST_UNPARSEABLE");
      m->ModifySendStatus(ToGrpcStatus(WithMetadata(std::move(st), "method", method)));
    }
    m->Proceed();
  }

 private:
  ::grpc::experimental::ServerRpcInfo* info_;
  bool unparseable_ = false;
};

class UnparseableRequestInterceptorFactory final : public ::grpc::experimental::ServerInterceptorFactoryInterface {
 public:
  ::grpc::experimental::Interceptor* CreateServerInterceptor(::grpc::experimental::ServerRpcInfo* info) override {
    using Type = ::grpc::experimental::ServerRpcInfo::Type;
    // One request message per call; elsewhere a null message is a stream's end.
    if (info->type() != Type::UNARY && info->type() != Type::SERVER_STREAMING) return nullptr;
    return new UnparseableRequestInterceptor(info);
  }
};

internal::CallMetricFamilies ServerMetricFamilies(metrics::Registry& r) {
  return {
      r.AddCounterFamily("cantdo_grpc_server_handled_total", "gRPC calls answered, by service, method and status code.",
                         {"grpc_service", "grpc_method", "grpc_code"}, {.max_children = 2048}),
      r.AddHistogramFamily("cantdo_grpc_server_handling_seconds",
                           "Time from the start of a unary gRPC call to its status, in seconds.",
                           {"grpc_service", "grpc_method"}, metrics::LatencyBuckets(), {.max_children = 256})};
}

class MetricsInterceptor final : public ::grpc::experimental::Interceptor {
 public:
  MetricsInterceptor(::grpc::experimental::ServerRpcInfo* info, const internal::CallMetricFamilies* families)
      : info_(info), families_(families), start_(std::chrono::steady_clock::now()) {}

  void Intercept(::grpc::experimental::InterceptorBatchMethods* m) override {
    if (m->QueryInterceptionHookPoint(InterceptionHookPoints::PRE_SEND_STATUS)) {
      Record(m->GetSendStatus().error_code());
    }
    m->Proceed();
  }

 private:
  void Record(::grpc::StatusCode code) {
    std::optional<double> seconds;
    if (info_->type() == ::grpc::experimental::ServerRpcInfo::Type::UNARY) {
      seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
    }
    internal::RecordCall(*families_, info_->method(), code, seconds);
  }

  ::grpc::experimental::ServerRpcInfo* info_;
  const internal::CallMetricFamilies* families_;
  std::chrono::steady_clock::time_point start_;
};

class MetricsInterceptorFactory final : public ::grpc::experimental::ServerInterceptorFactoryInterface {
 public:
  explicit MetricsInterceptorFactory(metrics::Registry& registry) : families_(ServerMetricFamilies(registry)) {}
  ::grpc::experimental::Interceptor* CreateServerInterceptor(::grpc::experimental::ServerRpcInfo* info) override {
    return new MetricsInterceptor(info, &families_);
  }

 private:
  internal::CallMetricFamilies families_;
};

}  // namespace

std::unique_ptr<::grpc::experimental::ServerInterceptorFactoryInterface> MakeMetricsInterceptorFactory(
    metrics::Registry& registry) {
  return std::make_unique<MetricsInterceptorFactory>(registry);
}

std::unique_ptr<::grpc::experimental::ServerInterceptorFactoryInterface> MakeUnparseableRequestInterceptorFactory() {
  return std::make_unique<UnparseableRequestInterceptorFactory>();
}

std::unique_ptr<::grpc::experimental::ServerInterceptorFactoryInterface> MakeLoggingInterceptorFactory() {
  return std::make_unique<LoggingInterceptorFactory>();
}

std::string RequestId(const ::grpc::ServerContextBase& ctx) {
  const auto& md = ctx.client_metadata();
  auto it = md.find(::grpc::string_ref(kRequestIdHeader.data(), kRequestIdHeader.size()));
  if (it == md.end()) return "";
  return std::string(it->second.data(), it->second.size());
}

}  // namespace cantdo::grpc
