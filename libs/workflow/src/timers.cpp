// Timers and lease expiry: the work of a full scan that no notification
// announces (see worker_loop.cpp), one item a transaction.
//
// Contract: a timer due (fire_at <= now, the injected clock) is deleted and
// TimerFired appended to its open run; an activity lease past its expiry
// means the attempt timed out (start-to-close, or heartbeat) and is retried
// per the activity's policy or recorded as ActivityTaskTimedOut. Either
// event wakes an idle run with a new workflow task (never run inline here:
// these transactions stay short). Rows are taken FOR UPDATE SKIP LOCKED, so
// workers share the scan.

#include "absl/strings/str_cat.h"
#include "cantdo/base/status.hpp"
#include "cantdo/pg/transaction.hpp"
#include "cantdo/workflow/failure.hpp"
#include "activity_policy.hpp"
#include "time_util.hpp"
#include "worker_impl.hpp"

namespace cantdo::workflow {

using internal::RunRow;
using v1::HistoryEvent;

absl::StatusOr<bool> Worker::Impl::FireTimers() {
  bool fired = false;
  absl::Status s = pg::RunInTransaction(pool_, Tx(), [&](pg::Connection& conn) -> absl::Status {
    fired = false;
    const absl::Time now = clock_.Now();
    CANTDO_ASSIGN_OR_RETURN(std::optional<internal::DueTimer> timer, internal::LockDueTimer(conn, queues_param_, now));
    if (!timer) return absl::OkStatus();
    fired = true;
    CANTDO_RETURN_IF_ERROR(internal::DeleteTimer(conn, timer->run_id, timer->timer_id));
    CANTDO_ASSIGN_OR_RETURN(std::optional<RunRow> run, internal::LoadRun(conn, timer->run_id, true));
    if (!run || !run->open()) return absl::OkStatus();
    HistoryEvent e = internal::NewEvent(run->next_event_id, now, v1::EVENT_TYPE_TIMER_FIRED);
    e.mutable_timer_fired()->set_timer_id(timer->timer_id);
    e.mutable_timer_fired()->set_started_event_id(timer->started_event_id);
    return internal::AppendAndScheduleIfIdle(conn, *run, {std::move(e)}, now);
  });
  CANTDO_RETURN_IF_ERROR(s);
  return fired;
}

absl::StatusOr<bool> Worker::Impl::ExpireLeases() {
  bool did = false;
  bool retried = false;
  absl::Status s = pg::RunInTransaction(pool_, Tx(), [&](pg::Connection& conn) -> absl::Status {
    did = false;
    retried = false;
    const absl::Time now = clock_.Now();
    CANTDO_ASSIGN_OR_RETURN(std::optional<internal::ExpiredLease> expired,
                            internal::LockExpiredLease(conn, queues_param_, now));
    if (!expired) return absl::OkStatus();
    did = true;
    const std::string& run_id = expired->run_id;
    const int64_t seid = expired->scheduled_event_id;
    CANTDO_ASSIGN_OR_RETURN(auto events, internal::LoadEvents(conn, run_id, seid, 1));
    if (events.empty() || !events[0].has_activity_task_scheduled()) return absl::DataLossError("no scheduled event");
    const auto& a = events[0].activity_task_scheduled();
    const bool start_to_close = expired->attempt_started_at + FromProto(a.start_to_close_timeout()) <= now;
    const auto kind = start_to_close || FromProto(a.heartbeat_timeout()) <= absl::ZeroDuration()
                          ? v1::TIMEOUT_KIND_START_TO_CLOSE
                          : v1::TIMEOUT_KIND_HEARTBEAT;
    absl::Status timeout =
        WithReason(absl::DeadlineExceededError(absl::StrCat("activity attempt ", expired->attempt, " timed out (",
                                                            v1::TimeoutKind_Name(kind), ")")),
                   v1::TimeoutKind_Name(kind));
    const v1::Failure failure = FailureFromStatus(timeout, "engine");
    auto delay = internal::RetryAfter(a, static_cast<int>(expired->attempt), timeout, expired->scheduled_at, now);
    if (delay.has_value()) {
      retried = true;
      return internal::RequeueActivityTask(conn, run_id, seid, now + *delay, failure);
    }
    CANTDO_RETURN_IF_ERROR(internal::DeleteActivityTask(conn, run_id, seid));
    CANTDO_ASSIGN_OR_RETURN(std::optional<RunRow> run, internal::LoadRun(conn, run_id, true));
    if (!run || !run->open()) return absl::OkStatus();
    HistoryEvent e = internal::NewEvent(run->next_event_id, now, v1::EVENT_TYPE_ACTIVITY_TASK_TIMED_OUT);
    e.mutable_activity_task_timed_out()->set_scheduled_event_id(seid);
    e.mutable_activity_task_timed_out()->set_timeout_kind(kind);
    *e.mutable_activity_task_timed_out()->mutable_last_failure() = failure;
    return internal::AppendAndScheduleIfIdle(conn, *run, {std::move(e)}, now);
  });
  CANTDO_RETURN_IF_ERROR(s);
  if (did) Count(&WorkerStats::lease_expiries);
  if (retried) Count(&WorkerStats::activity_retries);
  return did;
}

}  // namespace cantdo::workflow
