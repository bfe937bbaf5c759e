// Activity tasks: scheduled by a workflow task, leased, run outside any
// transaction, heartbeated.
//
// Contract: an attempt is leased durably (lease id, owner, expiry: see
// store.hpp), so a worker that dies or hangs loses it when the lease
// expires (timers.cpp) and the attempt is retried per policy. With
// eager_activities, an activity this worker can run is inserted already
// leased to it and handed to its own threads after the commit (eager_, or
// the committing thread itself: ThreadState::pending_here) with no
// notification; any other is announced to its task queue. A thread runs an
// activity and then the chain its result continues (the next activity the
// run's inline workflow task leased to it). Results are recorded by
// group_commit.cpp.

#include <algorithm>
#include <utility>

#include "cantdo/base/ids.hpp"
#include "cantdo/base/log.hpp"
#include "cantdo/base/status.hpp"
#include "cantdo/base/trace_context.hpp"
#include "cantdo/pg/transaction.hpp"
#include "activity_policy.hpp"
#include "time_util.hpp"
#include "worker_impl.hpp"

namespace cantdo::workflow {

using internal::RunRow;
using v1::HistoryEvent;

absl::Status Worker::Impl::ScheduleActivity(pg::Connection& conn, const RunRow& run, const HistoryEvent& command,
                                            absl::Time now, AfterCommit& after) {
  const auto& a = command.activity_task_scheduled();
  const bool take = Eager() && HandlesQueue(a.task_queue()) && registry_.FindActivity(a.activity_type()) != nullptr;
  if (!take) {
    CANTDO_RETURN_IF_ERROR(internal::InsertActivityTask(conn, run.run_id, command.event_id(), a.task_queue(),
                                                        a.activity_type(), now, std::nullopt));
    return internal::NotifyTaskQueue(conn, a.task_queue());
  }
  ActivityLease lease;
  lease.lease_id = NewUuid();
  lease.run_id = run.run_id;
  lease.workflow_id = run.workflow_id;
  lease.workflow_type = run.workflow_type;
  lease.task_queue = a.task_queue();
  lease.scheduled_event_id = command.event_id();
  lease.attempt = 1;
  lease.started_at = now;
  lease.scheduled = a;
  lease.traceparent = run.traceparent;
  CANTDO_RETURN_IF_ERROR(internal::InsertActivityTask(
      conn, run.run_id, command.event_id(), a.task_queue(), a.activity_type(), now,
      internal::InitialLease{lease.lease_id, options_.identity, now + internal::AttemptLease(a)}));
  after.eager.push_back(std::move(lease));
  return absl::OkStatus();
}

absl::StatusOr<std::optional<ActivityLease>> Worker::Impl::LeaseActivity() {
  // Looks at a few, for a task of an activity type this worker runs.
  constexpr int kCandidates = 8;
  return pg::RunInTransaction(pool_, Tx(), [&](pg::Connection& conn) -> absl::StatusOr<std::optional<ActivityLease>> {
    const absl::Time now = clock_.Now();
    CANTDO_ASSIGN_OR_RETURN(std::vector<internal::LeasableActivity> candidates,
                            internal::LockLeasableActivities(conn, queues_param_, now, kCandidates));
    for (const internal::LeasableActivity& c : candidates) {
      CANTDO_ASSIGN_OR_RETURN(auto events, internal::LoadEvents(conn, c.run_id, c.scheduled_event_id, 1));
      if (events.empty() || !events[0].has_activity_task_scheduled()) {
        return absl::DataLossError("activity task without its scheduled event");
      }
      const auto& scheduled = events[0].activity_task_scheduled();
      if (registry_.FindActivity(scheduled.activity_type()) == nullptr) continue;
      CANTDO_ASSIGN_OR_RETURN(std::optional<RunRow> run, internal::LoadRun(conn, c.run_id, false));
      if (!run) continue;
      ActivityLease lease;
      lease.run_id = c.run_id;
      lease.scheduled_event_id = c.scheduled_event_id;
      lease.scheduled = scheduled;
      lease.workflow_id = run->workflow_id;
      lease.workflow_type = run->workflow_type;
      lease.traceparent = run->traceparent;
      lease.task_queue = scheduled.task_queue();
      lease.attempt = static_cast<int>(c.attempts_started) + 1;
      lease.lease_id = NewUuid();
      lease.started_at = now;
      CANTDO_RETURN_IF_ERROR(internal::LeaseActivityTask(conn, lease.run_id, lease.scheduled_event_id, lease.lease_id,
                                                         options_.identity, now,
                                                         now + internal::AttemptLease(scheduled)));
      return std::optional<ActivityLease>(std::move(lease));
    }
    Count(&WorkerStats::empty_polls);
    return std::optional<ActivityLease>();
  });
}

void Worker::Impl::DispatchEager(std::vector<ActivityLease> leases, ThreadState* here) {
  if (leases.empty()) return;
  Count(&WorkerStats::activities_eager, static_cast<int64_t>(leases.size()));
  size_t start = 0;
  if (here != nullptr && !here->pending_here.has_value()) {
    here->pending_here = std::move(leases[0]);
    start = 1;
  }
  absl::MutexLock l(&mu_);
  for (size_t i = start; i < leases.size(); ++i) eager_.push_back(std::move(leases[i]));
}

void Worker::Impl::Committed(AfterCommit& after, ThreadState* here) {
  for (auto& action : after.actions) action();
  DispatchEager(std::move(after.eager), here);
}

void Worker::Impl::RunActivityChain(ThreadState& here, ActivityLease lease) {
  std::optional<ActivityLease> next = std::move(lease);
  while (next.has_value()) {
    ActivityLease current = std::move(*next);
    next.reset();
    RunActivity(here, current);
    // Take it out: a moved-from optional stays engaged.
    std::optional<ActivityLease> continued = std::exchange(here.pending_here, std::nullopt);
    if (!continued.has_value()) continue;
    if (!stopping_.load()) {
      next = std::move(continued);
    } else {  // stopping: hand it back to the queue
      absl::MutexLock l(&mu_);
      eager_.push_back(std::move(*continued));
    }
  }
}

void Worker::Impl::RunActivity(ThreadState& here, const ActivityLease& lease) {
  // The activity, its log lines and its calls run under the run's trace.
  trace::ScopedTrace traced(lease.traceparent);
  Count(&WorkerStats::activities_started);
  const ActivityFunction* fn = registry_.FindActivity(lease.scheduled.activity_type());
  ActivityInfo info;
  info.workflow_id = lease.workflow_id;
  info.run_id = lease.run_id;
  info.workflow_type = lease.workflow_type;
  info.activity_id = lease.scheduled.activity_id();
  info.activity_type = lease.scheduled.activity_type();
  info.task_queue = lease.task_queue;
  info.scheduled_event_id = lease.scheduled_event_id;
  info.attempt = lease.attempt;
  info.idempotency_key = lease.scheduled.idempotency_key();
  info.deadline = lease.started_at + FromProto(lease.scheduled.start_to_close_timeout());
  ActivityContext ctx(
      info, [this, &lease](const Payload*) { return Heartbeat(lease); }, &stopping_);
  Result result = fn != nullptr ? (*fn)(ctx, lease.scheduled.input())
                                : absl::Status(NonRetryable(absl::UnimplementedError("unknown activity type")));
  SubmitCompletion(here, Completion{lease, std::move(result)});
}

absl::Status Worker::Impl::Heartbeat(const ActivityLease& lease) {
  return pg::RunInTransaction(pool_, Tx(), [&](pg::Connection& conn) -> absl::Status {
    const absl::Time now = clock_.Now();
    absl::Duration hb = FromProto(lease.scheduled.heartbeat_timeout());
    absl::Time deadline = lease.started_at + FromProto(lease.scheduled.start_to_close_timeout());
    absl::Time expires = hb > absl::ZeroDuration() ? std::min(deadline, now + hb) : deadline;
    CANTDO_ASSIGN_OR_RETURN(
        bool cancel_requested,
        internal::ExtendActivityLease(conn, lease.run_id, lease.scheduled_event_id, lease.lease_id, expires));
    if (cancel_requested) return absl::CancelledError("workflow cancellation requested");
    return absl::OkStatus();
  });
}

}  // namespace cantdo::workflow
