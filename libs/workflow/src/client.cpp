#include "cantdo/workflow/client.hpp"

#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "cantdo/base/status.hpp"
#include "cantdo/base/trace_context.hpp"
#include "store.hpp"
#include "time_util.hpp"

namespace cantdo::workflow {

using internal::RunRow;
using v1::HistoryEvent;

namespace {

absl::Status NotFound(const std::string& workflow_id, const std::string& run_id) {
  absl::Status s = absl::NotFoundError(
      absl::StrCat("no run of workflow ", workflow_id, run_id.empty() ? "" : absl::StrCat(" with run id ", run_id)));
  s = WithReason(std::move(s), "WORKFLOW_NOT_FOUND");
  s = WithMetadata(std::move(s), "workflow_id", workflow_id);
  return WithMetadata(std::move(s), "run_id", run_id);
}

absl::Status AlreadyClosed(const RunRow& run) {
  absl::Status s =
      FailedPrecondition("WORKFLOW_ALREADY_CLOSED", absl::StrCat("run ", run.run_id, " of workflow ", run.workflow_id,
                                                                 " is ", v1::WorkflowExecutionState_Name(run.state)));
  s = WithMetadata(std::move(s), "workflow_id", run.workflow_id);
  s = WithMetadata(std::move(s), "run_id", run.run_id);
  return WithMetadata(std::move(s), "state", v1::WorkflowExecutionState_Name(run.state));
}

absl::Status NotAdmitted(const std::string& workflow_id, const std::string& approval_id) {
  absl::Status s =
      FailedPrecondition("WORKFLOW_NOT_ADMITTED", absl::StrCat("workflow ", workflow_id, " is pending admission"));
  s = WithMetadata(std::move(s), "workflow_id", workflow_id);
  return WithMetadata(std::move(s), "admission_approval_id", approval_id);
}

AdmissionRun ToAdmissionRun(const RunRow& run) {
  return AdmissionRun{run.workflow_id, run.run_id, run.admission_approval_id, run.state, run.traceparent};
}

// The advisory lock that serializes the starts of one workflow id.
constexpr char kLockWorkflowIdSql[] = "SELECT pg_advisory_xact_lock(hashtextextended($1, 4))";

absl::StatusOr<RunRow> FindLocked(pg::Connection& conn, const std::string& workflow_id, const std::string& run_id) {
  CANTDO_ASSIGN_OR_RETURN(auto run, internal::FindRun(conn, workflow_id, run_id, /*for_update=*/true));
  if (!run) return NotFound(workflow_id, run_id);
  return *std::move(run);
}

}  // namespace

absl::StatusOr<StartResult> WorkflowClient::Start(pg::Connection& conn, const StartRequest& req) const {
  CANTDO_RETURN_IF_ERROR(internal::RequireTransaction(conn));
  if (req.workflow_id.empty()) return InvalidArgument("workflow_id", "workflow_id is required");
  if (req.workflow_type.empty()) return InvalidArgument("workflow_type", "workflow_type is required");
  if (req.task_queue.empty()) return InvalidArgument("task_queue", "task_queue is required");
  if (!req.run_id.empty() && req.run_id.size() != 36) return InvalidArgument("run_id", "run_id must be a UUID");

  // Serialize starts of the same workflow id (the partial unique index would
  // otherwise turn a race into a unique violation for the loser). Deferred:
  // it runs, and waits, before the lookups below, which travel with it.
  CANTDO_RETURN_IF_ERROR(conn.Defer(kLockWorkflowIdSql, {pg::TextParam(req.workflow_id)}));
  if (!req.request_id.empty()) {
    CANTDO_ASSIGN_OR_RETURN(
        pg::Result r, conn.Exec(absl::StrCat("SELECT ", internal::RunColumns(),
                                             " FROM cantdo.workflow_runs WHERE workflow_id = $1 AND request_id = $2"),
                                {pg::TextParam(req.workflow_id), pg::TextParam(req.request_id)}));
    if (r.Rows() > 0) {
      CANTDO_ASSIGN_OR_RETURN(RunRow run, internal::RunFromRow(r, 0));
      if (run.workflow_type != req.workflow_type) {
        absl::Status s = absl::AlreadyExistsError("request_id was used to start a different workflow");
        s = WithReason(std::move(s), "IDEMPOTENCY_KEY_REUSED");
        s = WithMetadata(std::move(s), "key", "request_id");
        return WithMetadata(std::move(s), "existing_id", run.run_id);
      }
      return StartResult{run.run_id, false, run.state};
    }
  }
  CANTDO_ASSIGN_OR_RETURN(auto open, internal::FindRun(conn, req.workflow_id, "", false));
  if (open && open->open()) {
    absl::Status s =
        absl::AlreadyExistsError(absl::StrCat("workflow ", req.workflow_id, " already has open run ", open->run_id));
    s = WithReason(std::move(s), "WORKFLOW_ALREADY_EXISTS");
    s = WithMetadata(std::move(s), "workflow_id", req.workflow_id);
    return WithMetadata(std::move(s), "run_id", open->run_id);
  }

  const absl::Time now = clock_.Now();
  const std::string run_id = req.run_id.empty() ? NewUuid(random_) : req.run_id;
  std::string traceparent = trace::CurrentTraceparent();
  if (auto given = trace::ParseTraceparent(req.traceparent)) traceparent = trace::FormatTraceparent(*given);
  const auto state =
      req.pending_admission ? v1::WORKFLOW_EXECUTION_STATE_PENDING_ADMISSION : v1::WORKFLOW_EXECUTION_STATE_RUNNING;
  std::vector<HistoryEvent> events;
  HistoryEvent started = internal::NewEvent(1, now, v1::EVENT_TYPE_WORKFLOW_EXECUTION_STARTED);
  auto* a = started.mutable_workflow_execution_started();
  a->set_workflow_type(req.workflow_type);
  a->set_task_queue(req.task_queue);
  *a->mutable_input() = req.input;
  *a->mutable_parameters() = req.parameters;
  a->set_requester(req.requester);
  a->set_request_id(req.request_id);
  *a->mutable_memo() = req.memo;
  a->set_first_run_id(run_id);
  events.push_back(std::move(started));
  if (!req.pending_admission) events.push_back(internal::NewWorkflowTaskScheduled(2, now, req.task_queue));
  internal::NewRun row;
  row.run_id = run_id;
  row.workflow_id = req.workflow_id;
  row.workflow_type = req.workflow_type;
  row.task_queue = req.task_queue;
  row.state = state;
  row.request_id = req.request_id;
  row.requester = req.requester;
  row.admission_approval_id = req.admission_approval_id;
  row.first_run_id = run_id;
  row.start_time = now;
  row.traceparent = traceparent;
  CANTDO_RETURN_IF_ERROR(internal::InsertRun(conn, row));
  CANTDO_RETURN_IF_ERROR(internal::AppendEvents(conn, run_id, 1, events));
  if (!req.pending_admission) {
    CANTDO_RETURN_IF_ERROR(internal::InsertWorkflowTask(conn, run_id, req.task_queue, now));
  }
  return StartResult{run_id, true, state};
}

absl::Status WorkflowClient::RejectAdmission(pg::Connection& conn, const std::string& workflow_id,
                                             const std::string& run_id, common::v1::ErrorReason reason,
                                             const std::string& approval_id, const std::string& message) const {
  CANTDO_RETURN_IF_ERROR(internal::RequireTransaction(conn));
  CANTDO_ASSIGN_OR_RETURN(RunRow run, FindLocked(conn, workflow_id, run_id));
  if (run.state == v1::WORKFLOW_EXECUTION_STATE_REJECTED) return absl::OkStatus();
  if (run.state != v1::WORKFLOW_EXECUTION_STATE_PENDING_ADMISSION) {
    if (!run.open()) return AlreadyClosed(run);
    return absl::FailedPreconditionError(absl::StrCat("run ", run.run_id, " was already admitted"));
  }
  const absl::Time now = clock_.Now();
  HistoryEvent e = internal::NewEvent(run.next_event_id, now, v1::EVENT_TYPE_WORKFLOW_EXECUTION_ADMISSION_REJECTED);
  auto* a = e.mutable_workflow_execution_admission_rejected();
  a->set_approval_id(approval_id);
  a->set_reason(reason);
  a->set_message(message);
  CANTDO_RETURN_IF_ERROR(internal::AppendEvents(conn, run.run_id, run.next_event_id, {e}));
  v1::Failure f;
  f.set_message(message);
  f.set_type(common::v1::ErrorReason_Name(reason));
  f.set_source("engine");
  return internal::CloseRun(conn, run.run_id, v1::WORKFLOW_EXECUTION_STATE_REJECTED, now, &f, "");
}

absl::StatusOr<SignalResult> WorkflowClient::Signal(pg::Connection& conn, const SignalRequest& req) const {
  CANTDO_RETURN_IF_ERROR(internal::RequireTransaction(conn));
  if (req.workflow_id.empty()) return InvalidArgument("workflow_id", "workflow_id is required");
  if (req.signal_name.empty()) return InvalidArgument("signal_name", "signal_name is required");
  if (req.signal_id.empty()) return InvalidArgument("signal_id", "signal_id is required");
  if (!req.run_id.empty() && req.run_id.size() != 36) return NotFound(req.workflow_id, req.run_id);
  CANTDO_ASSIGN_OR_RETURN(
      pg::Result r,
      conn.Exec("SELECT outcome, coalesce(run_id::text, '') AS run_id, coalesce(event_id, 0) AS event_id,"
                " coalesce(state, 0) AS state"
                " FROM cantdo.workflow_signal($1, nullif($2, '')::uuid, $3, $4, $5, decode($6, 'hex'), $7,"
                " $8::timestamptz)",
                {pg::TextParam(req.workflow_id), pg::TextParam(req.run_id), pg::TextParam(req.signal_name),
                 pg::TextParam(req.signal_id), pg::TextParam(req.payload.type_url()),
                 pg::TextParam(absl::BytesToHexString(req.payload.value())), pg::TextParam(req.identity),
                 pg::TextParam(internal::PgTimeParam(clock_.Now()))}));
  CANTDO_ASSIGN_OR_RETURN(std::string outcome, r.GetString(0, "outcome"));
  SignalResult out;
  CANTDO_ASSIGN_OR_RETURN(out.run_id, r.GetString(0, "run_id"));
  CANTDO_ASSIGN_OR_RETURN(out.event_id, r.GetInt64(0, "event_id"));
  CANTDO_ASSIGN_OR_RETURN(int64_t state, r.GetInt64(0, "state"));
  if (outcome == "OK") return out;
  if (outcome == "DUPLICATE") {
    out.duplicate = true;
    return out;
  }
  if (outcome == "NOT_FOUND") return NotFound(req.workflow_id, req.run_id);
  if (outcome == "NOT_ADMITTED") return NotAdmitted(req.workflow_id, "");
  RunRow closed;
  closed.run_id = out.run_id;
  closed.workflow_id = req.workflow_id;
  closed.state = static_cast<v1::WorkflowExecutionState>(state);
  return AlreadyClosed(closed);
}

absl::Status WorkflowClient::Cancel(pg::Connection& conn, const std::string& workflow_id, const std::string& run_id,
                                    const std::string& reason, const std::string& identity) const {
  CANTDO_RETURN_IF_ERROR(internal::RequireTransaction(conn));
  CANTDO_ASSIGN_OR_RETURN(RunRow run, FindLocked(conn, workflow_id, run_id));
  if (!run.open()) {
    if (run.state == v1::WORKFLOW_EXECUTION_STATE_CANCELLED) return absl::OkStatus();
    return AlreadyClosed(run);
  }
  const absl::Time now = clock_.Now();
  if (run.state == v1::WORKFLOW_EXECUTION_STATE_PENDING_ADMISSION) {
    HistoryEvent e = internal::NewEvent(run.next_event_id, now, v1::EVENT_TYPE_WORKFLOW_EXECUTION_CANCELLED);
    e.mutable_workflow_execution_cancelled();
    CANTDO_RETURN_IF_ERROR(internal::AppendEvents(conn, run.run_id, run.next_event_id, {e}));
    return internal::CloseRun(conn, run.run_id, v1::WORKFLOW_EXECUTION_STATE_CANCELLED, now, nullptr, "");
  }
  CANTDO_ASSIGN_OR_RETURN(bool requested, internal::HasEvent(conn, run.run_id, v1::EVENT_TYPE_CANCEL_REQUESTED));
  if (requested) return absl::OkStatus();
  HistoryEvent e = internal::NewEvent(run.next_event_id, now, v1::EVENT_TYPE_CANCEL_REQUESTED);
  e.mutable_workflow_execution_cancel_requested()->set_reason(reason);
  e.mutable_workflow_execution_cancel_requested()->set_identity(identity);
  return internal::AppendAndScheduleIfIdle(conn, run, {std::move(e)}, now);
}

absl::Status WorkflowClient::Terminate(pg::Connection& conn, const std::string& workflow_id, const std::string& run_id,
                                       const std::string& reason, const std::string& identity) const {
  CANTDO_RETURN_IF_ERROR(internal::RequireTransaction(conn));
  CANTDO_ASSIGN_OR_RETURN(RunRow run, FindLocked(conn, workflow_id, run_id));
  if (!run.open()) return AlreadyClosed(run);
  const absl::Time now = clock_.Now();
  HistoryEvent e = internal::NewEvent(run.next_event_id, now, v1::EVENT_TYPE_WORKFLOW_EXECUTION_TERMINATED);
  e.mutable_workflow_execution_terminated()->set_reason(reason);
  e.mutable_workflow_execution_terminated()->set_identity(identity);
  CANTDO_RETURN_IF_ERROR(internal::AppendEvents(conn, run.run_id, run.next_event_id, {e}));
  v1::Failure f;
  f.set_message(reason);
  f.set_type("TERMINATED");
  f.set_source("engine");
  return internal::CloseRun(conn, run.run_id, v1::WORKFLOW_EXECUTION_STATE_TERMINATED, now, &f, "");
}

absl::StatusOr<v1::WorkflowExecution> WorkflowClient::Describe(pg::Connection& conn, const std::string& workflow_id,
                                                               const std::string& run_id) const {
  CANTDO_ASSIGN_OR_RETURN(auto run, internal::FindRun(conn, workflow_id, run_id, false));
  if (!run) return NotFound(workflow_id, run_id);
  return internal::ToExecution(*run);
}

absl::Status WorkflowClient::LockWorkflowId(pg::Connection& conn, const std::string& workflow_id) const {
  CANTDO_RETURN_IF_ERROR(internal::RequireTransaction(conn));
  return conn.Exec(kLockWorkflowIdSql, {pg::TextParam(workflow_id)}).status();
}

absl::StatusOr<std::optional<v1::WorkflowExecution>> WorkflowClient::FindByRequestId(
    pg::Connection& conn, const std::string& request_id) const {
  CANTDO_ASSIGN_OR_RETURN(pg::Result r, conn.Exec(absl::StrCat("SELECT ", internal::RunColumns(),
                                                               " FROM cantdo.workflow_runs WHERE request_id = $1"
                                                               " ORDER BY start_time LIMIT 1"),
                                                  {pg::TextParam(request_id)}));
  if (r.Rows() == 0) return std::nullopt;
  CANTDO_ASSIGN_OR_RETURN(RunRow run, internal::RunFromRow(r, 0));
  return internal::ToExecution(run);
}

absl::StatusOr<std::optional<AdmissionRun>> WorkflowClient::FindByAdmissionApproval(
    pg::Connection& conn, const std::string& approval_id, const std::vector<v1::WorkflowExecutionState>& states) const {
  std::vector<std::string> wanted;
  for (auto s : states) wanted.push_back(absl::StrCat(static_cast<int>(s)));
  CANTDO_ASSIGN_OR_RETURN(
      pg::Result r,
      conn.Exec(absl::StrCat("SELECT ", internal::RunColumns(),
                             " FROM cantdo.workflow_runs WHERE admission_approval_id = $1"
                             " AND ($2 = '{}' OR state = ANY($2::smallint[])) LIMIT 1"),
                {pg::TextParam(approval_id), pg::TextParam(absl::StrCat("{", absl::StrJoin(wanted, ","), "}"))}));
  if (r.Rows() == 0) return std::nullopt;
  CANTDO_ASSIGN_OR_RETURN(RunRow run, internal::RunFromRow(r, 0));
  return ToAdmissionRun(run);
}

absl::StatusOr<std::vector<AdmissionRun>> WorkflowClient::PendingAdmissions(pg::Connection& conn, int limit) const {
  // The state is spelled in the statement, not bound, so that the partial
  // index workflow_runs_pending_admission (V0005) serves a prepared
  // statement's generic plan too.
  CANTDO_ASSIGN_OR_RETURN(
      pg::Result r,
      conn.Exec(absl::StrCat("SELECT ", internal::RunColumns(), " FROM cantdo.workflow_runs WHERE state = ",
                             static_cast<int>(v1::WORKFLOW_EXECUTION_STATE_PENDING_ADMISSION),
                             " AND admission_approval_id <> '' ORDER BY start_time LIMIT $1"),
                {pg::Int64Param(limit)}));
  std::vector<AdmissionRun> runs;
  for (int i = 0; i < r.Rows(); ++i) {
    CANTDO_ASSIGN_OR_RETURN(RunRow run, internal::RunFromRow(r, i));
    runs.push_back(ToAdmissionRun(run));
  }
  return runs;
}

absl::StatusOr<ListPage> WorkflowClient::List(pg::Connection& conn, const ListRequest& req) const {
  if (req.page_size < 1 || req.page_size > 1000) return InvalidArgument("page_size", "page_size must be 1..1000");
  // Page token: "<start micros>/<run id>" of the last run returned.
  int64_t after_micros = INT64_MAX;
  std::string after_run = "ffffffff-ffff-ffff-ffff-ffffffffffff";
  if (!req.page_token.empty()) {
    auto slash = req.page_token.find('/');
    if (slash == std::string::npos || !absl::SimpleAtoi(req.page_token.substr(0, slash), &after_micros)) {
      return InvalidArgument("page_token", "malformed page_token");
    }
    after_run = req.page_token.substr(slash + 1);
    if (after_run.size() != 36) return InvalidArgument("page_token", "malformed page_token");
  }
  std::vector<std::string> states;
  for (auto s : req.states) states.push_back(absl::StrCat(static_cast<int>(s)));
  CANTDO_ASSIGN_OR_RETURN(
      pg::Result r,
      conn.Exec(absl::StrCat("SELECT ", internal::RunColumns(),
                             " FROM cantdo.workflow_runs"
                             " WHERE ($1 = '' OR workflow_type = $1) AND ($2 = '{}' OR state = ANY($2::smallint[]))"
                             " AND ($3 = '' OR workflow_id = $3)"
                             " AND (start_time, run_id) < (to_timestamp($4::bigint / 1000000.0), $5::uuid)"
                             " ORDER BY start_time DESC, run_id DESC LIMIT $6"),
                {pg::TextParam(req.workflow_type), pg::TextParam(absl::StrCat("{", absl::StrJoin(states, ","), "}")),
                 pg::TextParam(req.workflow_id),
                 pg::Int64Param(after_micros == INT64_MAX ? int64_t{253402300799000000} : after_micros),
                 pg::TextParam(after_run), pg::Int64Param(req.page_size + 1)}));
  ListPage page;
  for (int i = 0; i < r.Rows() && i < req.page_size; ++i) {
    CANTDO_ASSIGN_OR_RETURN(RunRow run, internal::RunFromRow(r, i));
    if (i == req.page_size - 1 && r.Rows() > req.page_size) {
      page.next_page_token = absl::StrCat(absl::ToUnixMicros(run.start_time), "/", run.run_id);
    }
    page.runs.push_back(internal::ToExecution(run));
  }
  return page;
}

absl::StatusOr<HistoryPage> WorkflowClient::History(pg::Connection& conn, const std::string& run_id,
                                                    int64_t from_event_id, int max_events) const {
  if (from_event_id < 1) return InvalidArgument("from_event_id", "from_event_id must be >= 1");
  if (max_events < 1) return InvalidArgument("page_size", "page_size must be >= 1");
  if (run_id.size() != 36) return NotFound("", run_id);
  CANTDO_ASSIGN_OR_RETURN(auto run, internal::LoadRun(conn, run_id, false));
  if (!run) return NotFound("", run_id);
  if (!run->open() && from_event_id > run->next_event_id) {
    absl::Status s = absl::OutOfRangeError(absl::StrCat("run ", run_id, " ended at event ", run->next_event_id - 1));
    s = WithReason(std::move(s), "HISTORY_EVENT_OUT_OF_RANGE");
    return WithMetadata(std::move(s), "last_event_id", absl::StrCat(run->next_event_id - 1));
  }
  HistoryPage page;
  CANTDO_ASSIGN_OR_RETURN(page.events, internal::LoadEvents(conn, run_id, from_event_id, max_events));
  page.next_event_id = page.events.empty() ? from_event_id : page.events.back().event_id() + 1;
  page.complete = !run->open() && page.next_event_id >= run->next_event_id;
  return page;
}

absl::StatusOr<std::unique_ptr<HistoryWatcher>> HistoryWatcher::Create(const std::string& dsn, std::string run_id,
                                                                       int64_t from_event_id) {
  CANTDO_ASSIGN_OR_RETURN(auto listener, pg::Listener::Create(dsn));
  CANTDO_RETURN_IF_ERROR(listener->Listen(internal::kEventsChannel));
  CANTDO_ASSIGN_OR_RETURN(auto reader, pg::Connection::Connect(dsn, absl::Seconds(5)));
  return std::unique_ptr<HistoryWatcher>(
      new HistoryWatcher(std::move(listener), std::move(reader), std::move(run_id), from_event_id));
}

absl::StatusOr<HistoryPage> HistoryWatcher::Next(absl::Time deadline) {
  WorkflowClient reader_client(SystemClock());
  while (true) {
    // Read first: LISTEN was issued before the first read, so nothing
    // committed after this read can be missed.
    CANTDO_ASSIGN_OR_RETURN(HistoryPage page, reader_client.History(*reader_, run_id_, next_, 1000));
    if (!page.events.empty() || page.complete) {
      next_ = page.next_event_id;
      return page;
    }
    // Wait for a notification about this run (others are skipped).
    while (true) {
      CANTDO_ASSIGN_OR_RETURN(auto n, listener_->Wait(deadline));
      if (!n.has_value()) return page;  // deadline
      if (n->gap || n->payload == run_id_) break;
    }
  }
}

}  // namespace cantdo::workflow
