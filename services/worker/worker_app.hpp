#pragma once
// cantdo-worker: hosts the durable workflow engine (libs/workflow) and the
// customer offboarding workflow (offboarding.hpp). It has no API beyond
// gRPC health and reflection, served over mutual TLS.
//
// Health is SERVING only while the cantdo database is reachable with the
// current schema, the authority answers its health check over mTLS, and the
// customer platform's database answers. On SIGTERM the runtime stops the
// server, then Stop() stops the engine: no new tasks; running activities
// finish and are recorded; eagerly leased, unstarted ones are released.

#include <memory>
#include <string>
#include <vector>

#include "cantdo/runtime/service_runtime.hpp"
#include "cantdo/workflow/registry.hpp"
#include "cantdo/workflow/worker.hpp"
#include "worker/authority_client.hpp"
#include "worker/customer_platform.hpp"
#include "worker/offboarding.hpp"

namespace cantdo::worker {

struct WorkerConfig {
  // Comma-separated task queues this worker serves.
  std::string task_queues = "offboarding";
  int concurrency = 4;
  std::string identity;  // default: hostname:pid
  std::string authority_address;
  std::string authority_server_name;
  absl::Duration authority_timeout = absl::Seconds(10);
  // The customer platform (the demo platform locally), as the worker's own
  // login; refunds and erasure use credentials released by grants instead.
  std::string customer_db_dsn;
  int customer_db_pool_size = 4;
  OffboardingOptions offboarding;
};

class WorkerApp final : public runtime::ServiceApp {
 public:
  std::string Name() const override { return "worker"; }
  std::string DefaultListen() const override { return "0.0.0.0:9445"; }
  void RegisterOptions(Options& options) override;
  absl::Status Init(const runtime::RuntimeContext& ctx) override;
  std::vector<::grpc::Service*> Services() override { return {}; }
  const std::vector<pg::Migration>& Migrations() const override;
  absl::Status Ready() override;
  void Stop() override;

  WorkerConfig& config() { return config_; }
  workflow::Worker* engine() { return engine_.get(); }

 private:
  WorkerConfig config_;
  std::unique_ptr<AuthorityClient> authority_;
  std::unique_ptr<pg::Pool> customer_pool_;
  std::unique_ptr<CustomerPlatform> platform_;
  workflow::Registry registry_;
  std::unique_ptr<workflow::Worker> engine_;
};

}  // namespace cantdo::worker
