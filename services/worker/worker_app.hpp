#pragma once
// cantdo-worker: hosts the durable workflow engine (libs/workflow, issue #4)
// and the offboarding workflow (issue #6). It has no API beyond gRPC health
// and reflection, served over mutual TLS; health is SERVING when Postgres is
// reachable and the schema is current.

#include "cantdo/runtime/service_runtime.hpp"

namespace cantdo::worker {

class WorkerApp final : public runtime::ServiceApp {
 public:
  std::string Name() const override { return "worker"; }
  std::string DefaultListen() const override { return "0.0.0.0:9445"; }
  absl::Status Init(const runtime::RuntimeContext& ctx) override;
  std::vector<::grpc::Service*> Services() override { return {}; }
};

}  // namespace cantdo::worker
