#include "store.hpp"

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "cantdo/base/status.hpp"
#include "cantdo/pg/listener.hpp"
#include "cantdo/pg/sql_state.hpp"
#include "time_util.hpp"

namespace cantdo::workflow::internal {

using v1::HistoryEvent;

std::string RunColumns(absl::string_view table, absl::string_view attempt) {
  const std::string t = absl::StrCat(table, ".");
  const std::string attempt_sql =
      attempt.empty() ? absl::StrCat("coalesce((SELECT wt.attempt FROM cantdo.workflow_tasks wt WHERE wt.run_id = ", t,
                                     "run_id), 0)")
                      : absl::StrCat("coalesce(", attempt, ", 0)");
  return absl::StrCat(t, "run_id::text, ", t, "workflow_id, ", t, "workflow_type, ", t, "task_queue, ", t, "state, ",
                      "coalesce(", t, "request_id, ''), ", t, "requester, ", t, "admission_approval_id, ", t,
                      "first_run_id::text, ", t, "next_event_id, (extract(epoch FROM ", t,
                      "start_time) * 1000000)::bigint, (extract(epoch FROM ", t, "admit_time) * 1000000)::bigint, ",
                      "(extract(epoch FROM ", t, "close_time) * 1000000)::bigint, coalesce(", t,
                      "next_run_id::text, ''), encode(coalesce(", t, "failure, ''::bytea), 'hex'), ", attempt_sql, ", ",
                      t, "traceparent");
}

std::string PgTimeParam(absl::Time t) { return PgTime(t); }

std::string PgTextArray(const std::vector<std::string>& v) {
  std::vector<std::string> quoted;
  for (const auto& s : v) {
    std::string q = "\"";
    for (char c : s) {
      if (c == '"' || c == '\\') q += '\\';
      q += c;
    }
    quoted.push_back(q + "\"");
  }
  return absl::StrCat("{", absl::StrJoin(quoted, ","), "}");
}

absl::Status RequireTransaction(pg::Connection& conn) {
  if (conn.transaction_state() != pg::TransactionState::kInTransaction) {
    return absl::FailedPreconditionError("workflow operations must run inside a transaction");
  }
  return absl::OkStatus();
}

absl::StatusOr<RunRow> RunFromRow(const pg::Result& r, int row) {
  RunRow run;
  CANTDO_ASSIGN_OR_RETURN(run.run_id, r.GetString(row, 0));
  CANTDO_ASSIGN_OR_RETURN(run.workflow_id, r.GetString(row, 1));
  CANTDO_ASSIGN_OR_RETURN(run.workflow_type, r.GetString(row, 2));
  CANTDO_ASSIGN_OR_RETURN(run.task_queue, r.GetString(row, 3));
  CANTDO_ASSIGN_OR_RETURN(int64_t state, r.GetInt64(row, 4));
  run.state = static_cast<v1::WorkflowExecutionState>(state);
  CANTDO_ASSIGN_OR_RETURN(run.request_id, r.GetString(row, 5));
  CANTDO_ASSIGN_OR_RETURN(run.requester, r.GetString(row, 6));
  CANTDO_ASSIGN_OR_RETURN(run.admission_approval_id, r.GetString(row, 7));
  CANTDO_ASSIGN_OR_RETURN(run.first_run_id, r.GetString(row, 8));
  CANTDO_ASSIGN_OR_RETURN(run.next_event_id, r.GetInt64(row, 9));
  CANTDO_ASSIGN_OR_RETURN(int64_t start, r.GetInt64(row, 10));
  run.start_time = absl::FromUnixMicros(start);
  if (!r.IsNull(row, 11)) {
    CANTDO_ASSIGN_OR_RETURN(int64_t admit, r.GetInt64(row, 11));
    run.admit_time = absl::FromUnixMicros(admit);
  }
  if (!r.IsNull(row, 12)) {
    CANTDO_ASSIGN_OR_RETURN(int64_t close, r.GetInt64(row, 12));
    run.close_time = absl::FromUnixMicros(close);
  }
  CANTDO_ASSIGN_OR_RETURN(run.next_run_id, r.GetString(row, 13));
  CANTDO_ASSIGN_OR_RETURN(std::string failure_hex, r.GetString(row, 14));
  run.failure = absl::HexStringToBytes(failure_hex);
  CANTDO_ASSIGN_OR_RETURN(run.workflow_task_attempt, r.GetInt64(row, 15));
  CANTDO_ASSIGN_OR_RETURN(run.traceparent, r.GetString(row, 16));
  return run;
}

absl::Status LockRuns(pg::Connection& conn, const std::vector<std::string>& run_ids) {
  if (run_ids.empty()) return absl::OkStatus();
  return conn.Defer("SELECT 1 FROM cantdo.workflow_runs WHERE run_id = ANY($1::uuid[]) ORDER BY run_id FOR UPDATE",
                    {pg::TextParam(absl::StrCat("{", absl::StrJoin(run_ids, ","), "}"))});
}

absl::StatusOr<std::optional<RunRow>> LoadRun(pg::Connection& conn, const std::string& run_id, bool for_update) {
  if (for_update) CANTDO_RETURN_IF_ERROR(LockRuns(conn, {run_id}));  // rides with the read
  CANTDO_ASSIGN_OR_RETURN(pg::Result r, conn.Exec(absl::StrCat("SELECT ", RunColumns(),
                                                               " FROM cantdo.workflow_runs WHERE run_id = $1::uuid"),
                                                  {pg::TextParam(run_id)}));
  if (r.Rows() == 0) return std::optional<RunRow>();
  CANTDO_ASSIGN_OR_RETURN(RunRow run, RunFromRow(r, 0));
  return std::optional<RunRow>(std::move(run));
}

absl::StatusOr<std::optional<RunRow>> FindRun(pg::Connection& conn, const std::string& workflow_id,
                                              const std::string& run_id, bool for_update) {
  // A malformed run id cannot name a run.
  if (!run_id.empty() && run_id.size() != 36) return std::optional<RunRow>();
  static const std::string kWhere = absl::StrCat(
      " FROM cantdo.workflow_runs WHERE workflow_id = $1 AND ($2 = '' OR run_id::text = $2)"
      " ORDER BY (state IN (",
      static_cast<int>(v1::WORKFLOW_EXECUTION_STATE_PENDING_ADMISSION), ", ",
      static_cast<int>(v1::WORKFLOW_EXECUTION_STATE_RUNNING), ")) DESC, start_time DESC LIMIT 1");
  if (for_update) {
    // Lock, then read in a later statement (see RunColumns).
    CANTDO_ASSIGN_OR_RETURN(pg::Result locked, conn.Exec(absl::StrCat("SELECT run_id::text", kWhere, " FOR UPDATE"),
                                                         {pg::TextParam(workflow_id), pg::TextParam(run_id)}));
    if (locked.Rows() == 0) return std::optional<RunRow>();
    CANTDO_ASSIGN_OR_RETURN(std::string id, locked.GetString(0, 0));
    return LoadRun(conn, id, /*for_update=*/false);
  }
  CANTDO_ASSIGN_OR_RETURN(pg::Result r, conn.Exec(absl::StrCat("SELECT ", RunColumns(), kWhere),
                                                  {pg::TextParam(workflow_id), pg::TextParam(run_id)}));
  if (r.Rows() == 0) return std::optional<RunRow>();
  CANTDO_ASSIGN_OR_RETURN(RunRow run, RunFromRow(r, 0));
  return std::optional<RunRow>(std::move(run));
}

absl::StatusOr<std::vector<HistoryEvent>> LoadEvents(pg::Connection& conn, const std::string& run_id,
                                                     int64_t from_event_id, int64_t limit) {
  CANTDO_ASSIGN_OR_RETURN(
      pg::Result r,
      conn.Exec("SELECT encode(event, 'hex') FROM cantdo.workflow_events WHERE run_id = $1::uuid AND event_id >= $2"
                " ORDER BY event_id LIMIT $3",
                {pg::TextParam(run_id), pg::Int64Param(from_event_id), pg::Int64Param(limit)}));
  std::vector<HistoryEvent> out;
  out.reserve(r.Rows());
  for (int i = 0; i < r.Rows(); ++i) {
    CANTDO_ASSIGN_OR_RETURN(std::string hex, r.GetString(i, 0));
    HistoryEvent e;
    if (!e.ParseFromString(absl::HexStringToBytes(hex))) {
      return absl::DataLossError(absl::StrCat("undecodable history event ", from_event_id + i, " of run ", run_id));
    }
    out.push_back(std::move(e));
  }
  return out;
}

absl::Status AppendEvents(pg::Connection& conn, const std::string& run_id, int64_t expected_next,
                          const std::vector<HistoryEvent>& events) {
  if (events.empty()) return absl::OkStatus();
  const int64_t new_next = expected_next + static_cast<int64_t>(events.size());
  std::vector<std::string> ids, types, times, blobs;
  for (size_t i = 0; i < events.size(); ++i) {
    const HistoryEvent& e = events[i];
    if (e.event_id() != expected_next + static_cast<int64_t>(i)) {
      return absl::InternalError(absl::StrCat("appending event ", e.event_id(), " at position ", expected_next + i));
    }
    ids.push_back(absl::StrCat(e.event_id()));
    types.push_back(absl::StrCat(static_cast<int>(e.event_type())));
    times.push_back(absl::StrCat("\"", PgTime(FromProto(e.event_time())), "\""));
    blobs.push_back(absl::BytesToHexString(e.SerializeAsString()));
  }
  auto array = [](const std::vector<std::string>& v) { return absl::StrCat("{", absl::StrJoin(v, ","), "}"); };
  // One statement: move next_event_id, insert the events, tell watchers.
  return conn.Defer(
      "WITH moved AS (UPDATE cantdo.workflow_runs SET next_event_id = $3"
      " WHERE run_id = $1::uuid AND next_event_id = $2 RETURNING 1),"
      " appended AS (INSERT INTO cantdo.workflow_events (run_id, event_id, event_type, event_time, event)"
      " SELECT $1::uuid, i, t, ts, decode(b, 'hex')"
      " FROM unnest($4::bigint[], $5::smallint[], $6::timestamptz[], $7::text[]) AS u(i, t, ts, b) RETURNING 1)"
      " SELECT pg_notify($8, $9)",
      {pg::TextParam(run_id), pg::Int64Param(expected_next), pg::Int64Param(new_next), pg::TextParam(array(ids)),
       pg::TextParam(array(types)), pg::TextParam(array(times)), pg::TextParam(array(blobs)),
       pg::TextParam(kEventsChannel), pg::TextParam(run_id)});
}

HistoryEvent NewWorkflowTaskScheduled(int64_t id, absl::Time time, const std::string& task_queue) {
  HistoryEvent e = NewEvent(id, time, v1::EVENT_TYPE_WORKFLOW_TASK_SCHEDULED);
  e.mutable_workflow_task_scheduled()->set_task_queue(task_queue);
  e.mutable_workflow_task_scheduled()->set_attempt(1);
  return e;
}

absl::Status AppendAndScheduleIfIdle(pg::Connection& conn, const RunRow& run, std::vector<HistoryEvent> events,
                                     absl::Time now) {
  if (run.workflow_task_attempt == 0) {
    CANTDO_RETURN_IF_ERROR(InsertWorkflowTask(conn, run.run_id, run.task_queue, now));
    events.push_back(
        NewWorkflowTaskScheduled(run.next_event_id + static_cast<int64_t>(events.size()), now, run.task_queue));
  }
  return AppendEvents(conn, run.run_id, run.next_event_id, events);
}

absl::StatusOr<bool> HasEvent(pg::Connection& conn, const std::string& run_id, v1::EventType type) {
  CANTDO_ASSIGN_OR_RETURN(pg::Result r,
                          conn.Exec("SELECT 1 FROM cantdo.workflow_events WHERE run_id = $1::uuid AND event_type = $2",
                                    {pg::TextParam(run_id), pg::Int64Param(type)}));
  return r.Rows() > 0;
}

bool IsHistoryConflict(const absl::Status& s) {
  if (s.code() == absl::StatusCode::kAborted && GetReason(s) == "HISTORY_CONFLICT") return true;
  // A unique violation in an engine transaction: the same event id (or the
  // task it creates) written twice, i.e. a lost race for the history.
  return s.code() == absl::StatusCode::kAlreadyExists && pg::SqlStateOf(s) == "23505";
}

HistoryEvent NewEvent(int64_t id, absl::Time time, v1::EventType type) {
  HistoryEvent e;
  e.set_event_id(id);
  *e.mutable_event_time() = ToProto(time);
  e.set_event_type(type);
  return e;
}

absl::Status InsertWorkflowTask(pg::Connection& conn, const std::string& run_id, const std::string& task_queue,
                                absl::Time visible_at, int64_t attempt) {
  return conn.Defer(
      "WITH task AS (INSERT INTO cantdo.workflow_tasks (run_id, task_queue, visible_at, attempt)"
      " VALUES ($1::uuid, $2, $3::timestamptz, $4) RETURNING 1) SELECT pg_notify($5, $6)",
      {pg::TextParam(run_id), pg::TextParam(task_queue), pg::TextParam(PgTime(visible_at)), pg::Int64Param(attempt),
       pg::TextParam(kTasksChannel), pg::TextParam(task_queue)});
}

absl::Status CloseRun(pg::Connection& conn, const std::string& run_id, v1::WorkflowExecutionState state,
                      absl::Time close_time, const v1::Failure* failure, const std::string& next_run_id) {
  pg::Param failure_param = pg::NullParam();
  if (failure != nullptr) failure_param = absl::BytesToHexString(failure->SerializeAsString());
  // One statement: the run closed, its tasks and timers gone.
  return conn.Defer(
      "WITH closed AS (UPDATE cantdo.workflow_runs SET state = $2, close_time = $3::timestamptz,"
      " failure = decode($4, 'hex'), next_run_id = nullif($5, '')::uuid WHERE run_id = $1::uuid RETURNING 1),"
      " workflow_task AS (DELETE FROM cantdo.workflow_tasks WHERE run_id = $1::uuid RETURNING 1),"
      " activity_tasks AS (DELETE FROM cantdo.activity_tasks WHERE run_id = $1::uuid RETURNING 1),"
      " timers AS (DELETE FROM cantdo.workflow_timers WHERE run_id = $1::uuid RETURNING 1)"
      " SELECT 1",
      {pg::TextParam(run_id), pg::Int64Param(state), pg::TextParam(PgTime(close_time)), failure_param,
       pg::TextParam(next_run_id)});
}

absl::Status InsertRun(pg::Connection& conn, const NewRun& run) {
  return conn.Defer(
      "INSERT INTO cantdo.workflow_runs (run_id, workflow_id, workflow_type, task_queue, state, request_id,"
      " requester, admission_approval_id, first_run_id, next_event_id, start_time, admit_time, traceparent)"
      " VALUES ($1::uuid, $2, $3, $4, $5::smallint, nullif($6, ''), $7, $8, $9::uuid, 1, $10::timestamptz,"
      " CASE WHEN $5::smallint = $11::smallint THEN $10::timestamptz END, $12)",
      {pg::TextParam(run.run_id), pg::TextParam(run.workflow_id), pg::TextParam(run.workflow_type),
       pg::TextParam(run.task_queue), pg::Int64Param(run.state), pg::TextParam(run.request_id),
       pg::TextParam(run.requester), pg::TextParam(run.admission_approval_id), pg::TextParam(run.first_run_id),
       pg::TextParam(PgTime(run.start_time)), pg::Int64Param(v1::WORKFLOW_EXECUTION_STATE_RUNNING),
       pg::TextParam(run.traceparent)});
}

v1::WorkflowExecution ToExecution(const RunRow& run) {
  v1::WorkflowExecution x;
  x.set_workflow_id(run.workflow_id);
  x.set_run_id(run.run_id);
  x.set_workflow_type(run.workflow_type);
  x.set_task_queue(run.task_queue);
  x.set_state(run.state);
  *x.mutable_start_time() = ToProto(run.start_time);
  if (run.close_time) *x.mutable_close_time() = ToProto(*run.close_time);
  if (run.admit_time) *x.mutable_admit_time() = ToProto(*run.admit_time);
  x.set_history_length(run.next_event_id - 1);
  x.set_requester(run.requester);
  x.set_admission_approval_id(run.admission_approval_id);
  if (!run.failure.empty()) x.mutable_failure()->ParseFromString(run.failure);
  x.set_next_run_id(run.next_run_id);
  return x;
}

// ---- workflow tasks ----

absl::Status SetWorkflowTaskTimeout(pg::Connection& conn, absl::Duration timeout) {
  return conn.Defer("SELECT set_config('idle_in_transaction_session_timeout', $1, true)",
                    {pg::TextParam(absl::StrCat(absl::ToInt64Milliseconds(timeout)))});
}

absl::StatusOr<std::vector<RunRow>> LeaseWorkflowTasks(pg::Connection& conn, const std::string& queues, absl::Time now,
                                                       int limit) {
  CANTDO_ASSIGN_OR_RETURN(
      pg::Result r,
      conn.Exec(absl::StrCat("SELECT ", RunColumns("r", "t.attempt"),
                             " FROM cantdo.workflow_tasks t JOIN cantdo.workflow_runs r ON r.run_id = t.run_id"
                             " WHERE t.task_queue = ANY($1::text[]) AND t.visible_at <= $2::timestamptz"
                             // A literal limit: a parameter would make the
                             // planner guess the row count.
                             " ORDER BY t.visible_at LIMIT ",
                             limit, " FOR UPDATE OF t, r SKIP LOCKED"),
                {pg::TextParam(queues), pg::TextParam(PgTime(now))}));
  std::vector<RunRow> runs;
  runs.reserve(r.Rows());
  for (int i = 0; i < r.Rows(); ++i) {
    CANTDO_ASSIGN_OR_RETURN(RunRow run, RunFromRow(r, i));
    runs.push_back(std::move(run));
  }
  return runs;
}

absl::Status DeleteWorkflowTask(pg::Connection& conn, const std::string& run_id) {
  return conn.Defer("DELETE FROM cantdo.workflow_tasks WHERE run_id = $1::uuid", {pg::TextParam(run_id)});
}

absl::Status RetryWorkflowTask(pg::Connection& conn, const std::string& run_id, absl::Time visible_at) {
  return conn.Defer(
      "UPDATE cantdo.workflow_tasks SET attempt = attempt + 1,"
      " visible_at = $2::timestamptz WHERE run_id = $1::uuid",
      {pg::TextParam(run_id), pg::TextParam(PgTime(visible_at))});
}

absl::Status NotifyTaskQueue(pg::Connection& conn, const std::string& task_queue) {
  return conn.Defer("SELECT pg_notify($1, $2)", {pg::TextParam(kTasksChannel), pg::TextParam(task_queue)});
}

// ---- timers ----

absl::Status InsertTimer(pg::Connection& conn, const std::string& run_id, const std::string& timer_id,
                         int64_t started_event_id, const std::string& task_queue, absl::Time fire_at) {
  return conn.Defer(
      "INSERT INTO cantdo.workflow_timers (run_id, timer_id, started_event_id, task_queue, fire_at)"
      " VALUES ($1::uuid, $2, $3, $4, $5::timestamptz)",
      {pg::TextParam(run_id), pg::TextParam(timer_id), pg::Int64Param(started_event_id), pg::TextParam(task_queue),
       pg::TextParam(PgTime(fire_at))});
}

absl::StatusOr<std::optional<DueTimer>> LockDueTimer(pg::Connection& conn, const std::string& queues, absl::Time now) {
  CANTDO_ASSIGN_OR_RETURN(
      pg::Result r, conn.Exec("SELECT run_id::text AS run_id, timer_id, started_event_id FROM cantdo.workflow_timers"
                              " WHERE task_queue = ANY($1::text[]) AND fire_at <= $2::timestamptz"
                              " ORDER BY fire_at LIMIT 1 FOR UPDATE SKIP LOCKED",
                              {pg::TextParam(queues), pg::TextParam(PgTime(now))}));
  if (r.Rows() == 0) return std::optional<DueTimer>();
  DueTimer t;
  CANTDO_ASSIGN_OR_RETURN(t.run_id, r.GetString(0, "run_id"));
  CANTDO_ASSIGN_OR_RETURN(t.timer_id, r.GetString(0, "timer_id"));
  CANTDO_ASSIGN_OR_RETURN(t.started_event_id, r.GetInt64(0, "started_event_id"));
  return std::optional<DueTimer>(std::move(t));
}

absl::Status DeleteTimer(pg::Connection& conn, const std::string& run_id, const std::string& timer_id) {
  return conn.Defer("DELETE FROM cantdo.workflow_timers WHERE run_id = $1::uuid AND timer_id = $2",
                    {pg::TextParam(run_id), pg::TextParam(timer_id)});
}

// ---- activity tasks ----

absl::Status InsertActivityTask(pg::Connection& conn, const std::string& run_id, int64_t scheduled_event_id,
                                const std::string& task_queue, const std::string& activity_type, absl::Time now,
                                const std::optional<InitialLease>& lease) {
  return conn.Defer(
      "INSERT INTO cantdo.activity_tasks (run_id, scheduled_event_id, task_queue, activity_type, attempt,"
      " visible_at, scheduled_at, lease_id, lease_owner, attempt_started_at, lease_expires_at)"
      " VALUES ($1::uuid, $2, $3, $4, $5, $6::timestamptz, $6::timestamptz, nullif($7, '')::uuid,"
      " nullif($8, ''), CASE WHEN $7 = '' THEN NULL ELSE $6::timestamptz END,"
      " CASE WHEN $7 = '' THEN NULL ELSE $9::timestamptz END)",
      {pg::TextParam(run_id), pg::Int64Param(scheduled_event_id), pg::TextParam(task_queue),
       pg::TextParam(activity_type), pg::Int64Param(lease ? 1 : 0), pg::TextParam(PgTime(now)),
       pg::TextParam(lease ? lease->lease_id : ""), pg::TextParam(lease ? lease->owner : ""),
       pg::TextParam(PgTime(lease ? lease->expires_at : now))});
}

absl::StatusOr<std::vector<LeasableActivity>> LockLeasableActivities(pg::Connection& conn, const std::string& queues,
                                                                     absl::Time now, int limit) {
  CANTDO_ASSIGN_OR_RETURN(
      pg::Result r,
      conn.Exec(absl::StrCat("SELECT run_id::text AS run_id, scheduled_event_id, attempt FROM cantdo.activity_tasks"
                             " WHERE task_queue = ANY($1::text[]) AND lease_id IS NULL"
                             " AND visible_at <= $2::timestamptz ORDER BY visible_at LIMIT ",
                             limit, " FOR UPDATE SKIP LOCKED"),
                {pg::TextParam(queues), pg::TextParam(PgTime(now))}));
  std::vector<LeasableActivity> out(r.Rows());
  for (int i = 0; i < r.Rows(); ++i) {
    CANTDO_ASSIGN_OR_RETURN(out[i].run_id, r.GetString(i, "run_id"));
    CANTDO_ASSIGN_OR_RETURN(out[i].scheduled_event_id, r.GetInt64(i, "scheduled_event_id"));
    CANTDO_ASSIGN_OR_RETURN(out[i].attempts_started, r.GetInt64(i, "attempt"));
  }
  return out;
}

absl::Status LeaseActivityTask(pg::Connection& conn, const std::string& run_id, int64_t scheduled_event_id,
                               const std::string& lease_id, const std::string& owner, absl::Time now,
                               absl::Time expires_at) {
  CANTDO_ASSIGN_OR_RETURN(
      pg::Result r,
      conn.Exec("UPDATE cantdo.activity_tasks SET lease_id = $3::uuid, lease_owner = $4, attempt = attempt + 1,"
                " attempt_started_at = $5::timestamptz, lease_expires_at = $6::timestamptz"
                " WHERE run_id = $1::uuid AND scheduled_event_id = $2",
                {pg::TextParam(run_id), pg::Int64Param(scheduled_event_id), pg::TextParam(lease_id),
                 pg::TextParam(owner), pg::TextParam(PgTime(now)), pg::TextParam(PgTime(expires_at))}));
  (void)r;
  return absl::OkStatus();
}

absl::StatusOr<bool> ExtendActivityLease(pg::Connection& conn, const std::string& run_id, int64_t scheduled_event_id,
                                         const std::string& lease_id, absl::Time expires_at) {
  CANTDO_ASSIGN_OR_RETURN(
      pg::Result r, conn.Exec("UPDATE cantdo.activity_tasks SET lease_expires_at = $4::timestamptz"
                              " WHERE run_id = $1::uuid AND scheduled_event_id = $2 AND lease_id = $3::uuid"
                              " RETURNING EXISTS (SELECT 1 FROM cantdo.workflow_events e"
                              "   WHERE e.run_id = $1::uuid AND e.event_type = $5) AS cancel_requested",
                              {pg::TextParam(run_id), pg::Int64Param(scheduled_event_id), pg::TextParam(lease_id),
                               pg::TextParam(PgTime(expires_at)), pg::Int64Param(v1::EVENT_TYPE_CANCEL_REQUESTED)}));
  if (r.Rows() == 0) return absl::NotFoundError("activity lease lost (timed out or run closed)");
  return r.GetBool(0, "cancel_requested");
}

absl::Status ReleaseActivityLease(pg::Connection& conn, const std::string& run_id, int64_t scheduled_event_id,
                                  const std::string& lease_id, absl::Time now) {
  CANTDO_ASSIGN_OR_RETURN(
      pg::Result r,
      conn.Exec("UPDATE cantdo.activity_tasks SET lease_id = NULL, lease_owner = NULL, lease_expires_at = NULL,"
                " attempt = attempt - 1, visible_at = $3::timestamptz"
                " WHERE run_id = $1::uuid AND scheduled_event_id = $2 AND lease_id = $4::uuid",
                {pg::TextParam(run_id), pg::Int64Param(scheduled_event_id), pg::TextParam(PgTime(now)),
                 pg::TextParam(lease_id)}));
  (void)r;
  return absl::OkStatus();
}

absl::StatusOr<std::optional<absl::Time>> LockLeasedActivity(pg::Connection& conn, const std::string& run_id,
                                                             int64_t scheduled_event_id, const std::string& lease_id) {
  CANTDO_ASSIGN_OR_RETURN(
      pg::Result r,
      conn.Exec(
          "SELECT (extract(epoch FROM scheduled_at) * 1000000)::bigint AS scheduled_at_us FROM cantdo.activity_tasks"
          " WHERE run_id = $1::uuid AND scheduled_event_id = $2 AND lease_id = $3::uuid FOR UPDATE",
          {pg::TextParam(run_id), pg::Int64Param(scheduled_event_id), pg::TextParam(lease_id)}));
  if (r.Rows() == 0) return std::optional<absl::Time>();
  CANTDO_ASSIGN_OR_RETURN(int64_t scheduled_micros, r.GetInt64(0, "scheduled_at_us"));
  return std::optional<absl::Time>(absl::FromUnixMicros(scheduled_micros));
}

absl::Status RequeueActivityTask(pg::Connection& conn, const std::string& run_id, int64_t scheduled_event_id,
                                 absl::Time visible_at, const v1::Failure& failure) {
  return conn.Defer(
      "UPDATE cantdo.activity_tasks SET lease_id = NULL, lease_owner = NULL, lease_expires_at = NULL,"
      " visible_at = $3::timestamptz, last_failure = decode($4, 'hex')"
      " WHERE run_id = $1::uuid AND scheduled_event_id = $2",
      {pg::TextParam(run_id), pg::Int64Param(scheduled_event_id), pg::TextParam(PgTime(visible_at)),
       pg::TextParam(absl::BytesToHexString(failure.SerializeAsString()))});
}

absl::Status DeleteActivityTask(pg::Connection& conn, const std::string& run_id, int64_t scheduled_event_id) {
  return conn.Defer("DELETE FROM cantdo.activity_tasks WHERE run_id = $1::uuid AND scheduled_event_id = $2",
                    {pg::TextParam(run_id), pg::Int64Param(scheduled_event_id)});
}

pg::Connection::BatchStatement TakeLeasedActivity(const std::string& run_id, int64_t scheduled_event_id,
                                                  const std::string& lease_id) {
  return {absl::StrCat("WITH done AS (DELETE FROM cantdo.activity_tasks WHERE run_id = $1::uuid"
                       " AND scheduled_event_id = $2 AND lease_id = $3::uuid RETURNING 1)"
                       " SELECT ",
                       RunColumns(),
                       ", (SELECT count(*) FROM done) AS tasks_taken"
                       " FROM cantdo.workflow_runs WHERE run_id = $1::uuid"),
          {pg::TextParam(run_id), pg::Int64Param(scheduled_event_id), pg::TextParam(lease_id)}};
}

absl::StatusOr<std::optional<RunRow>> TakenActivityRun(const pg::Result& taken) {
  if (taken.Rows() == 0) return std::optional<RunRow>();
  CANTDO_ASSIGN_OR_RETURN(int64_t tasks_taken, taken.GetInt64(0, "tasks_taken"));
  if (tasks_taken == 0) return std::optional<RunRow>();
  CANTDO_ASSIGN_OR_RETURN(RunRow run, RunFromRow(taken, 0));
  return std::optional<RunRow>(std::move(run));
}

absl::StatusOr<std::optional<ExpiredLease>> LockExpiredLease(pg::Connection& conn, const std::string& queues,
                                                             absl::Time now) {
  CANTDO_ASSIGN_OR_RETURN(
      pg::Result r, conn.Exec("SELECT run_id::text AS run_id, scheduled_event_id, attempt,"
                              " (extract(epoch FROM scheduled_at) * 1000000)::bigint AS scheduled_at_us,"
                              " (extract(epoch FROM attempt_started_at) * 1000000)::bigint AS attempt_started_at_us"
                              " FROM cantdo.activity_tasks WHERE task_queue = ANY($1::text[]) AND lease_id IS NOT NULL"
                              " AND lease_expires_at <= $2::timestamptz ORDER BY lease_expires_at LIMIT 1"
                              " FOR UPDATE SKIP LOCKED",
                              {pg::TextParam(queues), pg::TextParam(PgTime(now))}));
  if (r.Rows() == 0) return std::optional<ExpiredLease>();
  ExpiredLease e;
  CANTDO_ASSIGN_OR_RETURN(e.run_id, r.GetString(0, "run_id"));
  CANTDO_ASSIGN_OR_RETURN(e.scheduled_event_id, r.GetInt64(0, "scheduled_event_id"));
  CANTDO_ASSIGN_OR_RETURN(e.attempt, r.GetInt64(0, "attempt"));
  CANTDO_ASSIGN_OR_RETURN(int64_t scheduled_us, r.GetInt64(0, "scheduled_at_us"));
  CANTDO_ASSIGN_OR_RETURN(int64_t started_us, r.GetInt64(0, "attempt_started_at_us"));
  e.scheduled_at = absl::FromUnixMicros(scheduled_us);
  e.attempt_started_at = absl::FromUnixMicros(started_us);
  return std::optional<ExpiredLease>(std::move(e));
}

}  // namespace cantdo::workflow::internal
