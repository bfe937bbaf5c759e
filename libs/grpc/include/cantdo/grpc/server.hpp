#pragma once
// The bootstrap every service shares: a TLS gRPC server with standard
// grpc.health.v1 health, server reflection (grpcurl list/describe), a
// request-logging interceptor, and graceful shutdown.
//
// Health is truthful: NOT_SERVING until the service's readiness check
// (e.g. "Postgres reachable and schema current") passes, re-evaluated
// periodically, and NOT_SERVING again from the moment shutdown begins.

#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <grpcpp/server.h>
#include <grpcpp/impl/service_type.h>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "cantdo/grpc/tls.hpp"
#include "cantdo/metrics/registry.hpp"

namespace cantdo::grpc {

struct ServerConfig {
  std::string service_name;    // for logs, e.g. "authority"
  std::string listen_address;  // "host:port"; port 0 picks a free one
  TlsMaterial tls;
  ClientCertPolicy client_certs = ClientCertPolicy::kRequireAndVerify;
  absl::Duration readiness_interval = absl::Seconds(2);
  // How long in-flight calls may run after shutdown starts before they are
  // cancelled. Keep below Kubernetes' terminationGracePeriodSeconds.
  absl::Duration shutdown_grace = absl::Seconds(20);
  // Request threads kept waiting for the next call once busy (gRPC's
  // sync-server MAX_POLLERS; its default is 2). With more concurrent callers
  // than this, gRPC starts and ends a thread for most calls (measured: one
  // thread created per two calls at 8 clients). Threads are still started on
  // demand beyond it; this bounds only the idle ones.
  int idle_request_threads = 16;
  // A connection older than this is ended with GOAWAY (calls in flight get
  // `max_connection_age_grace` to finish), so clients re-resolve a headless
  // Service and spread over pods added since they connected. Zero: never.
  absl::Duration max_connection_age = absl::ZeroDuration();
  absl::Duration max_connection_age_grace = absl::Seconds(30);
  // Where calls are counted (MakeMetricsInterceptorFactory); none if null.
  // Must outlive the Server, and serve one Server only.
  metrics::Registry* metrics = nullptr;
};

// Returns OK when the service can do its job.
using ReadinessCheck = std::function<absl::Status()>;

class Server {
 public:
  // Starts serving `services` (not owned; they must outlive the Server).
  // The first readiness check runs before Start returns.
  static absl::StatusOr<std::unique_ptr<Server>> Start(ServerConfig config, std::vector<::grpc::Service*> services,
                                                       ReadinessCheck readiness);
  ~Server();  // Shutdown() if not done yet.

  int port() const { return port_; }
  bool serving() const;

  // Stops accepting calls, reports NOT_SERVING, lets in-flight calls finish
  // within shutdown_grace, then cancels the rest. Idempotent.
  void Shutdown();

 private:
  Server(ServerConfig config, ReadinessCheck readiness);
  void EvaluateReadiness();
  void ReadinessLoop();

  ServerConfig config_;
  ReadinessCheck readiness_;
  std::unique_ptr<::grpc::Server> server_;
  int port_ = 0;

  mutable absl::Mutex mu_;
  bool serving_ ABSL_GUARDED_BY(mu_) = false;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::string last_problem_ ABSL_GUARDED_BY(mu_);
  std::thread readiness_thread_;
};

}  // namespace cantdo::grpc
