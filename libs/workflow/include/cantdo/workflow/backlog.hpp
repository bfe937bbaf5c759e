#pragma once
// What is waiting for a worker: per task queue, the workflow and activity
// tasks that are due and not taken, and since when the oldest of them has
// been due (its schedule-to-start time so far). For monitoring (the
// worker's metrics); one index scan per kind (V0003's *_poll indexes).

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "cantdo/pg/connection.hpp"

namespace cantdo::workflow {

struct QueueBacklog {
  std::string task_queue;
  int64_t workflow_tasks = 0;
  std::optional<absl::Time> oldest_workflow_task;  // when it became due; none if no task waits
  int64_t activity_tasks = 0;                      // not leased, due
  std::optional<absl::Time> oldest_activity_task;
};

// One entry per queue of `task_queues`, in that order, zeros included. A
// workflow task a worker holds right now (its row locked for a replay)
// still counts: it leaves the table when that replay commits.
absl::StatusOr<std::vector<QueueBacklog>> ReadBacklog(pg::Connection& conn, const std::vector<std::string>& task_queues,
                                                      absl::Time now);

}  // namespace cantdo::workflow
