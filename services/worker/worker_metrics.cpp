#include "worker/worker_metrics.hpp"

#include <algorithm>

#include "cantdo/base/status.hpp"
#include "cantdo/runtime/database_collector.hpp"
#include "cantdo/workflow/backlog.hpp"

namespace cantdo::worker {
namespace {

using metrics::CollectedFamily;
using metrics::MetricType;

double AgeSeconds(absl::Time now, const std::optional<absl::Time>& since) {
  return since ? std::max(0.0, absl::ToDoubleSeconds(now - *since)) : 0;
}

}  // namespace

void RegisterWorkerMetrics(metrics::Registry& registry, pg::Pool& pool, const workflow::Worker& engine,
                           std::vector<std::string> task_queues, Clock& clock) {
  registry.AddCollector([&engine](std::vector<CollectedFamily>& out) {
    const workflow::WorkerStats s = engine.Stats();
    auto counter = [&](const char* name, const char* help, int64_t v) {
      out.push_back(CollectedFamily{name, help, MetricType::kCounter, {}, {}}.Add({}, static_cast<double>(v)));
    };
    counter("cantdo_worker_workflow_tasks_total", "Workflow tasks this worker completed.", s.workflow_tasks);
    counter("cantdo_worker_workflow_task_failures_total",
            "Workflow tasks that failed (non-determinism, a panic) and were scheduled again with backoff.",
            s.workflow_task_failures);
    counter("cantdo_worker_activities_started_total", "Activity attempts this worker started.", s.activities_started);
    counter("cantdo_worker_activity_retries_total",
            "Failed activity attempts scheduled to run again (an error the retry policy retries, or an expired "
            "lease).",
            s.activity_retries);
    counter("cantdo_worker_activity_lease_expiries_total",
            "Activity attempts whose lease expired before they were recorded (a worker died or hung past the "
            "timeout).",
            s.lease_expiries);
    counter("cantdo_worker_history_conflicts_total",
            "Workflow tasks or activity results that lost a race for a run's history and were retried.",
            s.history_conflicts);
    counter("cantdo_worker_sticky_cache_hits_total",
            "Workflow tasks that resumed a cached replayer instead of replaying the history.", s.cache_hits);
  });
  runtime::AddDatabaseCollector(
      registry, pool, "worker",
      [task_queues = std::move(task_queues), &clock](pg::Connection& tx,
                                                     std::vector<CollectedFamily>& out) -> absl::Status {
        const absl::Time now = clock.Now();
        CANTDO_ASSIGN_OR_RETURN(std::vector<workflow::QueueBacklog> backlog,
                                workflow::ReadBacklog(tx, task_queues, now));
        CollectedFamily waiting{"cantdo_worker_tasks_waiting",
                                "Tasks due and not taken by a worker, by kind (workflow, activity) and task queue.",
                                MetricType::kGauge,
                                {"kind", "task_queue"},
                                {}};
        CollectedFamily age{"cantdo_worker_oldest_waiting_task_age_seconds",
                            "How long the oldest task waiting for a worker has been due, by kind and task queue; 0 "
                            "when none waits.",
                            MetricType::kGauge,
                            {"kind", "task_queue"},
                            {}};
        for (const auto& b : backlog) {
          waiting.Add({"workflow", b.task_queue}, static_cast<double>(b.workflow_tasks));
          waiting.Add({"activity", b.task_queue}, static_cast<double>(b.activity_tasks));
          age.Add({"workflow", b.task_queue}, AgeSeconds(now, b.oldest_workflow_task));
          age.Add({"activity", b.task_queue}, AgeSeconds(now, b.oldest_activity_task));
        }
        out.push_back(std::move(waiting));
        out.push_back(std::move(age));
        return absl::OkStatus();
      });
}

}  // namespace cantdo::worker
