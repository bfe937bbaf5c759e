#pragma once
// The worker's metrics (docs/operations.md, "Metrics"): what its engine did,
// from workflow::WorkerStats, and what waits for it in its task queues,
// read from the database when scraped.
//   cantdo_worker_workflow_tasks_total           workflow tasks completed
//   cantdo_worker_workflow_task_failures_total   workflow tasks that failed
//                                                (non-determinism, a panic)
//   cantdo_worker_activities_started_total       activity attempts started
//   cantdo_worker_activity_retries_total         failed attempts scheduled again
//   cantdo_worker_activity_lease_expiries_total  attempts whose lease expired
//   cantdo_worker_history_conflicts_total        replays that lost a race for
//                                                a run's history
//   cantdo_worker_sticky_cache_hits_total        workflow tasks that resumed a
//                                                cached replayer
//   cantdo_worker_tasks_waiting{kind, task_queue}
//   cantdo_worker_oldest_waiting_task_age_seconds{kind, task_queue}
//       kind = workflow or activity: tasks due and not taken, and how long
//       the oldest has been due (0 when none waits)
// task_queue is one of the worker's --task-queues.

#include <string>
#include <vector>

#include "cantdo/base/clock.hpp"
#include "cantdo/metrics/registry.hpp"
#include "cantdo/pg/pool.hpp"
#include "cantdo/workflow/worker.hpp"

namespace cantdo::worker {

// Everything must outlive `registry`'s scrapes.
void RegisterWorkerMetrics(metrics::Registry& registry, pg::Pool& pool, const workflow::Worker& engine,
                           std::vector<std::string> task_queues, Clock& clock);

}  // namespace cantdo::worker
