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

// Whether a transaction failed because another writer appended to the same
// history first (its events' primary key, or the engine's own check).
bool IsHistoryConflict(const absl::Status& status);

// Marks the run closed and removes everything that could still wake it
// (deferred).
absl::Status CloseRun(pg::Connection& conn, const std::string& run_id, v1::WorkflowExecutionState state,
                      absl::Time close_time, const v1::Failure* failure, const std::string& next_run_id);

v1::WorkflowExecution ToExecution(const RunRow& run);

std::string PgTimeParam(absl::Time t);
// A text[] literal of `v` ({"a","b"}), for `= ANY($n::text[])`.
std::string PgTextArray(const std::vector<std::string>& v);

// FAILED_PRECONDITION unless `conn` is inside a transaction.
absl::Status RequireTransaction(pg::Connection& conn);

}  // namespace cantdo::workflow::internal
