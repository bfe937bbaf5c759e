// Wake-up and polling: when a worker thread looks for work, and what for.
//
// Contract: each idle wake-up costs transactions (an empty lease scan is
// one), so a notification on cantdo_workflow_tasks (one per committed
// transaction that made tasks) wakes one idle thread, which looks for tasks
// only; the full scan (timers due, expired leases too) runs after a quiet
// poll_interval or a Wake(). A thread that found a task in the queues looks
// again at once (a backlog, or several tasks behind one notification); one
// whose work was leased to it already (eager activities) waits for the next
// announcement, which every task but the worker's own eager ones gets.
//
// A thread that fails because the database cannot be reached waits out the
// outage with capped, jittered exponential backoff (its own OutageBackoff);
// the Worker logs the outage a line a backoff step (OutageLog, shared by its
// threads), and once more when it is over. Any other failure is logged and
// retried after kRetryAfterError.

#include <algorithm>
#include <random>

#include "cantdo/base/log.hpp"
#include "cantdo/base/status.hpp"
#include "cantdo/workflow/internal/outage_backoff.hpp"
#include "worker_impl.hpp"

namespace cantdo::workflow {

namespace {
constexpr absl::Duration kRetryAfterError = absl::Milliseconds(100);
}  // namespace

absl::StatusOr<bool> Worker::Impl::RunOnce() {
  ThreadState here;  // the caller's, for this call
  return RunOnce(here);
}

absl::StatusOr<bool> Worker::Impl::RunOnce(ThreadState& here) {
  CANTDO_ASSIGN_OR_RETURN(Work did, RunTaskOnce(here));
  if (did != Work::kNone) return true;
  CANTDO_ASSIGN_OR_RETURN(bool fired, FireTimers());
  if (fired) return true;
  return ExpireLeases();
}

// A leased activity, a workflow task or an activity task: what a
// notification on cantdo_workflow_tasks announces.
// `reserved`: the caller counted itself in polling_ already (a thread woken
// for an announcement claims it before letting go of mu_, so one
// announcement wakes one thread).
absl::StatusOr<Worker::Impl::Work> Worker::Impl::RunTaskOnce(ThreadState& here, bool reserved) {
  {
    std::optional<ActivityLease> lease;
    {
      absl::MutexLock l(&mu_);
      if (!eager_.empty()) {
        lease = std::move(eager_.front());
        eager_.pop_front();
        if (reserved) --polling_;  // not scanning after all
      }
    }
    if (lease) {
      RunActivityChain(here, std::move(*lease));
      return Work::kDone;
    }
  }
  // Announcements are spent by the tasks taken; a scan that found nothing
  // spends those made before it began (their tasks were visible to it, so
  // someone else has them).
  int64_t announced = 0;
  {
    absl::MutexLock l(&mu_);
    if (!reserved) ++polling_;
    announced = wake_tokens_;
  }
  here.taken_here = 0;
  std::optional<ActivityLease> activity;
  absl::StatusOr<Work> found = ScanQueues(here, activity);
  {
    absl::MutexLock l(&mu_);
    --polling_;
    const int64_t spent = found.ok() && *found != Work::kNone ? here.taken_here : announced;
    wake_tokens_ -= std::min(wake_tokens_, spent);
  }
  // Outside the scan: an activity may run for long.
  if (activity) RunActivityChain(here, *std::move(activity));
  return found;
}

// Workflow tasks first (run in the scan's transaction), else an activity
// task, leased into `activity` for the caller to run.
absl::StatusOr<Worker::Impl::Work> Worker::Impl::ScanQueues(ThreadState& here, std::optional<ActivityLease>& activity) {
  CANTDO_ASSIGN_OR_RETURN(Work polled, PollWorkflowTask(here));
  if (polled != Work::kNone) return polled;
  CANTDO_ASSIGN_OR_RETURN(activity, LeaseActivity());
  if (!activity) return Work::kNone;
  ++here.taken_here;
  return Work::kMore;
}

void Worker::Impl::ListenLoop() {
  while (!stopping_.load()) {
    auto n = listener_->Wait(absl::Now() + absl::Milliseconds(200));
    if (!n.ok()) {
      absl::SleepFor(absl::Milliseconds(200));
      continue;
    }
    if (n->has_value()) {
      const auto& note = **n;
      if (note.gap) {
        Wake();
      } else if (HandlesQueue(note.payload)) {
        // One task announced: one idle thread looks for it.
        absl::MutexLock l(&mu_);
        ++wake_tokens_;
      }
    }
  }
}

void Worker::Impl::SleepUnlessStopping(absl::Duration delay) {
  absl::MutexLock l(&mu_);
  auto stopping = [this] { return stopping_.load(); };
  mu_.AwaitWithTimeout(absl::Condition(&stopping), delay);
}

absl::Duration Worker::Impl::DelayAfterFailure(const absl::Status& error, internal::OutageBackoff& outage,
                                               double jitter) {
  if (internal::IsDatabaseUnavailable(error)) {
    const internal::OutageBackoff::Step step = outage.Failed(jitter);
    if (outage_log_.ShouldLog(step)) {
      log::Warn("worker cannot reach the database; backing off",
                {{"error", error.ToString()},
                 {"identity", options_.identity},
                 {"failures", step.failures},
                 {"retry_in_ms", absl::ToInt64Milliseconds(step.delay)}});
    }
    return step.delay;
  }
  DatabaseAnswered(outage);  // with an error, but it answered
  log::Warn("worker task failed", {{"error", error.ToString()}, {"identity", options_.identity}});
  return kRetryAfterError;
}

void Worker::Impl::DatabaseAnswered(internal::OutageBackoff& outage) {
  if (outage.Succeeded() && outage_log_.Recovered()) {
    log::Info("worker reaches the database again", {{"identity", options_.identity}});
  }
}

void Worker::Impl::WorkLoop() {
  ThreadState here;
  internal::OutageBackoff outage;
  std::mt19937_64 jitter_source{std::random_device{}()};
  std::uniform_real_distribution<double> jitter(0.0, 1.0);
  bool full_scan = true;
  bool reserved = false;  // counted in polling_ for an announcement
  while (!stopping_.load()) {
    int64_t gen;
    {
      absl::MutexLock l(&mu_);
      gen = wake_generation_;
    }
    absl::StatusOr<Work> did = Work::kNone;
    if (full_scan) {
      if (reserved) {
        absl::MutexLock l(&mu_);
        --polling_;
      }
      auto any = RunOnce(here);
      did = any.ok() ? absl::StatusOr<Work>(*any ? Work::kMore : Work::kNone) : any.status();
    } else {
      did = RunTaskOnce(here, reserved);
    }
    reserved = false;
    if (!did.ok()) {
      SleepUnlessStopping(DelayAfterFailure(did.status(), outage, jitter(jitter_source)));
      full_scan = true;
      continue;
    }
    DatabaseAnswered(outage);
    if (*did == Work::kMore) {
      full_scan = false;
      continue;
    }
    absl::MutexLock l(&mu_);
    auto woken = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      // Announced tasks nobody is looking for yet (one notification wakes
      // one thread, not all), our own eager leases, Wake(), Stop().
      return wake_generation_ != gen || wake_tokens_ > polling_ || !eager_.empty() || stopping_.load();
    };
    const bool notified = mu_.AwaitWithTimeout(absl::Condition(&woken), options_.poll_interval);
    full_scan = !notified || wake_generation_ != gen;
    if (!full_scan && eager_.empty() && wake_tokens_ > polling_) {
      ++polling_;
      reserved = true;
    }
  }
}

}  // namespace cantdo::workflow
