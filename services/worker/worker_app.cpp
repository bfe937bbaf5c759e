#include "worker/worker_app.hpp"

#include <unistd.h>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "cantdo/base/log.hpp"
#include "cantdo/base/status.hpp"
#include "cantdo/db/migrations.hpp"
#include "worker/worker_metrics.hpp"

namespace cantdo::worker {

void WorkerApp::RegisterOptions(Options& o) {
  auto& c = config_;
  o.String("task-queues", &c.task_queues, "comma-separated task queues to serve (default offboarding)")
      .Int("concurrency", &c.concurrency, "threads taking tasks (each holds one database connection at a time)")
      .String("identity", &c.identity, "name recorded in history as the worker (default host:pid)")
      .String("authority-address", &c.authority_address, "host:port of cantdo-authority (mTLS)", true)
      .String("authority-server-name", &c.authority_server_name,
              "TLS name to expect from the authority (default: its host)")
      .Duration("authority-timeout", &c.authority_timeout, "deadline of one call to the authority")
      .String("customer-db-dsn", &c.customer_db_dsn,
              "the customer platform's database, as the worker's own login (the demo platform locally)", true)
      .Int("customer-db-pool-size", &c.customer_db_pool_size, "connections to the customer platform")
      .Duration("approval-deadline", &c.offboarding.approval_deadline,
                "how long an approver has before the approval is asked again (1m to 7d; default 72h)")
      .Int("approval-rerequests", &c.offboarding.approval_rerequests,
           "how often an approval that expired undecided is asked again before the run fails (default 2)")
      .Duration("activity-timeout", &c.offboarding.activity_timeout,
                "limit on one activity attempt; a crashed worker's activity is retried after it (default 60s)")
      .Check([&c] { return c.concurrency >= 1 && c.concurrency <= 256 ? "" : "--concurrency must be 1..256"; })
      .Check([&c] { return c.offboarding.approval_rerequests >= 0 ? "" : "--approval-rerequests must be >= 0"; })
      .Check([&c] {
        return c.offboarding.activity_timeout >= absl::Seconds(1) ? "" : "--activity-timeout must be >= 1s";
      });
}

absl::Status WorkerApp::Init(const runtime::RuntimeContext& ctx) {
  if (config_.authority_address.empty()) return InvalidArgument("authority-address", "required");
  if (config_.customer_db_dsn.empty()) return InvalidArgument("customer-db-dsn", "required");
  authority_ = std::make_unique<GrpcAuthorityClient>(config_.authority_address, ctx.tls, config_.authority_server_name,
                                                     config_.authority_timeout);
  pg::PoolOptions po;
  po.dsn = config_.customer_db_dsn;
  po.max_size = config_.customer_db_pool_size;
  po.application_name = "cantdo-worker";
  CANTDO_ASSIGN_OR_RETURN(customer_pool_, pg::Pool::Create(po));
  platform_ = std::make_unique<CustomerPlatform>(*customer_pool_, *ctx.clock);
  CANTDO_RETURN_IF_ERROR(RegisterOffboarding(registry_, *authority_, *platform_, config_.offboarding));

  workflow::WorkerOptions wo;
  wo.dsn = ctx.config->db_dsn;
  for (absl::string_view q : absl::StrSplit(config_.task_queues, ',', absl::SkipWhitespace())) {
    wo.task_queues.emplace_back(absl::StripAsciiWhitespace(q));
  }
  if (wo.task_queues.empty()) return InvalidArgument("task-queues", "name at least one queue");
  wo.concurrency = config_.concurrency;
  if (config_.identity.empty()) {
    char host[256] = {0};
    gethostname(host, sizeof(host) - 1);
    wo.identity = absl::StrCat(host, ":", getpid());
  } else {
    wo.identity = config_.identity;
  }
  CANTDO_ASSIGN_OR_RETURN(engine_, workflow::Worker::Create(*ctx.pool, registry_, *ctx.clock, wo));
  RegisterWorkerMetrics(*ctx.metrics, *ctx.pool, *engine_, wo.task_queues, *ctx.clock);
  CANTDO_RETURN_IF_ERROR(engine_->Start());
  log::Info("worker started", {{"task_queues", config_.task_queues},
                               {"concurrency", config_.concurrency},
                               {"identity", wo.identity},
                               {"approval_deadline", absl::FormatDuration(config_.offboarding.approval_deadline)},
                               {"approval_rerequests", config_.offboarding.approval_rerequests}});
  return absl::OkStatus();
}

absl::Status WorkerApp::Ready() {
  if (!engine_) return absl::UnavailableError("not started");
  CANTDO_RETURN_IF_ERROR(authority_->CheckHealth());
  auto conn = customer_pool_->Acquire(absl::Now() + absl::Seconds(2));
  if (!conn.ok()) {
    return WithReason(absl::UnavailableError(absl::StrCat("customer platform unreachable: ", conn.status().message())),
                      "DEPENDENCY_UNAVAILABLE");
  }
  return (*conn)->Ping();
}

void WorkerApp::Stop() {
  if (engine_) engine_->Stop();
}

const std::vector<pg::Migration>& WorkerApp::Migrations() const { return db::AllMigrations(); }

}  // namespace cantdo::worker
