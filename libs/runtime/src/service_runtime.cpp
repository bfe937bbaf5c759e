#include "cantdo/runtime/service_runtime.hpp"

#include <cstdio>

#include "absl/strings/str_cat.h"
#include "cantdo/base/log.hpp"
#include "cantdo/base/status.hpp"
#include "cantdo/grpc/client_metrics.hpp"
#include "cantdo/grpc/shutdown.hpp"
#include "cantdo/metrics/process_collector.hpp"
#include "cantdo/pg/migrator.hpp"

namespace cantdo::runtime {

void RegisterCommonOptions(Options& options, CommonConfig* c) {
  options.String("listen", &c->listen, "address to serve gRPC (TLS) on, host:port")
      .String("tls-cert", &c->tls_cert, "PEM certificate chain of this service", true)
      .String("tls-key", &c->tls_key, "PEM private key of this service", true)
      .String("tls-ca", &c->tls_ca, "PEM CA bundle that peers' certificates must chain to", true)
      .String("db-dsn", &c->db_dsn, "PostgreSQL DSN (libpq conninfo or URI) as this service's role", true)
      .Int("db-pool-size", &c->db_pool_size, "maximum Postgres connections")
      .Duration("db-connect-timeout", &c->db_connect_timeout, "timeout to open a Postgres connection")
      .Bool("db-prepared-statements", &c->db_prepared_statements,
            "prepare statements once per connection (turn off behind a transaction-pooling PgBouncer < 1.21)")
      .Duration("shutdown-grace", &c->shutdown_grace, "how long in-flight calls may finish after SIGTERM")
      .Duration("grpc-max-connection-age", &c->grpc_max_connection_age,
                "end client connections older than this (GOAWAY) so clients rebalance over new pods; 0s: never")
      .Duration("grpc-max-connection-age-grace", &c->grpc_max_connection_age_grace,
                "how long calls in flight on such a connection may still run")
      .String("log-level", &c->log_level, "debug, info, warn or error")
      .String("metrics-listen", &c->metrics_listen,
              "serve Prometheus metrics at GET /metrics on this host:port (an IP address), empty: off; HTTPS with "
              "--tls-cert, plain HTTP on a loopback address")
      .Bool("metrics-tls", &c->metrics_tls, "serve the metrics over HTTPS on a loopback address too")
      .Check([c] { return c->db_pool_size >= 1 && c->db_pool_size <= 1000 ? "" : "--db-pool-size must be 1..1000"; })
      .Check([c] {
        log::Level l;
        return log::ParseLevel(c->log_level, &l) ? "" : "--log-level must be debug, info, warn or error";
      })
      .Check([c] { return c->listen.find(':') != std::string::npos ? "" : "--listen must be host:port"; })
      .Check([c] {
        return c->metrics_listen.empty() || c->metrics_listen.find(':') != std::string::npos
                   ? ""
                   : "--metrics-listen must be host:port (or empty: off)";
      });
}

void RegisterRuntimeMetrics(metrics::Registry& registry, const std::string& service, const pg::Pool& pool) {
  registry
      .AddGaugeFamily("cantdo_build_info", "Always 1: the service and the cantdo version of this binary.",
                      {"service", "version"})
      .Labels({service, CANTDO_VERSION})
      .Set(1);
  registry.AddCollector([&pool](std::vector<metrics::CollectedFamily>& out) {
    const pg::PoolStats s = pool.Stats();
    auto gauge = [&](const char* name, const char* help, double v) {
      out.push_back(metrics::CollectedFamily{name, help, metrics::MetricType::kGauge, {}, {}}.Add({}, v));
    };
    gauge("cantdo_db_pool_max_connections", "The most PostgreSQL connections the pool opens (--db-pool-size).",
          pool.options().max_size);
    gauge("cantdo_db_pool_open_connections", "PostgreSQL connections that exist (idle, in use or being opened).",
          s.open);
    gauge("cantdo_db_pool_in_use_connections", "PostgreSQL connections lent out now (or being opened).",
          s.open - s.idle);
    gauge("cantdo_db_pool_waiting_callers", "Callers waiting for a PostgreSQL connection because all are in use.",
          s.waiters);
    out.push_back(metrics::CollectedFamily{"cantdo_db_pool_connection_errors_total",
                                           "PostgreSQL connection problems: connect = an attempt to open one failed, "
                                           "broken = one was found broken and dropped.",
                                           metrics::MetricType::kCounter,
                                           {"kind"},
                                           {}}
                      .Add({"connect"}, static_cast<double>(s.connect_failures))
                      .Add({"broken"}, static_cast<double>(s.broken_discarded)));
  });
  metrics::AddProcessCollector(registry);
}

absl::Status CheckDatabaseReady(pg::Pool& pool, const pg::Migrator& migrator, absl::Duration timeout) {
  CANTDO_ASSIGN_OR_RETURN(auto conn, pool.Acquire(absl::Now() + timeout));
  return migrator.CheckCompatible(*conn);
}

RunningService::~RunningService() { Shutdown(); }

void RunningService::Shutdown() {
  if (stopped_) return;
  stopped_ = true;
  if (server_) server_->Shutdown();
  // Before the app stops: its collectors may read what Stop() tears down.
  if (metrics_endpoint_) metrics_endpoint_->Stop();
  if (app_) app_->Stop();
}

absl::StatusOr<std::unique_ptr<RunningService>> StartService(ServiceApp& app, CommonConfig config, Clock& clock) {
  auto rs = std::unique_ptr<RunningService>(new RunningService());
  rs->app_ = &app;
  rs->config_ = std::move(config);
  CANTDO_ASSIGN_OR_RETURN(rs->ctx_.tls,
                          grpc::LoadTlsMaterial(rs->config_.tls_cert, rs->config_.tls_key, rs->config_.tls_ca));
  pg::PoolOptions po;
  po.dsn = rs->config_.db_dsn;
  po.max_size = rs->config_.db_pool_size;
  po.connect_timeout = rs->config_.db_connect_timeout;
  po.prepare_statements = rs->config_.db_prepared_statements;
  po.application_name = absl::StrCat("cantdo-", app.Name());
  CANTDO_ASSIGN_OR_RETURN(rs->pool_, pg::Pool::Create(po));
  rs->migrator_ = std::make_unique<pg::Migrator>(app.Migrations());
  rs->metrics_ = std::make_unique<metrics::Registry>();
  RegisterRuntimeMetrics(*rs->metrics_, app.Name(), *rs->pool_);
  // The gRPC interceptors (server and client: every channel the service
  // makes from its TLS material counts its calls) only when the metrics are
  // served: with --metrics-listen empty no call pays for them.
  const bool serve_metrics = !rs->config_.metrics_listen.empty();
  if (serve_metrics) {
    rs->ctx_.tls.client_interceptors.push_back(grpc::MakeClientMetricsInterceptor(*rs->metrics_));
  }
  metrics::Gauge& db_up = rs->metrics_->AddGauge(
      "cantdo_db_up", "1 while the last readiness check (every 2 s) reached PostgreSQL, else 0.");
  metrics::Gauge& ready =
      rs->metrics_->AddGauge("cantdo_service_ready",
                             "1 while the service reports SERVING (database reachable, schema compatible, "
                             "its own dependencies up), else 0.");
  if (!rs->config_.metrics_listen.empty()) {
    MetricsEndpointOptions mo;
    mo.listen = rs->config_.metrics_listen;
    mo.tls_on_loopback = rs->config_.metrics_tls;
    mo.cert_pem = rs->ctx_.tls.cert_pem;
    mo.key_pem = rs->ctx_.tls.key_pem;
    CANTDO_ASSIGN_OR_RETURN(rs->metrics_endpoint_, MetricsEndpoint::Start(mo, *rs->metrics_));
    log::Info("metrics listening", {{"address", rs->config_.metrics_listen},
                                    {"port", rs->metrics_endpoint_->port()},
                                    {"scheme", rs->metrics_endpoint_->tls() ? "https" : "http"},
                                    {"path", "/metrics"}});
  }

  rs->ctx_.config = &rs->config_;
  rs->ctx_.pool = rs->pool_.get();
  rs->ctx_.clock = &clock;
  rs->ctx_.metrics = rs->metrics_.get();
  CANTDO_RETURN_IF_ERROR(app.Init(rs->ctx_));

  grpc::ServerConfig sc;
  sc.service_name = app.Name();
  sc.listen_address = rs->config_.listen;
  sc.tls = rs->ctx_.tls;
  sc.client_certs = app.ClientCerts();
  sc.shutdown_grace = rs->config_.shutdown_grace;
  sc.max_connection_age = rs->config_.grpc_max_connection_age;
  sc.max_connection_age_grace = rs->config_.grpc_max_connection_age_grace;
  sc.metrics = serve_metrics ? rs->metrics_.get() : nullptr;
  pg::Pool* pool = rs->pool_.get();
  const pg::Migrator* migrator = rs->migrator_.get();
  const absl::Duration timeout = rs->config_.db_connect_timeout;
  CANTDO_ASSIGN_OR_RETURN(
      rs->server_,
      grpc::Server::Start(sc, app.Services(), [pool, migrator, timeout, &app, &db_up, &ready]() -> absl::Status {
        const absl::Status db = CheckDatabaseReady(*pool, *migrator, timeout);
        // A schema outside the window is a database that answered.
        const auto reason = GetReason(db);
        db_up.Set(db.ok() || reason == pg::kSchemaNotCurrent || reason == pg::kSchemaTooNew ? 1 : 0);
        const absl::Status st = db.ok() ? app.Ready() : db;
        ready.Set(st.ok() ? 1 : 0);
        return st;
      }));
  return rs;
}

int RunServiceMain(ServiceApp& app, int argc, char** argv) {
  grpc::BlockShutdownSignals();
  CommonConfig config;
  config.listen = app.DefaultListen();
  Options options(absl::StrCat("cantdo-", app.Name()), absl::StrCat("cantdo-", app.Name(), ": see docs/operations.md"));
  RegisterCommonOptions(options, &config);
  app.RegisterOptions(options);
  auto parsed = options.Parse(argc, argv);
  if (!parsed.ok()) {
    std::fprintf(stderr, "%s\n", std::string(parsed.status().message()).c_str());
    return 2;
  }
  if (!*parsed) return 0;  // --help
  log::Level level = log::Level::kInfo;
  log::ParseLevel(config.log_level, &level);
  log::Init(app.Name(), level);

  auto running = StartService(app, config);
  if (!running.ok()) {
    log::Error("cannot start", {{"error", std::string(running.status().message())},
                                {"code", absl::StatusCodeToString(running.status().code())}});
    return 1;
  }
  int sig = grpc::WaitForShutdownSignal();
  log::Info("signal received, stopping", {{"signal", sig}});
  (*running)->Shutdown();
  log::Info("stopped");
  return 0;
}

}  // namespace cantdo::runtime
