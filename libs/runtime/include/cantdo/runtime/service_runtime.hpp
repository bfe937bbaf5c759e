#pragma once
// What every cantdo service shares at run time: the common options (listen
// address, TLS files, database DSN, log level), a Postgres pool, a readiness
// check (database reachable and schema within this binary's compatibility
// window, docs/database.md), the metrics registry and its endpoint
// (--metrics-listen, metrics_endpoint.hpp), and the serve-until-SIGTERM loop.
//
// A service implements ServiceApp in its <svc>_lib; its main.cpp only calls
// RunServiceMain. Tests start the same app in-process with StartService.
// The schema is the app's to name (ServiceApp::Migrations): the runtime
// knows no product's tables.

#include <memory>
#include <string>
#include <vector>

#include <grpcpp/impl/service_type.h>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "cantdo/base/clock.hpp"
#include "cantdo/base/config.hpp"
#include "cantdo/grpc/server.hpp"
#include "cantdo/grpc/tls.hpp"
#include "cantdo/metrics/registry.hpp"
#include "cantdo/pg/migrator.hpp"
#include "cantdo/pg/pool.hpp"
#include "cantdo/runtime/metrics_endpoint.hpp"

namespace cantdo::runtime {

struct CommonConfig {
  std::string listen;    // host:port
  std::string tls_cert;  // PEM file: this service's certificate chain
  std::string tls_key;   // PEM file: its private key
  std::string tls_ca;    // PEM file: CA bundle peers must chain to
  std::string db_dsn;    // libpq conninfo or URI, as this service's role
  int db_pool_size = 8;
  absl::Duration db_connect_timeout = absl::Seconds(5);
  bool db_prepared_statements = true;
  absl::Duration shutdown_grace = absl::Seconds(20);
  // Zero: connections live as long as clients keep them (see ServerConfig).
  absl::Duration grpc_max_connection_age = absl::ZeroDuration();
  absl::Duration grpc_max_connection_age_grace = absl::Seconds(30);
  std::string log_level = "info";
  // Prometheus metrics at GET /metrics on this host:port; empty: not served.
  // HTTPS with tls_cert/tls_key, or plain HTTP on a loopback address unless
  // metrics_tls (MetricsEndpoint).
  std::string metrics_listen;
  bool metrics_tls = false;
};

// Everything a service gets once the runtime is up. Outlives the app's
// services.
struct RuntimeContext {
  const CommonConfig* config = nullptr;
  grpc::TlsMaterial tls;
  pg::Pool* pool = nullptr;
  Clock* clock = nullptr;
  // Where the app registers its metrics (the runtime's own, gRPC and the
  // pool's, are there already). Never null.
  metrics::Registry* metrics = nullptr;
};

class ServiceApp {
 public:
  virtual ~ServiceApp() = default;
  // Short name: "gateway", "authority", "worker", "ciba-bridge".
  virtual std::string Name() const = 0;
  // Default listen address, e.g. "0.0.0.0:8443".
  virtual std::string DefaultListen() const = 0;
  // Clients must present a CA-signed certificate (internal services), or
  // may (the public gateway, whose callers can use bearer tokens).
  virtual grpc::ClientCertPolicy ClientCerts() const { return grpc::ClientCertPolicy::kRequireAndVerify; }
  // Adds the service's own options to the common ones.
  virtual void RegisterOptions(Options& /*options*/) {}
  // Builds handlers and background work. Called once, before serving.
  virtual absl::Status Init(const RuntimeContext& ctx) = 0;
  // The gRPC services to serve (owned by the app).
  virtual std::vector<::grpc::Service*> Services() = 0;
  // The migrations this binary carries (the product's: cantdo::db::
  // AllMigrations()); readiness checks the database's schema against them.
  // Must live as long as the app.
  virtual const std::vector<pg::Migration>& Migrations() const = 0;
  // Extra readiness beyond "database reachable, schema current".
  virtual absl::Status Ready() { return absl::OkStatus(); }
  // Stops background work. Called after the server stopped taking calls.
  virtual void Stop() {}
};

// A running service: its server, pool, and app.
class RunningService {
 public:
  ~RunningService();
  int port() const { return server_->port(); }
  bool serving() const { return server_->serving(); }
  pg::Pool& pool() { return *pool_; }
  metrics::Registry& metrics() { return *metrics_; }
  // The metrics endpoint's port, 0 when --metrics-listen is empty; and
  // whether it serves HTTPS.
  int metrics_port() const { return metrics_endpoint_ ? metrics_endpoint_->port() : 0; }
  bool metrics_tls() const { return metrics_endpoint_ && metrics_endpoint_->tls(); }
  void Shutdown();

 private:
  friend absl::StatusOr<std::unique_ptr<RunningService>> StartService(ServiceApp&, CommonConfig, Clock&);
  ServiceApp* app_ = nullptr;
  CommonConfig config_;
  RuntimeContext ctx_;
  // Declared first: everything below reports into it.
  std::unique_ptr<metrics::Registry> metrics_;
  std::unique_ptr<pg::Pool> pool_;
  std::unique_ptr<pg::Migrator> migrator_;  // of app_->Migrations()
  std::unique_ptr<MetricsEndpoint> metrics_endpoint_;
  std::unique_ptr<grpc::Server> server_;
  bool stopped_ = false;
};

// The runtime's own metrics on `registry`, all services alike:
//   cantdo_build_info{service,version}          1
//   cantdo_db_pool_max_connections              the pool's bound
//   cantdo_db_pool_open_connections             connections that exist
//   cantdo_db_pool_in_use_connections           lent out now
//   cantdo_db_pool_waiting_callers              blocked waiting for one
//   cantdo_db_pool_connection_errors_total{kind}  connect: attempts that
//                                               failed; broken: connections
//                                               found broken and dropped
// plus the process_* metrics. `pool` must outlive `registry`'s scrapes.
void RegisterRuntimeMetrics(metrics::Registry& registry, const std::string& service, const pg::Pool& pool);

// Readiness shared by all services: a pooled connection answers and the
// schema is one this binary works with: its own (`migrator`'s migrations),
// or another inside the compatibility window those and the applied ones
// declare (pg::Migrator::CheckCompatible; SCHEMA_NOT_CURRENT or
// SCHEMA_TOO_NEW otherwise). So the previous release's pods keep serving
// while the next release's migration runs.
absl::Status CheckDatabaseReady(pg::Pool& pool, const pg::Migrator& migrator, absl::Duration timeout);

// Registers the common options on `options`, bound to `config`.
void RegisterCommonOptions(Options& options, CommonConfig* config);

// Loads TLS, opens the pool, Init()s the app and starts serving. The pool
// opens lazily, so a service whose database is down still starts and
// reports NOT_SERVING until it comes up.
absl::StatusOr<std::unique_ptr<RunningService>> StartService(ServiceApp& app, CommonConfig config,
                                                             Clock& clock = SystemClock());

// The whole main(): parse flags and environment, start, wait for SIGTERM or
// SIGINT, shut down gracefully. Returns the process exit code.
int RunServiceMain(ServiceApp& app, int argc, char** argv);

}  // namespace cantdo::runtime
