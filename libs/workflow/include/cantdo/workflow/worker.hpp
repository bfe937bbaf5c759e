#pragma once
// Worker: runs workflow tasks, activity tasks, timers and activity timeouts
// of its task queues, from Postgres.
//
// - Workflow tasks are leased by holding their row lock (FOR UPDATE SKIP
//   LOCKED) for the duration of one replay; the result (new events, new
//   tasks, timers) commits in that same transaction.
// - Activity tasks are leased durably (lease id + expiry), executed outside
//   any transaction, and completed in a transaction that also runs the
//   run's next workflow task right there (sticky continuation) and leases
//   the activities it schedules to this worker (eager dispatch).
// - Idle threads sleep on a condition variable woken by LISTEN/NOTIFY
//   (channel cantdo_workflow_tasks) and by `poll_interval` as a fallback.
// See docs/workflow-engine.md.

#include <atomic>
#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "cantdo/base/clock.hpp"
#include "cantdo/pg/pool.hpp"
#include "cantdo/workflow/registry.hpp"

namespace cantdo::workflow {

struct WorkerOptions {
  // For the LISTEN connection (the pool's DSN when empty).
  std::string dsn;
  std::vector<std::string> task_queues;  // required, non-empty
  // Threads taking tasks (each uses one pooled connection at a time).
  int concurrency = 4;
  // Recorded in history (WorkflowTaskStarted.identity, lease owner).
  std::string identity = "worker";
  // Keep live runs' Replayers in memory between workflow tasks (bounded
  // LRU). Correctness never depends on it.
  bool sticky_cache = true;
  size_t sticky_cache_size = 1000;
  // Complete an activity and run the next workflow task in one transaction,
  // and lease newly scheduled activities to this worker at once.
  bool eager_activities = true;
  // Fallback wake-up when no notification arrives (timers due, leases to
  // expire, a missed notification).
  absl::Duration poll_interval = absl::Seconds(2);
  // A workflow task lock held longer (a hung worker) is broken by Postgres
  // (idle_in_transaction_session_timeout).
  absl::Duration workflow_task_timeout = absl::Seconds(10);
  // Backoff of a failed workflow task (non-determinism, panic): attempt n
  // waits min(initial * 2^(n-1), max).
  absl::Duration workflow_task_retry_initial = absl::Seconds(1);
  absl::Duration workflow_task_retry_max = absl::Minutes(5);
  // History size: past `history_warn_events` a warning is logged and
  // WorkflowContext::IsContinueAsNewSuggested() is true; a workflow task
  // that would pass `history_limit_events` fails the run instead
  // (HISTORY_LIMIT_EXCEEDED).
  int64_t history_warn_events = 10'000;
  int64_t history_limit_events = 50'000;
};

struct WorkerStats {
  int64_t workflow_tasks = 0;
  int64_t workflow_task_failures = 0;
  int64_t activities_started = 0;
  int64_t activities_eager = 0;
  int64_t history_conflicts = 0;
  int64_t cache_hits = 0;
  // Lease scans (a transaction each) that found nothing: the cost of idle
  // wake-ups.
  int64_t empty_polls = 0;
  // Transactions that recorded the results of several runs' activities.
  int64_t completion_batches = 0;
  // Failed activity attempts scheduled to run again (an error the retry
  // policy retries, or a lease that expired), and activity leases found
  // expired (the attempt's worker died or hung past its timeout).
  int64_t activity_retries = 0;
  int64_t lease_expiries = 0;
};

class Worker {
 public:
  // REQUIRES: pool, registry and clock outlive the Worker.
  static absl::StatusOr<std::unique_ptr<Worker>> Create(pg::Pool& pool, const Registry& registry, Clock& clock,
                                                        WorkerOptions options);
  // Stops (gracefully) if still running.
  ~Worker();

  // Starts the threads and the listener.
  absl::Status Start();

  // Graceful stop: takes no new tasks; activities already running finish and
  // are recorded; activities leased but not started have their leases
  // released so another worker runs them at once. Blocks until done.
  void Stop();

  // Wakes idle threads (tests call it after moving a FakeClock).
  void Wake();

  // Does at most one unit of work on the calling thread (for tests and
  // tools): a workflow task, an activity, due timers or expired leases.
  // Returns whether anything was done.
  absl::StatusOr<bool> RunOnce();

  WorkerStats Stats() const;

  class Impl;

 private:
  explicit Worker(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace cantdo::workflow
