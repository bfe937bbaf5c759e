// Workflow tasks: lease a run's task, replay its code over the history it
// has not seen, and record the new commands with their effects.
//
// Contract: a workflow task is leased by holding the row locks of its task
// and its run for one transaction; it runs and commits inside it, so nobody
// else appends to the run meanwhile, and a crashed worker's task is free
// again when its connection goes (or after workflow_task_timeout idle).
// A task's events form one batch appended at next_event_id: its inputs (an
// activity's result, when run inline), [WorkflowTaskScheduled], Started,
// Completed, then the commands. A failed task (non-determinism, a panic, an
// unknown type) keeps its inputs, records WorkflowTaskFailed on the first
// attempt only, and is retried with backoff (workflow_task_retry_*).

#include <algorithm>
#include <cmath>

#include "absl/strings/str_cat.h"
#include "cantdo/base/ids.hpp"
#include "cantdo/base/log.hpp"
#include "cantdo/base/status.hpp"
#include "cantdo/base/trace_context.hpp"
#include "cantdo/pg/transaction.hpp"
#include "cantdo/workflow/failure.hpp"
#include "cantdo/workflow/internal/outage_backoff.hpp"
#include "time_util.hpp"
#include "worker_impl.hpp"

namespace cantdo::workflow {

using internal::RunRow;
using v1::HistoryEvent;

namespace {

// The events of one workflow task, in the order they are appended.
class TaskBatch {
 public:
  // Lays out the inputs, [WorkflowTaskScheduled] (kInline: the task
  // schedules itself), WorkflowTaskStarted and WorkflowTaskCompleted from
  // `first_id` (the run's next_event_id) on.
  TaskBatch(const RunRow& run, const WorkflowTask& task, absl::Time now, const std::string& identity)
      : first_id_(run.next_event_id), events_(task.inputs), inputs_(task.inputs.size()) {
    int64_t scheduled_id = 0;
    if (task.origin == TaskOrigin::kInline) {
      scheduled_id = next_id();
      events_.push_back(internal::NewWorkflowTaskScheduled(scheduled_id, now, run.task_queue));
    }
    started_id_ = next_id();
    HistoryEvent started = internal::NewEvent(started_id_, now, v1::EVENT_TYPE_WORKFLOW_TASK_STARTED);
    started.mutable_workflow_task_started()->set_scheduled_event_id(scheduled_id);
    started.mutable_workflow_task_started()->set_identity(identity);
    events_.push_back(std::move(started));
    completed_id_ = next_id();
    HistoryEvent completed = internal::NewEvent(completed_id_, now, v1::EVENT_TYPE_WORKFLOW_TASK_COMPLETED);
    completed.mutable_workflow_task_completed()->set_scheduled_event_id(scheduled_id);
    completed.mutable_workflow_task_completed()->set_started_event_id(started_id_);
    completed.mutable_workflow_task_completed()->set_identity(identity);
    events_.push_back(std::move(completed));
  }

  int64_t first_id() const { return first_id_; }
  int64_t started_id() const { return started_id_; }
  int64_t next_id() const { return first_id_ + static_cast<int64_t>(events_.size()); }
  const std::vector<HistoryEvent>& events() const { return events_; }

  // Appends the commands, numbered on and stamped with `now` and the task's
  // WorkflowTaskCompleted id.
  void AddCommands(std::vector<HistoryEvent>& commands, absl::Time now) {
    for (HistoryEvent& c : commands) {
      c.set_event_id(next_id());
      *c.mutable_event_time() = ToProto(now);
      SetCompletedEventId(c, completed_id_);
      events_.push_back(c);
    }
  }

  // The task's own events, without the inputs (the Replayer was fed those).
  std::vector<HistoryEvent> OwnEvents() const {
    return std::vector<HistoryEvent>(events_.begin() + static_cast<std::ptrdiff_t>(inputs_), events_.end());
  }

 private:
  static void SetCompletedEventId(HistoryEvent& c, int64_t completed_id) {
    switch (c.attributes_case()) {
      case HistoryEvent::kActivityTaskScheduled:
        c.mutable_activity_task_scheduled()->set_workflow_task_completed_event_id(completed_id);
        break;
      case HistoryEvent::kTimerStarted:
        c.mutable_timer_started()->set_workflow_task_completed_event_id(completed_id);
        break;
      case HistoryEvent::kMarkerRecorded:
        c.mutable_marker_recorded()->set_workflow_task_completed_event_id(completed_id);
        break;
      case HistoryEvent::kWorkflowExecutionCompleted:
        c.mutable_workflow_execution_completed()->set_workflow_task_completed_event_id(completed_id);
        break;
      case HistoryEvent::kWorkflowExecutionFailed:
        c.mutable_workflow_execution_failed()->set_workflow_task_completed_event_id(completed_id);
        break;
      case HistoryEvent::kWorkflowExecutionCancelled:
        c.mutable_workflow_execution_cancelled()->set_workflow_task_completed_event_id(completed_id);
        break;
      case HistoryEvent::kWorkflowExecutionContinuedAsNew:
        c.mutable_workflow_execution_continued_as_new()->set_workflow_task_completed_event_id(completed_id);
        break;
      default:
        break;
    }
  }

  const int64_t first_id_;
  std::vector<HistoryEvent> events_;
  const size_t inputs_;
  int64_t started_id_ = 0;
  int64_t completed_id_ = 0;
};

v1::WorkflowTaskFailedCause FailureCause(const absl::Status& error) {
  return GetReason(error) == "NON_DETERMINISM" ? v1::WORKFLOW_TASK_FAILED_CAUSE_NON_DETERMINISM
                                               : v1::WORKFLOW_TASK_FAILED_CAUSE_WORKFLOW_PANIC;
}

}  // namespace

absl::StatusOr<Worker::Impl::Work> Worker::Impl::PollWorkflowTask(ThreadState& here) {
  int limit = kMaxPollBatch;
  for (int attempt = 0;; ++attempt) {
    int found = 0;
    AfterCommit after;
    absl::Status s = pg::RunInTransaction(pool_, Tx(), [&](pg::Connection& conn) -> absl::Status {
      after.Clear();
      CANTDO_RETURN_IF_ERROR(internal::SetWorkflowTaskTimeout(conn, options_.workflow_task_timeout));
      // Each task row and its run's row, locked: the task is leased for
      // this transaction and nobody else appends to the run meanwhile (a
      // run busy elsewhere is skipped, its task taken later).
      CANTDO_ASSIGN_OR_RETURN(std::vector<RunRow> runs,
                              internal::LeaseWorkflowTasks(conn, queues_param_, clock_.Now(), limit));
      found = static_cast<int>(runs.size());
      for (const RunRow& run : runs) {
        if (!run.open()) {
          CANTDO_RETURN_IF_ERROR(internal::DeleteWorkflowTask(conn, run.run_id));
          continue;
        }
        trace::ScopedTrace traced(run.traceparent);
        WorkflowTask task{TaskOrigin::kQueued, static_cast<int>(run.workflow_task_attempt), {}};
        CANTDO_RETURN_IF_ERROR(RunWorkflowTask(conn, run, std::move(task), after));
      }
      return absl::OkStatus();
    });
    // A batch that failed is tried again task by task (one bad run must not
    // hold the others back), unless the database is not there at all.
    if (!s.ok() && attempt < 10 &&
        (internal::IsHistoryConflict(s) || (limit > 1 && !internal::IsDatabaseUnavailable(s)))) {
      if (internal::IsHistoryConflict(s)) Count(&WorkerStats::history_conflicts);
      limit = 1;
      continue;
    }
    CANTDO_RETURN_IF_ERROR(s);
    Committed(after, /*here=*/nullptr);
    if (found == 0) {
      Count(&WorkerStats::empty_polls);
      return Work::kNone;
    }
    here.taken_here += found;
    return found == limit ? Work::kMore : Work::kDone;
  }
}

absl::Status Worker::Impl::RunWorkflowTask(pg::Connection& conn, const RunRow& run, WorkflowTask task,
                                           AfterCommit& after) {
  const absl::Time now = clock_.Now();
  const WorkflowFunction* fn = registry_.FindWorkflow(run.workflow_type);
  if (fn == nullptr) {
    return FailWorkflowTask(conn, run, std::move(task), v1::WORKFLOW_TASK_FAILED_CAUSE_UNKNOWN_WORKFLOW_TYPE,
                            absl::FailedPreconditionError("no code for workflow type " + run.workflow_type));
  }
  std::unique_ptr<Replayer> replayer = TakeReplayer(run, *fn);
  CANTDO_ASSIGN_OR_RETURN(std::vector<HistoryEvent> unseen, UnseenHistory(conn, run, *replayer));
  unseen.insert(unseen.end(), task.inputs.begin(), task.inputs.end());
  TaskBatch batch(run, task, now, options_.identity);
  absl::Status applied = replayer->Apply(unseen);
  absl::StatusOr<std::vector<HistoryEvent>> commands =
      applied.ok() ? replayer->RunLive(now, batch.started_id()) : absl::StatusOr<std::vector<HistoryEvent>>(applied);
  if (!commands.ok()) {
    log::Warn("workflow task failed", {{"run_id", run.run_id}, {"error", commands.status().ToString()}});
    return FailWorkflowTask(conn, run, std::move(task), FailureCause(commands.status()), commands.status());
  }
  Count(&WorkerStats::workflow_tasks);

  if (EnforceHistoryLimit(run, batch.next_id(), *commands)) replayer.reset();  // it no longer matches the record
  batch.AddCommands(*commands, now);
  CANTDO_RETURN_IF_ERROR(internal::AppendEvents(conn, run.run_id, batch.first_id(), batch.events()));
  CANTDO_ASSIGN_OR_RETURN(bool closed, ApplyCommands(conn, run, *commands, now, after));
  if (!closed && task.origin == TaskOrigin::kQueued) {
    CANTDO_RETURN_IF_ERROR(internal::DeleteWorkflowTask(conn, run.run_id));
  }
  if (replayer) {
    CANTDO_RETURN_IF_ERROR(replayer->Accept(batch.OwnEvents()));
    if (!closed && options_.sticky_cache) {
      auto kept = std::make_shared<std::unique_ptr<Replayer>>(std::move(replayer));
      after.actions.push_back([this, kept, run_id = run.run_id] { cache_.Put(run_id, std::move(*kept)); });
    }
  }
  return absl::OkStatus();
}

// The run's cached Replayer if it is current (it has seen no event the
// history lacks), else a new one.
std::unique_ptr<Replayer> Worker::Impl::TakeReplayer(const RunRow& run, const WorkflowFunction& fn) {
  std::unique_ptr<Replayer> replayer = cache_.Take(run.run_id);
  if (replayer && replayer->last_event_id() >= run.next_event_id) replayer.reset();
  if (replayer) {
    Count(&WorkerStats::cache_hits);
    return replayer;
  }
  return std::make_unique<Replayer>(RunInfo{run.workflow_id, run.run_id, run.workflow_type, run.task_queue}, fn,
                                    SecureRandom(), options_.history_warn_events);
}

// The committed events the Replayer has not seen (none when it was cached
// and current).
absl::StatusOr<std::vector<HistoryEvent>> Worker::Impl::UnseenHistory(pg::Connection& conn, const RunRow& run,
                                                                      const Replayer& replayer) {
  const int64_t from = replayer.last_event_id() + 1;
  if (from >= run.next_event_id) return std::vector<HistoryEvent>();
  CANTDO_ASSIGN_OR_RETURN(std::vector<HistoryEvent> events,
                          internal::LoadEvents(conn, run.run_id, from, run.next_event_id - from));
  if (events.empty() || events.back().event_id() + 1 != run.next_event_id) {
    return absl::DataLossError(
        absl::StrCat("history of run ", run.run_id, " is shorter than next_event_id ", run.next_event_id, " says"));
  }
  return events;
}

bool Worker::Impl::EnforceHistoryLimit(const RunRow& run, int64_t next_id, std::vector<HistoryEvent>& commands) {
  const int64_t length = next_id + static_cast<int64_t>(commands.size());
  if (length > options_.history_limit_events + 1) {
    commands.clear();
    HistoryEvent fail;
    fail.set_event_type(v1::EVENT_TYPE_WORKFLOW_EXECUTION_FAILED);
    absl::Status limit = FailedPrecondition("HISTORY_LIMIT_EXCEEDED",
                                            absl::StrCat("history of run ", run.run_id, " reached the limit of ",
                                                         options_.history_limit_events, " events"));
    *fail.mutable_workflow_execution_failed()->mutable_failure() = FailureFromStatus(limit, "engine");
    commands.push_back(std::move(fail));
    return true;
  }
  if (length > options_.history_warn_events) {
    log::Warn("workflow history is large", {{"run_id", run.run_id}, {"events", length}});
  }
  return false;
}

absl::StatusOr<bool> Worker::Impl::ApplyCommands(pg::Connection& conn, const RunRow& run,
                                                 const std::vector<HistoryEvent>& commands, absl::Time now,
                                                 AfterCommit& after) {
  bool closed = false;
  for (const HistoryEvent& c : commands) {
    switch (c.attributes_case()) {
      case HistoryEvent::kActivityTaskScheduled:
        CANTDO_RETURN_IF_ERROR(ScheduleActivity(conn, run, c, now, after));
        break;
      case HistoryEvent::kTimerStarted:
        CANTDO_RETURN_IF_ERROR(internal::InsertTimer(conn, run.run_id, c.timer_started().timer_id(), c.event_id(),
                                                     run.task_queue, FromProto(c.timer_started().fire_time())));
        break;
      case HistoryEvent::kWorkflowExecutionCompleted:
        CANTDO_RETURN_IF_ERROR(
            internal::CloseRun(conn, run.run_id, v1::WORKFLOW_EXECUTION_STATE_COMPLETED, now, nullptr, ""));
        closed = true;
        break;
      case HistoryEvent::kWorkflowExecutionFailed:
        CANTDO_RETURN_IF_ERROR(internal::CloseRun(conn, run.run_id, v1::WORKFLOW_EXECUTION_STATE_FAILED, now,
                                                  &c.workflow_execution_failed().failure(), ""));
        closed = true;
        break;
      case HistoryEvent::kWorkflowExecutionCancelled:
        CANTDO_RETURN_IF_ERROR(
            internal::CloseRun(conn, run.run_id, v1::WORKFLOW_EXECUTION_STATE_CANCELLED, now, nullptr, ""));
        closed = true;
        break;
      case HistoryEvent::kWorkflowExecutionContinuedAsNew:
        CANTDO_RETURN_IF_ERROR(ContinueAsNew(conn, run, c, now));
        closed = true;
        break;
      default:
        break;
    }
  }
  return closed;
}

absl::Status Worker::Impl::FailWorkflowTask(pg::Connection& conn, const RunRow& run, WorkflowTask task,
                                            v1::WorkflowTaskFailedCause cause, const absl::Status& error) {
  Count(&WorkerStats::workflow_task_failures);
  const absl::Time now = clock_.Now();
  // The inputs (an activity's result) are kept whatever the code did.
  // Record the first failure only, so a run stuck on incompatible code does
  // not grow its history on every retry.
  std::vector<HistoryEvent> events = std::move(task.inputs);
  if (task.attempt <= 1) {
    HistoryEvent e = internal::NewEvent(run.next_event_id + static_cast<int64_t>(events.size()), now,
                                        v1::EVENT_TYPE_WORKFLOW_TASK_FAILED);
    auto* a = e.mutable_workflow_task_failed();
    a->set_cause(cause);
    *a->mutable_failure() = FailureFromStatus(error, "engine");
    a->set_identity(options_.identity);
    events.push_back(std::move(e));
  }
  CANTDO_RETURN_IF_ERROR(internal::AppendEvents(conn, run.run_id, run.next_event_id, events));
  absl::Duration delay = options_.workflow_task_retry_initial * std::pow(2.0, std::min(task.attempt - 1, 20));
  delay = std::min(delay, options_.workflow_task_retry_max);
  if (task.origin == TaskOrigin::kQueued) return internal::RetryWorkflowTask(conn, run.run_id, now + delay);
  return internal::InsertWorkflowTask(conn, run.run_id, run.task_queue, now + delay, task.attempt + 1);
}

absl::Status Worker::Impl::ContinueAsNew(pg::Connection& conn, const RunRow& run, const HistoryEvent& command,
                                         absl::Time now) {
  const auto& can = command.workflow_execution_continued_as_new();
  internal::NewRun next;
  next.run_id = NewUuid();
  next.workflow_id = run.workflow_id;
  next.workflow_type = can.workflow_type();
  next.task_queue = can.task_queue();
  next.state = v1::WORKFLOW_EXECUTION_STATE_RUNNING;
  next.requester = run.requester;
  next.admission_approval_id = run.admission_approval_id;
  next.first_run_id = run.first_run_id;
  next.start_time = now;
  next.traceparent = run.traceparent;
  CANTDO_RETURN_IF_ERROR(
      internal::CloseRun(conn, run.run_id, v1::WORKFLOW_EXECUTION_STATE_CONTINUED_AS_NEW, now, nullptr, next.run_id));
  CANTDO_RETURN_IF_ERROR(internal::InsertRun(conn, next));
  HistoryEvent started = internal::NewEvent(1, now, v1::EVENT_TYPE_WORKFLOW_EXECUTION_STARTED);
  auto* a = started.mutable_workflow_execution_started();
  a->set_workflow_type(can.workflow_type());
  a->set_task_queue(can.task_queue());
  *a->mutable_input() = can.input();
  a->set_requester(run.requester);
  a->set_continued_from_run_id(run.run_id);
  a->set_first_run_id(run.first_run_id);
  // The chain's admission, so the new run's code sees what was approved (it
  // gets no WorkflowExecutionAdmitted event of its own).
  if (can.has_admission()) *a->mutable_admission() = can.admission();
  HistoryEvent scheduled = internal::NewWorkflowTaskScheduled(2, now, can.task_queue());
  CANTDO_RETURN_IF_ERROR(internal::AppendEvents(conn, next.run_id, 1, {started, scheduled}));
  return internal::InsertWorkflowTask(conn, next.run_id, can.task_queue(), now);
}

}  // namespace cantdo::workflow
