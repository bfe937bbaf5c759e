#include "cantdo/grpc/server.hpp"

#include <algorithm>

#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/health_check_service_interface.h>
#include <grpcpp/server_builder.h>

#include "absl/strings/str_cat.h"
#include "cantdo/base/log.hpp"
#include "cantdo/grpc/interceptors.hpp"
#include "cantdo/grpc/trace.hpp"
#include "grpc/health/v1/health.pb.h"

namespace cantdo::grpc {

Server::Server(ServerConfig config, ReadinessCheck readiness)
    : config_(std::move(config)), readiness_(std::move(readiness)) {}

absl::StatusOr<std::unique_ptr<Server>> Server::Start(ServerConfig config, std::vector<::grpc::Service*> services,
                                                      ReadinessCheck readiness) {
  static const bool process_init = [] {
    // Links the grpc.health.v1 descriptors into every service, so that
    // reflection can describe the health service (grpcurl needs it to call
    // grpc.health.v1.Health/Check).
    (void)::grpc::health::v1::HealthCheckRequest::descriptor();
    ::grpc::EnableDefaultHealthCheckService(true);
    ::grpc::reflection::InitProtoReflectionServerBuilderPlugin();
#ifdef NDEBUG
    // Debian's Abseil checks every Mutex acquisition for lock-order cycles
    // (gRPC's locks are absl::Mutex): a debugging aid that cost about 1 % of
    // a busy service's CPU. Debug builds keep it.
    absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
#endif
    return true;
  }();
  (void)process_init;

  std::unique_ptr<Server> self(new Server(std::move(config), std::move(readiness)));
  ::grpc::ServerBuilder builder;
  builder.AddListeningPort(self->config_.listen_address,
                           MakeServerCredentials(self->config_.tls, self->config_.client_certs), &self->port_);
  for (auto* s : services) builder.RegisterService(s);
  builder.SetSyncServerOption(::grpc::ServerBuilder::SyncServerOption::MAX_POLLERS,
                              std::max(1, self->config_.idle_request_threads));
  // Our messages are small: bandwidth-delay probing (HTTP/2 PINGs to size
  // flow-control windows for bulk transfers) only adds writes and wake-ups.
  builder.AddChannelArgument(GRPC_ARG_HTTP2_BDP_PROBE, 0);
  if (self->config_.max_connection_age > absl::ZeroDuration()) {
    builder.AddChannelArgument(GRPC_ARG_MAX_CONNECTION_AGE_MS,
                               static_cast<int>(absl::ToInt64Milliseconds(self->config_.max_connection_age)));
    builder.AddChannelArgument(GRPC_ARG_MAX_CONNECTION_AGE_GRACE_MS,
                               static_cast<int>(absl::ToInt64Milliseconds(self->config_.max_connection_age_grace)));
  }
  std::vector<std::unique_ptr<::grpc::experimental::ServerInterceptorFactoryInterface>> interceptors;
  interceptors.push_back(MakeTraceServerInterceptorFactory());
  interceptors.push_back(MakeUnparseableRequestInterceptorFactory());
  if (self->config_.metrics != nullptr) interceptors.push_back(MakeMetricsInterceptorFactory(*self->config_.metrics));
  interceptors.push_back(MakeLoggingInterceptorFactory());
  builder.experimental().SetInterceptorCreators(std::move(interceptors));

  self->server_ = builder.BuildAndStart();
  if (!self->server_ || self->port_ == 0) {
    return absl::UnavailableError(absl::StrCat("cannot listen on ", self->config_.listen_address,
                                               " (address in use, or bad TLS key/certificate)"));
  }
  // The default health service starts out SERVING; correct it at once.
  self->server_->GetHealthCheckService()->SetServingStatus(false);
  self->EvaluateReadiness();
  self->readiness_thread_ = std::thread([s = self.get()] { s->ReadinessLoop(); });
  log::Info("listening", {{"address", self->config_.listen_address}, {"port", self->port_}});
  return self;
}

Server::~Server() { Shutdown(); }

bool Server::serving() const {
  absl::MutexLock lock(&mu_);
  return serving_;
}

void Server::EvaluateReadiness() {
  absl::Status st = readiness_ ? readiness_() : absl::OkStatus();
  absl::MutexLock lock(&mu_);
  if (stopping_) return;
  const bool now_serving = st.ok();
  const std::string problem = st.ok() ? "" : std::string(st.message());
  if (now_serving != serving_ || problem != last_problem_) {
    if (now_serving) {
      log::Info("health SERVING");
    } else {
      log::Warn("health NOT_SERVING", {{"problem", problem}});
    }
  }
  serving_ = now_serving;
  last_problem_ = problem;
  server_->GetHealthCheckService()->SetServingStatus(now_serving);
}

void Server::ReadinessLoop() {
  while (true) {
    {
      absl::MutexLock lock(&mu_);
      auto stop = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return stopping_; };
      mu_.AwaitWithTimeout(absl::Condition(&stop), config_.readiness_interval);
      if (stopping_) return;
    }
    EvaluateReadiness();
  }
}

void Server::Shutdown() {
  {
    absl::MutexLock lock(&mu_);
    if (stopping_) return;
    stopping_ = true;
    serving_ = false;
  }
  if (readiness_thread_.joinable()) readiness_thread_.join();
  if (server_) {
    log::Info("shutting down", {{"grace_s", absl::ToDoubleSeconds(config_.shutdown_grace)}});
    server_->GetHealthCheckService()->SetServingStatus(false);
    server_->Shutdown(std::chrono::system_clock::now() + absl::ToChronoNanoseconds(config_.shutdown_grace));
    server_->Wait();
  }
}

}  // namespace cantdo::grpc
