// Recording activity results: group commit.
//
// Contract: an attempt's outcome is recorded, with the run's next workflow
// task, in one transaction (sticky continuation: the task runs right there,
// and the activities it schedules are leased to this worker). Threads
// finishing at the same time share one: the first to submit becomes the
// committer and records everything waiting, at most one result per run per
// transaction (one round trip for all the runs' reads, one for all the
// writes and the COMMIT), then looks again; the others return at once and
// find their runs' next activities in eager_. So under load a commit, and
// its WAL flush, serves many runs. A batch that fails (a lost race for a
// history, say) is recorded again result by result. A result whose lease
// was lost (expired and taken over, or the run closed) is dropped: the
// attempt that holds the lease now decides.

#include <algorithm>
#include <set>
#include <utility>

#include "cantdo/base/log.hpp"
#include "cantdo/base/status.hpp"
#include "cantdo/base/trace_context.hpp"
#include "cantdo/pg/transaction.hpp"
#include "cantdo/workflow/failure.hpp"
#include "activity_policy.hpp"
#include "worker_impl.hpp"

namespace cantdo::workflow {

using internal::RunRow;
using v1::HistoryEvent;

void Worker::Impl::SubmitCompletion(ThreadState& here, Completion c) {
  {
    absl::MutexLock l(&commit_mu_);
    completions_.push_back(std::move(c));
    if (committing_) return;  // the committer takes it in its next round
    committing_ = true;
  }
  for (;;) {
    std::vector<Completion> batch;
    {
      absl::MutexLock l(&commit_mu_);
      // One completion per run per transaction: a run's second result waits
      // for the next round (it needs the first one's history).
      std::set<std::string> runs;
      for (auto it = completions_.begin(); it != completions_.end() && batch.size() < kMaxCommitBatch;) {
        if (runs.insert(it->lease.run_id).second) {
          batch.push_back(std::move(*it));
          it = completions_.erase(it);
        } else {
          ++it;
        }
      }
      if (batch.empty()) {
        committing_ = false;
        return;
      }
    }
    // More results to record before this thread is free: the next activity
    // an earlier round leased to it goes to an idle thread instead (its
    // lease, start-to-close, is already running).
    if (std::optional<ActivityLease> continued = std::exchange(here.pending_here, std::nullopt)) {
      absl::MutexLock l(&mu_);
      eager_.push_back(std::move(*continued));
    }
    if (batch.size() == 1) {
      CommitOne(here, batch.front());
    } else if (!CommitBatch(here, batch)) {
      for (const Completion& one : batch) CommitOne(here, one);  // a conflict or error: each on its own
    }
  }
}

bool Worker::Impl::CommitBatch(ThreadState& here, std::vector<Completion>& batch) {
  // Runs locked in one order by every committer.
  std::sort(batch.begin(), batch.end(),
            [](const Completion& a, const Completion& b) { return a.lease.run_id < b.lease.run_id; });
  AfterCommit after;
  absl::Status s = pg::RunInTransaction(pool_, Tx(), [&](pg::Connection& conn) -> absl::Status {
    after.Clear();
    std::vector<pg::Connection::BatchStatement> reads;
    std::vector<std::string> run_ids;
    for (const Completion& c : batch) {
      if (!c.result.ok()) continue;
      run_ids.push_back(c.lease.run_id);
      reads.push_back(internal::TakeLeasedActivity(c.lease.run_id, c.lease.scheduled_event_id, c.lease.lease_id));
    }
    // The runs locked first, then each read: one round trip.
    CANTDO_RETURN_IF_ERROR(internal::LockRuns(conn, run_ids));
    CANTDO_ASSIGN_OR_RETURN(std::vector<pg::Result> taken, conn.ExecBatch(std::move(reads)));
    size_t next_taken = 0;
    for (const Completion& c : batch) {
      if (c.result.ok()) {
        CANTDO_RETURN_IF_ERROR(CompleteSucceeded(conn, c.lease, c.result, taken[next_taken++], after));
      } else {
        CANTDO_RETURN_IF_ERROR(CompleteFailed(conn, c.lease, c.result.status(), after));
      }
    }
    return absl::OkStatus();
  });
  if (!s.ok()) {
    if (internal::IsHistoryConflict(s)) Count(&WorkerStats::history_conflicts);
    log::Debug("recording a batch of activity results failed; recording them one by one",
               {{"runs", batch.size()}, {"error", s.ToString()}});
    return false;
  }
  Count(&WorkerStats::completion_batches);
  Committed(after, &here);
  return true;
}

void Worker::Impl::CommitOne(ThreadState& here, const Completion& c) {
  const ActivityLease& lease = c.lease;
  for (int attempt = 0; attempt < 20; ++attempt) {
    AfterCommit after;
    absl::Status s = pg::RunInTransaction(pool_, Tx(), [&](pg::Connection& conn) -> absl::Status {
      after.Clear();
      return CompleteActivity(conn, lease, c.result, after);
    });
    if (s.ok()) {
      Committed(after, &here);
      return;
    }
    if (internal::IsHistoryConflict(s)) {
      Count(&WorkerStats::history_conflicts);
      continue;
    }
    log::Warn("recording activity result failed", {{"run_id", lease.run_id}, {"error", s.ToString()}});
    absl::SleepFor(absl::Milliseconds(50));
    if (stopping_.load() && attempt > 3) return;  // the lease expires; the attempt is retried
  }
}

absl::Status Worker::Impl::CompleteActivity(pg::Connection& conn, const ActivityLease& lease, const Result& result,
                                            AfterCommit& after) {
  if (!result.ok()) return CompleteFailed(conn, lease, result.status(), after);
  auto read = internal::TakeLeasedActivity(lease.run_id, lease.scheduled_event_id, lease.lease_id);
  CANTDO_RETURN_IF_ERROR(internal::LockRuns(conn, {lease.run_id}));
  CANTDO_ASSIGN_OR_RETURN(pg::Result taken, conn.Exec(read.sql, read.params));
  return CompleteSucceeded(conn, lease, result, taken, after);
}

absl::Status Worker::Impl::CompleteSucceeded(pg::Connection& conn, const ActivityLease& lease, const Result& result,
                                             const pg::Result& taken, AfterCommit& after) {
  CANTDO_ASSIGN_OR_RETURN(std::optional<RunRow> run, internal::TakenActivityRun(taken));
  if (!run) return LeaseLost(lease);
  if (!run->open()) return absl::OkStatus();
  trace::ScopedTrace traced(run->traceparent);
  return RecordOutcome(conn, *run, lease, result, after);
}

absl::Status Worker::Impl::CompleteFailed(pg::Connection& conn, const ActivityLease& lease, const absl::Status& error,
                                          AfterCommit& after) {
  const absl::Time now = clock_.Now();
  CANTDO_ASSIGN_OR_RETURN(std::optional<absl::Time> scheduled_at,
                          internal::LockLeasedActivity(conn, lease.run_id, lease.scheduled_event_id, lease.lease_id));
  if (!scheduled_at) return LeaseLost(lease);
  std::optional<absl::Duration> delay = internal::RetryAfter(lease.scheduled, lease.attempt, error, *scheduled_at, now);
  if (delay.has_value()) {
    CANTDO_RETURN_IF_ERROR(internal::RequeueActivityTask(conn, lease.run_id, lease.scheduled_event_id, now + *delay,
                                                         FailureFromStatus(error, "activity")));
    after.actions.push_back([this] { Count(&WorkerStats::activity_retries); });
    return internal::NotifyTaskQueue(conn, lease.task_queue);
  }
  CANTDO_ASSIGN_OR_RETURN(std::optional<RunRow> run, internal::LoadRun(conn, lease.run_id, /*for_update=*/true));
  CANTDO_RETURN_IF_ERROR(internal::DeleteActivityTask(conn, lease.run_id, lease.scheduled_event_id));
  if (!run || !run->open()) return absl::OkStatus();
  trace::ScopedTrace traced(run->traceparent);
  return RecordOutcome(conn, *run, lease, Result(error), after);
}

absl::Status Worker::Impl::LeaseLost(const ActivityLease& lease) {
  log::Info("activity result dropped: lease lost",
            {{"run_id", lease.run_id}, {"scheduled_event_id", lease.scheduled_event_id}});
  return absl::OkStatus();
}

absl::Status Worker::Impl::RecordOutcome(pg::Connection& conn, const RunRow& run, const ActivityLease& lease,
                                         const Result& result, AfterCommit& after) {
  const absl::Time now = clock_.Now();
  std::vector<HistoryEvent> events;
  int64_t id = run.next_event_id;
  const int64_t started_id = id++;
  HistoryEvent started = internal::NewEvent(started_id, now, v1::EVENT_TYPE_ACTIVITY_TASK_STARTED);
  auto* s = started.mutable_activity_task_started();
  s->set_scheduled_event_id(lease.scheduled_event_id);
  s->set_attempt(lease.attempt);
  s->set_identity(options_.identity);
  s->set_request_id(lease.lease_id);
  events.push_back(std::move(started));
  if (result.ok()) {
    HistoryEvent e = internal::NewEvent(id++, now, v1::EVENT_TYPE_ACTIVITY_TASK_COMPLETED);
    auto* a = e.mutable_activity_task_completed();
    a->set_scheduled_event_id(lease.scheduled_event_id);
    a->set_started_event_id(started_id);
    *a->mutable_result() = *result;
    a->set_identity(options_.identity);
    events.push_back(std::move(e));
  } else {
    HistoryEvent e = internal::NewEvent(id++, now, v1::EVENT_TYPE_ACTIVITY_TASK_FAILED);
    auto* a = e.mutable_activity_task_failed();
    a->set_scheduled_event_id(lease.scheduled_event_id);
    a->set_started_event_id(started_id);
    *a->mutable_failure() = FailureFromStatus(result.status(), "activity");
    a->set_retryable(!IsNonRetryable(result.status()));
    a->set_identity(options_.identity);
    events.push_back(std::move(e));
  }
  return AppendInputAndContinue(conn, run, std::move(events), after);
}

// Under the run's lock no other worker is running its workflow task (a
// poller locks the run too), so the task may run here, in the same batch.
absl::Status Worker::Impl::AppendInputAndContinue(pg::Connection& conn, const RunRow& run,
                                                  std::vector<HistoryEvent> events, AfterCommit& after) {
  const bool inline_task = Eager() && HandlesQueue(run.task_queue) &&
                           registry_.FindWorkflow(run.workflow_type) != nullptr && run.workflow_task_attempt <= 1;
  if (inline_task) {
    // A task already scheduled (attempt 1, not yet failed) runs here as is.
    const TaskOrigin origin = run.workflow_task_attempt > 0 ? TaskOrigin::kQueued : TaskOrigin::kInline;
    return RunWorkflowTask(conn, run, WorkflowTask{origin, 1, std::move(events)}, after);
  }
  return internal::AppendAndScheduleIfIdle(conn, run, std::move(events), clock_.Now());
}

}  // namespace cantdo::workflow
