#pragma once
// Postgres persistence of runs, history, tasks and timers: the SQL of the
// engine lives here and in V0003__workflow_engine.sql. Every function runs
// on a connection the caller holds inside a transaction.
//
// Writes are deferred (pg::Connection::Defer): they reach the server with
// the transaction's next statement or its COMMIT, so a workflow task costs
// its reads plus one round trip for all it writes. An error of a deferred
// write (e.g. two writers appending the same event id) fails that later
// statement or the COMMIT, and the transaction rolls back.

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "cantdo/pg/connection.hpp"
#include "cantdo/workflow/v1/history.pb.h"

namespace cantdo::workflow::internal {

inline constexpr absl::string_view kTasksChannel = "cantdo_workflow_tasks";
inline constexpr absl::string_view kEventsChannel = "cantdo_workflow_events";

struct RunRow {
  std::string run_id;
  std::string workflow_id;
  std::string workflow_type;
  std::string task_queue;
  v1::WorkflowExecutionState state = v1::WORKFLOW_EXECUTION_STATE_UNSPECIFIED;
  std::string request_id;
  std::string requester;
  std::string admission_approval_id;
  std::string first_run_id;
  int64_t next_event_id = 0;
  absl::Time start_time;
  std::optional<absl::Time> admit_time;
  std::optional<absl::Time> close_time;
  std::string next_run_id;
  std::string failure;  // serialized Failure, may be empty
  // The attempt of the run's pending workflow task; 0 if it has none.
  int64_t workflow_task_attempt = 0;
  // The trace the run continues (W3C traceparent, V0015); "" if none.
  std::string traceparent;

  bool open() const {
    return state == v1::WORKFLOW_EXECUTION_STATE_PENDING_ADMISSION || state == v1::WORKFLOW_EXECUTION_STATE_RUNNING;
  }
};

inline constexpr int kRunColumnCount = 17;

// The kRunColumnCount columns RunFromRow expects, in order, of cantdo.workflow_runs under
// the name `table` (an alias, or the table's own name). The last,
// workflow_task_attempt, is a subquery on cantdo.workflow_tasks unless
// `attempt` gives it (say, the attempt column of a task row the statement
// locks).
//
// Never in a statement that waits for the run's row lock (FOR UPDATE
// without SKIP LOCKED): under READ COMMITTED the locked row is re-read once
// the lock is free, but a subquery keeps the statement's snapshot, taken
// before the holder committed, and would report a task the holder has
// already deleted. Lock first (LockRuns), then read in a later statement.
std::string RunColumns(absl::string_view table = "workflow_runs", absl::string_view attempt = "");
// Defers locking the runs (FOR UPDATE, in run id order, so concurrent
// lockers cannot deadlock): the lock travels with the next round trip, and
// the statements after it see everything the locks' previous holders
// committed. Nothing is deferred for no runs.
absl::Status LockRuns(pg::Connection& conn, const std::vector<std::string>& run_ids);
absl::StatusOr<RunRow> RunFromRow(const pg::Result& r, int row);

// std::nullopt if no such run.
absl::StatusOr<std::optional<RunRow>> LoadRun(pg::Connection& conn, const std::string& run_id, bool for_update);
// The open run of the workflow id, else its newest; with run_id, that run.
absl::StatusOr<std::optional<RunRow>> FindRun(pg::Connection& conn, const std::string& workflow_id,
                                              const std::string& run_id, bool for_update);

// Events [from, from + limit) of a run, in order.
absl::StatusOr<std::vector<v1::HistoryEvent>> LoadEvents(pg::Connection& conn, const std::string& run_id,
                                                         int64_t from_event_id, int64_t limit = INT64_MAX);

// Appends `events` (their ids must be expected_next, expected_next+1, ...),
// deferred. REQUIRES: the caller holds the run's row lock (or created the
// run in this transaction) and read next_event_id == expected_next under
// it. Should another writer append the same ids anyway, the history's
// primary key fails the transaction (a conflict, see IsHistoryConflict).
// Notifies history watchers at commit.
absl::Status AppendEvents(pg::Connection& conn, const std::string& run_id, int64_t expected_next,
                          const std::vector<v1::HistoryEvent>& events);

// A new event with id, time and type set; the caller sets the attributes.
v1::HistoryEvent NewEvent(int64_t id, absl::Time time, v1::EventType type);

// Inserts the run's workflow task (deferred) and notifies workers of the
// task queue at commit. REQUIRES: the run's row lock, and the run has no
// workflow task (RunRow::workflow_task_attempt == 0); the caller appends
// WorkflowTaskScheduled.
absl::Status InsertWorkflowTask(pg::Connection& conn, const std::string& run_id, const std::string& task_queue,
                                absl::Time visible_at, int64_t attempt = 1);

// A WorkflowTaskScheduled event (attempt 1) for `task_queue`.
v1::HistoryEvent NewWorkflowTaskScheduled(int64_t id, absl::Time time, const std::string& task_queue);

// Appends `events` to the locked `run` (deferred) and, if the run is idle
// (no workflow task: RunRow::workflow_task_attempt == 0), schedules one so
// that its code sees them: WorkflowTaskScheduled after `events`, and the
// task row, visible at `now`. A run with a task pending sees the events
// when that task runs. REQUIRES: the run's row lock, read under it.
absl::Status AppendAndScheduleIfIdle(pg::Connection& conn, const RunRow& run, std::vector<v1::HistoryEvent> events,
                                     absl::Time now);

// Whether a transaction failed because another writer appended to the same
// history first (its events' primary key, or the engine's own check).
bool IsHistoryConflict(const absl::Status& status);

// Whether the run's history holds an event of `type` (the typed column, no
// decoding).
absl::StatusOr<bool> HasEvent(pg::Connection& conn, const std::string& run_id, v1::EventType type);

// Marks the run closed and removes everything that could still wake it
// (deferred).
absl::Status CloseRun(pg::Connection& conn, const std::string& run_id, v1::WorkflowExecutionState state,
                      absl::Time close_time, const v1::Failure* failure, const std::string& next_run_id);

// The first run of a workflow id, or the next run of a chain (continue as
// new), inserted (deferred) with next_event_id 1; the caller appends its
// first events.
struct NewRun {
  std::string run_id;
  std::string workflow_id;
  std::string workflow_type;
  std::string task_queue;
  v1::WorkflowExecutionState state = v1::WORKFLOW_EXECUTION_STATE_RUNNING;
  std::string request_id;  // "" for none
  std::string requester;
  std::string admission_approval_id;
  std::string first_run_id;  // the run's own id for a first run
  absl::Time start_time;
  // Admitted when started: start_time for RUNNING, none while
  // PENDING_ADMISSION.
  std::string traceparent;
};
absl::Status InsertRun(pg::Connection& conn, const NewRun& run);

v1::WorkflowExecution ToExecution(const RunRow& run);

// ---- workflow tasks (the worker) ----
//
// A workflow task is leased by holding the row locks of the task and its
// run for one transaction (FOR UPDATE SKIP LOCKED); it has no lease column.

// Bounds how long this transaction may sit idle holding the task's locks
// (a hung worker), deferred.
absl::Status SetWorkflowTaskTimeout(pg::Connection& conn, absl::Duration timeout);

// Locks up to `limit` workflow tasks of `queues` (a PgTextArray) visible at
// `now`, oldest first, with their runs (skipping rows locked elsewhere).
// Each RunRow's workflow_task_attempt is its task's attempt.
absl::StatusOr<std::vector<RunRow>> LeaseWorkflowTasks(pg::Connection& conn, const std::string& queues, absl::Time now,
                                                       int limit);

// Removes the run's workflow task (done), deferred.
absl::Status DeleteWorkflowTask(pg::Connection& conn, const std::string& run_id);

// Makes the run's failed workflow task visible again at `visible_at`, one
// attempt later, deferred.
absl::Status RetryWorkflowTask(pg::Connection& conn, const std::string& run_id, absl::Time visible_at);

// Wakes the workers of `task_queue` at commit (one notification), deferred.
absl::Status NotifyTaskQueue(pg::Connection& conn, const std::string& task_queue);

// ---- timers ----

absl::Status InsertTimer(pg::Connection& conn, const std::string& run_id, const std::string& timer_id,
                         int64_t started_event_id, const std::string& task_queue, absl::Time fire_at);

struct DueTimer {
  std::string run_id;
  std::string timer_id;
  int64_t started_event_id = 0;
};
// Locks the earliest timer of `queues` due at `now` (skipping locked ones);
// std::nullopt if none.
absl::StatusOr<std::optional<DueTimer>> LockDueTimer(pg::Connection& conn, const std::string& queues, absl::Time now);
absl::Status DeleteTimer(pg::Connection& conn, const std::string& run_id, const std::string& timer_id);  // deferred

// ---- activity tasks ----
//
// An activity task is leased durably: lease_id, lease_owner and
// lease_expires_at are set while an attempt runs, and `attempt` counts the
// attempts started. Statements that act for a lease name its lease_id, so a
// lease that expired (and was taken by someone else) changes nothing.

// The lease an activity task is inserted with (eager dispatch: the
// scheduling worker runs its first attempt).
struct InitialLease {
  std::string lease_id;
  std::string owner;
  absl::Time expires_at;
};
// Inserts the task scheduled by `scheduled_event_id`, visible at `now`,
// leased (attempt 1 started) if `lease` is given, deferred.
absl::Status InsertActivityTask(pg::Connection& conn, const std::string& run_id, int64_t scheduled_event_id,
                                const std::string& task_queue, const std::string& activity_type, absl::Time now,
                                const std::optional<InitialLease>& lease);

struct LeasableActivity {
  std::string run_id;
  int64_t scheduled_event_id = 0;
  int64_t attempts_started = 0;
};
// Locks up to `limit` unleased activity tasks of `queues` visible at `now`,
// oldest first (skipping locked ones).
absl::StatusOr<std::vector<LeasableActivity>> LockLeasableActivities(pg::Connection& conn, const std::string& queues,
                                                                     absl::Time now, int limit);
// Leases a task LockLeasableActivities locked: its next attempt starts at
// `now` and the lease expires at `expires_at`.
absl::Status LeaseActivityTask(pg::Connection& conn, const std::string& run_id, int64_t scheduled_event_id,
                               const std::string& lease_id, const std::string& owner, absl::Time now,
                               absl::Time expires_at);

// Extends a lease to `expires_at`. NOT_FOUND if the lease is lost (expired
// and taken, or the run closed); otherwise whether the run's cancellation
// was requested.
absl::StatusOr<bool> ExtendActivityLease(pg::Connection& conn, const std::string& run_id, int64_t scheduled_event_id,
                                         const std::string& lease_id, absl::Time expires_at);

// Gives a lease back unused (a stopping worker): the attempt it counted is
// undone and the task is visible at `now`.
absl::Status ReleaseActivityLease(pg::Connection& conn, const std::string& run_id, int64_t scheduled_event_id,
                                  const std::string& lease_id, absl::Time now);

// Locks the task if `lease_id` still holds it and returns when it was
// scheduled; std::nullopt if the lease is lost.
absl::StatusOr<std::optional<absl::Time>> LockLeasedActivity(pg::Connection& conn, const std::string& run_id,
                                                             int64_t scheduled_event_id, const std::string& lease_id);

// Unleases a task whose attempt failed and makes it visible at
// `visible_at` for the next attempt, recording `failure`, deferred.
absl::Status RequeueActivityTask(pg::Connection& conn, const std::string& run_id, int64_t scheduled_event_id,
                                 absl::Time visible_at, const v1::Failure& failure);

// Removes the task (its activity is done, for good), deferred.
absl::Status DeleteActivityTask(pg::Connection& conn, const std::string& run_id, int64_t scheduled_event_id);

// The read that starts recording a successful attempt, for a batch: it
// takes the task off the queue if `lease_id` still holds it, and reads the
// run. REQUIRES: the run locked in an earlier statement (LockRuns).
pg::Connection::BatchStatement TakeLeasedActivity(const std::string& run_id, int64_t scheduled_event_id,
                                                  const std::string& lease_id);
// TakeLeasedActivity's result: the run, or std::nullopt if the lease was
// lost (the task was no longer this lease's, or the run is gone).
absl::StatusOr<std::optional<RunRow>> TakenActivityRun(const pg::Result& taken);

struct ExpiredLease {
  std::string run_id;
  int64_t scheduled_event_id = 0;
  int64_t attempt = 0;
  absl::Time scheduled_at;
  absl::Time attempt_started_at;
};
// Locks the activity task of `queues` whose lease expired first, at `now`
// (skipping locked ones); std::nullopt if none.
absl::StatusOr<std::optional<ExpiredLease>> LockExpiredLease(pg::Connection& conn, const std::string& queues,
                                                             absl::Time now);

std::string PgTimeParam(absl::Time t);
// A text[] literal of `v` ({"a","b"}), for `= ANY($n::text[])`.
std::string PgTextArray(const std::vector<std::string>& v);

// FAILED_PRECONDITION unless `conn` is inside a transaction.
absl::Status RequireTransaction(pg::Connection& conn);

}  // namespace cantdo::workflow::internal
