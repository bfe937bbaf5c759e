#include "cantdo/workflow/worker.hpp"

#include <algorithm>
#include <cmath>
#include <list>
#include <map>
#include <optional>
#include <set>
#include <unordered_map>
#include <utility>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "cantdo/base/ids.hpp"
#include "cantdo/base/log.hpp"
#include "cantdo/base/trace_context.hpp"
#include "cantdo/base/status.hpp"
#include "cantdo/pg/listener.hpp"
#include "cantdo/pg/transaction.hpp"
#include "cantdo/workflow/failure.hpp"
#include "cantdo/workflow/replayer.hpp"
#include "store.hpp"
#include "time_util.hpp"

namespace cantdo::workflow {

using internal::RunRow;
using v1::HistoryEvent;

namespace {

using internal::IsHistoryConflict;

// A leased activity attempt, ready to run.
struct ActivityLease {
  std::string run_id;
  std::string workflow_id;
  std::string workflow_type;
  std::string task_queue;
  int64_t scheduled_event_id = 0;
  int attempt = 1;
  std::string lease_id;
  absl::Time started_at;
  v1::ActivityTaskScheduledEventAttributes scheduled;
  std::string traceparent;  // the run's (RunRow::traceparent)
};

absl::Duration RetryDelay(const v1::RetryPolicy& p, int attempt) {
  absl::Duration initial = FromProto(p.initial_interval());
  if (initial <= absl::ZeroDuration()) initial = absl::Seconds(1);
  double coeff = p.backoff_coefficient() < 1.0 ? 2.0 : p.backoff_coefficient();
  absl::Duration max = FromProto(p.maximum_interval());
  if (max <= absl::ZeroDuration()) max = initial * 100;
  double factor = std::pow(coeff, std::max(0, attempt - 1));
  absl::Duration d = initial * std::min(factor, 1e9);
  return std::min(d, max);
}

// Bounded LRU of live runs' Replayers. Take() removes the entry: a Replayer
// is used by one thread at a time and is put back only after a commit.
class StickyCache {
 public:
  explicit StickyCache(size_t capacity) : capacity_(capacity) {}
  std::unique_ptr<Replayer> Take(const std::string& run_id) {
    absl::MutexLock l(&mu_);
    auto it = index_.find(run_id);
    if (it == index_.end()) return nullptr;
    auto r = std::move(it->second->second);
    lru_.erase(it->second);
    index_.erase(it);
    return r;
  }
  void Put(const std::string& run_id, std::unique_ptr<Replayer> r) {
    if (capacity_ == 0) return;
    absl::MutexLock l(&mu_);
    auto it = index_.find(run_id);
    if (it != index_.end()) {
      lru_.erase(it->second);
      index_.erase(it);
    }
    lru_.emplace_front(run_id, std::move(r));
    index_[run_id] = lru_.begin();
    while (lru_.size() > capacity_) {
      index_.erase(lru_.back().first);
      lru_.pop_back();
    }
  }

 private:
  const size_t capacity_;
  absl::Mutex mu_;
  std::list<std::pair<std::string, std::unique_ptr<Replayer>>> lru_ ABSL_GUARDED_BY(mu_);
  std::unordered_map<std::string, decltype(lru_)::iterator> index_ ABSL_GUARDED_BY(mu_);
};

}  // namespace

class Worker::Impl {
 public:
  Impl(pg::Pool& pool, const Registry& registry, Clock& clock, WorkerOptions options)
      : pool_(pool), registry_(registry), clock_(clock), options_(std::move(options)),
        cache_(options_.sticky_cache ? options_.sticky_cache_size : 0),
        queues_param_(internal::PgTextArray(options_.task_queues)) {}

  absl::Status Start() {
    std::string dsn = options_.dsn.empty() ? pool_.options().dsn : options_.dsn;
    CANTDO_ASSIGN_OR_RETURN(listener_, pg::Listener::Create(dsn));
    CANTDO_RETURN_IF_ERROR(listener_->Listen(internal::kTasksChannel));
    listener_thread_ = std::thread([this] { ListenLoop(); });
    for (int i = 0; i < options_.concurrency; ++i) threads_.emplace_back([this] { WorkLoop(); });
    return absl::OkStatus();
  }

  void Stop() {
    if (stopping_.exchange(true)) return;
    Wake();
    for (auto& t : threads_) t.join();
    threads_.clear();
    if (listener_thread_.joinable()) listener_thread_.join();
    // Activities leased to us but never started go back to the queue now.
    std::deque<ActivityLease> left;
    {
      absl::MutexLock l(&mu_);
      left.swap(eager_);
    }
    for (const auto& a : left) {
      absl::Status s = pg::RunInTransaction(pool_, {}, [&](pg::Connection& conn) -> absl::Status {
        CANTDO_ASSIGN_OR_RETURN(
            pg::Result r,
            conn.Exec("UPDATE cantdo.activity_tasks SET lease_id = NULL, lease_owner = NULL, lease_expires_at = NULL,"
                      " attempt = attempt - 1, visible_at = $3::timestamptz"
                      " WHERE run_id = $1::uuid AND scheduled_event_id = $2 AND lease_id = $4::uuid",
                      {pg::TextParam(a.run_id), pg::Int64Param(a.scheduled_event_id),
                       pg::TextParam(PgTime(clock_.Now())), pg::TextParam(a.lease_id)}));
        (void)r;
        return pg::Notify(conn, internal::kTasksChannel, a.task_queue);
      });
      if (!s.ok()) log::Warn("releasing activity lease failed", {{"error", s.ToString()}});
    }
  }

  // Wakes every idle thread for a full scan (timers, expired leases too).
  void Wake() {
    absl::MutexLock l(&mu_);
    ++wake_generation_;
    wake_tokens_ += options_.concurrency;
  }

  absl::StatusOr<bool> RunOnce() {
    CANTDO_ASSIGN_OR_RETURN(Work did, RunTaskOnce());
    if (did != Work::kNone) return true;
    CANTDO_ASSIGN_OR_RETURN(bool fired, FireTimers());
    if (fired) return true;
    return ExpireLeases();
  }

  // What RunTaskOnce did: nothing; work from the queues that may have left
  // more there (look again at once); or work after which the queues were
  // drained, or that was leased to this worker already (an eager activity
  // and the chain it continued): further work announces itself.
  enum class Work { kNone, kMore, kDone };

  // A leased activity, a workflow task or an activity task: what a
  // notification on cantdo_workflow_tasks announces.
  // `reserved`: the caller counted itself in polling_ already (a thread
  // woken for an announcement claims it before letting go of mu_, so one
  // announcement wakes one thread).
  absl::StatusOr<Work> RunTaskOnce(bool reserved = false) {
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
        RunActivityChain(std::move(*lease));
        return Work::kDone;
      }
    }
    // Announcements are spent by the tasks taken; a scan that found nothing
    // spends those made before it began (their tasks were visible to it,
    // so someone else has them).
    int64_t announced = 0;
    {
      absl::MutexLock l(&mu_);
      if (!reserved) ++polling_;
      announced = wake_tokens_;
    }
    taken_here_ = 0;
    std::optional<ActivityLease> activity;
    absl::StatusOr<Work> found = ScanQueues(activity);
    {
      absl::MutexLock l(&mu_);
      --polling_;
      const int64_t spent = found.ok() && *found != Work::kNone ? taken_here_ : announced;
      wake_tokens_ -= std::min(wake_tokens_, spent);
    }
    // Outside the scan: an activity may run for long.
    if (activity) RunActivityChain(*std::move(activity));
    return found;
  }

  // Workflow tasks first (run in the scan's transaction), else an activity
  // task, leased into `activity` for the caller to run.
  absl::StatusOr<Work> ScanQueues(std::optional<ActivityLease>& activity) {
    CANTDO_ASSIGN_OR_RETURN(Work polled, PollWorkflowTask());
    if (polled != Work::kNone) return polled;
    CANTDO_ASSIGN_OR_RETURN(activity, LeaseActivity());
    if (!activity) return Work::kNone;
    ++taken_here_;
    return Work::kMore;
  }

  WorkerStats Stats() const {
    absl::MutexLock l(&stats_mu_);
    return stats_;
  }

 private:
  // ---- threads ----

  void ListenLoop() {
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

  // Each idle wake-up costs transactions (an empty lease scan is one), so
  // a notification wakes one thread, which looks for tasks only; the full
  // scan (timers due, expired leases) runs after a quiet poll_interval or
  // a Wake(). A task found in the queues: look again at once (a backlog, or
  // several tasks announced by one transaction's single notification).
  // Work that was leased here already: wait for the next announcement,
  // which every task but our own eager ones gets (wake_tokens_, eager_).
  void WorkLoop() {
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
        auto any = RunOnce();
        did = any.ok() ? absl::StatusOr<Work>(*any ? Work::kMore : Work::kNone) : any.status();
      } else {
        did = RunTaskOnce(reserved);
      }
      reserved = false;
      if (!did.ok()) {
        log::Warn("worker task failed", {{"error", did.status().ToString()}, {"identity", options_.identity}});
        absl::SleepFor(absl::Milliseconds(100));
        full_scan = true;
        continue;
      }
      if (*did == Work::kMore) {
        full_scan = false;
        continue;
      }
      absl::MutexLock l(&mu_);
      auto woken = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
        // Announced tasks nobody is looking for yet (one notification
        // wakes one thread, not all), our own eager leases, Wake(), Stop().
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

  void Count(int64_t WorkerStats::*field, int64_t n = 1) {
    absl::MutexLock l(&stats_mu_);
    stats_.*field += n;
  }

  bool HandlesQueue(const std::string& q) const {
    return std::find(options_.task_queues.begin(), options_.task_queues.end(), q) != options_.task_queues.end();
  }

  pg::TxOptions Tx() const { return pg::TxOptions{}; }

  // ---- workflow tasks ----

  // Leases due workflow tasks (up to kMaxPollBatch; one after a failed
  // batch) and runs them in the same transaction. kMore if it took a full
  // batch (there may be more), kDone if fewer, kNone if none.
  static constexpr int kMaxPollBatch = 16;

  absl::StatusOr<Work> PollWorkflowTask() {
    int limit = kMaxPollBatch;
    for (int attempt = 0;; ++attempt) {
      int found = 0;
      std::vector<ActivityLease> eager;
      std::vector<std::function<void()>> after;
      absl::Status s = pg::RunInTransaction(pool_, Tx(), [&](pg::Connection& conn) -> absl::Status {
        found = 0;
        eager.clear();
        after.clear();
        CANTDO_RETURN_IF_ERROR(conn.Defer("SELECT set_config('idle_in_transaction_session_timeout', $1, true)",
                                          {pg::TextParam(absl::StrCat(
                                              absl::ToInt64Milliseconds(options_.workflow_task_timeout)))}));
        // Each task row and its run's row, locked: the task is leased for
        // this transaction and nobody else appends to the run meanwhile (a
        // run busy elsewhere is skipped, its task taken later).
        CANTDO_ASSIGN_OR_RETURN(
            pg::Result r,
            conn.Exec(absl::StrCat("SELECT ", internal::RunColumns("r", "t.attempt"),
                                   " FROM cantdo.workflow_tasks t JOIN cantdo.workflow_runs r ON r.run_id = t.run_id"
                                   " WHERE t.task_queue = ANY($1::text[]) AND t.visible_at <= $2::timestamptz"
                                   // A literal limit: a parameter would make the
                                   // planner guess the row count.
                                   " ORDER BY t.visible_at LIMIT ", limit, " FOR UPDATE OF t, r SKIP LOCKED"),
                      {pg::TextParam(queues_param_), pg::TextParam(PgTime(clock_.Now()))}));
        found = r.Rows();
        for (int i = 0; i < r.Rows(); ++i) {
          CANTDO_ASSIGN_OR_RETURN(RunRow run, internal::RunFromRow(r, i));
          if (!run.open()) {
            CANTDO_RETURN_IF_ERROR(
                conn.Defer("DELETE FROM cantdo.workflow_tasks WHERE run_id = $1::uuid", {pg::TextParam(run.run_id)}));
            continue;
          }
          std::function<void()> after_commit;
          trace::ScopedTrace traced(run.traceparent);
          CANTDO_RETURN_IF_ERROR(RunWorkflowTask(conn, run, static_cast<int>(run.workflow_task_attempt),
                                                 /*write_scheduled=*/false, /*task_row_exists=*/true, eager,
                                                 after_commit));
          if (after_commit) after.push_back(std::move(after_commit));
        }
        return absl::OkStatus();
      });
      if (!s.ok() && attempt < 10 && (IsHistoryConflict(s) || limit > 1)) {
        if (IsHistoryConflict(s)) Count(&WorkerStats::history_conflicts);
        limit = 1;  // one bad run must not hold the others back
        continue;
      }
      CANTDO_RETURN_IF_ERROR(s);
      for (auto& a : after) a();
      DispatchEager(std::move(eager), /*run_first_here=*/false);
      if (found == 0) {
        Count(&WorkerStats::empty_polls);
        return Work::kNone;
      }
      taken_here_ += found;
      return found == limit ? Work::kMore : Work::kDone;
    }
  }

  // Replays `run` and writes the new workflow task's events and side
  // effects on `conn` (deferred: they commit with the caller's
  // transaction). `inputs` are events that this same transaction appends
  // just before the task (an activity's result): they are written in the
  // task's batch. REQUIRES: the caller holds the run's row lock, and
  // `run.next_event_id` is the id `inputs` start at. `after_commit` puts
  // the Replayer back in the cache once the caller committed.
  absl::Status RunWorkflowTask(pg::Connection& conn, const RunRow& run, int task_attempt, bool write_scheduled,
                               bool task_row_exists, std::vector<ActivityLease>& eager,
                               std::function<void()>& after_commit, std::vector<HistoryEvent> inputs = {}) {
    const absl::Time now = clock_.Now();
    const WorkflowFunction* fn = registry_.FindWorkflow(run.workflow_type);
    if (fn == nullptr) {
      return FailWorkflowTask(conn, run, task_attempt, task_row_exists,
                              v1::WORKFLOW_TASK_FAILED_CAUSE_UNKNOWN_WORKFLOW_TYPE,
                              absl::FailedPreconditionError("no code for workflow type " + run.workflow_type),
                              std::move(inputs));
    }
    std::unique_ptr<Replayer> replayer = cache_.Take(run.run_id);
    if (replayer && replayer->last_event_id() >= run.next_event_id) replayer.reset();
    if (replayer) {
      Count(&WorkerStats::cache_hits);
    } else {
      replayer = std::make_unique<Replayer>(RunInfo{run.workflow_id, run.run_id, run.workflow_type, run.task_queue},
                                            *fn, SecureRandom(), options_.history_warn_events);
    }
    // What the Replayer has not seen: committed events (none when it is
    // cached and current), then this transaction's inputs.
    std::vector<HistoryEvent> events;
    if (replayer->last_event_id() + 1 < run.next_event_id) {
      CANTDO_ASSIGN_OR_RETURN(events, internal::LoadEvents(conn, run.run_id, replayer->last_event_id() + 1,
                                                           run.next_event_id - replayer->last_event_id() - 1));
      if (events.empty() || events.back().event_id() + 1 != run.next_event_id) {
        return absl::DataLossError(absl::StrCat("history of run ", run.run_id, " is shorter than next_event_id ",
                                                run.next_event_id, " says"));
      }
    }
    const int64_t history_next = run.next_event_id;  // where this batch starts
    const int64_t next_id = history_next + static_cast<int64_t>(inputs.size());
    events.insert(events.end(), inputs.begin(), inputs.end());
    absl::Status st = replayer->Apply(events);
    const int64_t started_id = next_id + (write_scheduled ? 1 : 0);
    absl::StatusOr<std::vector<HistoryEvent>> commands =
        st.ok() ? replayer->RunLive(now, started_id) : absl::StatusOr<std::vector<HistoryEvent>>(st);
    if (!commands.ok()) {
      auto cause = GetReason(commands.status()) == "NON_DETERMINISM" ? v1::WORKFLOW_TASK_FAILED_CAUSE_NON_DETERMINISM
                                                                      : v1::WORKFLOW_TASK_FAILED_CAUSE_WORKFLOW_PANIC;
      log::Warn("workflow task failed", {{"run_id", run.run_id}, {"error", commands.status().ToString()}});
      return FailWorkflowTask(conn, run, task_attempt, task_row_exists, cause, commands.status(), std::move(inputs));
    }
    Count(&WorkerStats::workflow_tasks);

    // Lay out the batch: inputs, [Scheduled], Started, Completed, commands.
    const size_t inputs_count = inputs.size();
    std::vector<HistoryEvent> batch = std::move(inputs);
    int64_t id = next_id;
    if (write_scheduled) {
      HistoryEvent e = internal::NewEvent(id++, now, v1::EVENT_TYPE_WORKFLOW_TASK_SCHEDULED);
      e.mutable_workflow_task_scheduled()->set_task_queue(run.task_queue);
      e.mutable_workflow_task_scheduled()->set_attempt(1);
      batch.push_back(std::move(e));
    }
    const int64_t scheduled_id = write_scheduled ? id - 1 : 0;
    HistoryEvent started = internal::NewEvent(id++, now, v1::EVENT_TYPE_WORKFLOW_TASK_STARTED);
    started.mutable_workflow_task_started()->set_scheduled_event_id(scheduled_id);
    started.mutable_workflow_task_started()->set_identity(options_.identity);
    batch.push_back(std::move(started));
    const int64_t completed_id = id;
    HistoryEvent completed = internal::NewEvent(id++, now, v1::EVENT_TYPE_WORKFLOW_TASK_COMPLETED);
    completed.mutable_workflow_task_completed()->set_scheduled_event_id(scheduled_id);
    completed.mutable_workflow_task_completed()->set_started_event_id(completed_id - 1);
    completed.mutable_workflow_task_completed()->set_identity(options_.identity);
    batch.push_back(std::move(completed));

    std::vector<HistoryEvent> cmds = *std::move(commands);
    if (id + static_cast<int64_t>(cmds.size()) > options_.history_limit_events + 1) {
      cmds.clear();
      HistoryEvent fail;
      fail.set_event_type(v1::EVENT_TYPE_WORKFLOW_EXECUTION_FAILED);
      absl::Status limit = FailedPrecondition(
          "HISTORY_LIMIT_EXCEEDED", absl::StrCat("history of run ", run.run_id, " reached the limit of ",
                                                 options_.history_limit_events, " events"));
      *fail.mutable_workflow_execution_failed()->mutable_failure() = FailureFromStatus(limit, "engine");
      cmds.push_back(std::move(fail));
      replayer.reset();  // its state no longer matches what is recorded
    } else if (id + static_cast<int64_t>(cmds.size()) > options_.history_warn_events) {
      log::Warn("workflow history is large", {{"run_id", run.run_id}, {"events", id + cmds.size()}});
    }
    for (auto& c : cmds) {
      c.set_event_id(id++);
      *c.mutable_event_time() = ToProto(now);
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
      batch.push_back(c);
    }
    CANTDO_RETURN_IF_ERROR(internal::AppendEvents(conn, run.run_id, history_next, batch));

    // Side effects of the commands, in the same transaction.
    bool closed = false;
    for (const HistoryEvent& c : cmds) {
      switch (c.attributes_case()) {
        case HistoryEvent::kActivityTaskScheduled:
          CANTDO_RETURN_IF_ERROR(ScheduleActivity(conn, run, c, now, eager));
          break;
        case HistoryEvent::kTimerStarted: {
          CANTDO_RETURN_IF_ERROR(
              conn.Defer("INSERT INTO cantdo.workflow_timers (run_id, timer_id, started_event_id, task_queue, fire_at)"
                         " VALUES ($1::uuid, $2, $3, $4, $5::timestamptz)",
                         {pg::TextParam(run.run_id), pg::TextParam(c.timer_started().timer_id()),
                          pg::Int64Param(c.event_id()), pg::TextParam(run.task_queue),
                          pg::TextParam(PgTime(FromProto(c.timer_started().fire_time())))}));
          break;
        }
        case HistoryEvent::kWorkflowExecutionCompleted:
          CANTDO_RETURN_IF_ERROR(internal::CloseRun(conn, run.run_id, v1::WORKFLOW_EXECUTION_STATE_COMPLETED, now,
                                                    nullptr, ""));
          closed = true;
          break;
        case HistoryEvent::kWorkflowExecutionFailed:
          CANTDO_RETURN_IF_ERROR(internal::CloseRun(conn, run.run_id, v1::WORKFLOW_EXECUTION_STATE_FAILED, now,
                                                    &c.workflow_execution_failed().failure(), ""));
          closed = true;
          break;
        case HistoryEvent::kWorkflowExecutionCancelled:
          CANTDO_RETURN_IF_ERROR(internal::CloseRun(conn, run.run_id, v1::WORKFLOW_EXECUTION_STATE_CANCELLED, now,
                                                    nullptr, ""));
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
    if (!closed && task_row_exists) {
      CANTDO_RETURN_IF_ERROR(
          conn.Defer("DELETE FROM cantdo.workflow_tasks WHERE run_id = $1::uuid", {pg::TextParam(run.run_id)}));
    }
    if (replayer) {
      // The inputs were fed by Apply; the rest is this task's own batch.
      batch.erase(batch.begin(), batch.begin() + static_cast<std::ptrdiff_t>(inputs_count));
      CANTDO_RETURN_IF_ERROR(replayer->Accept(batch));
      if (!closed && options_.sticky_cache) {
        auto shared = std::make_shared<std::unique_ptr<Replayer>>(std::move(replayer));
        const std::string run_id = run.run_id;
        after_commit = [this, shared, run_id] { cache_.Put(run_id, std::move(*shared)); };
      }
    }
    return absl::OkStatus();
  }

  absl::Status FailWorkflowTask(pg::Connection& conn, const RunRow& run, int task_attempt, bool task_row_exists,
                                v1::WorkflowTaskFailedCause cause, const absl::Status& error,
                                std::vector<HistoryEvent> inputs) {
    Count(&WorkerStats::workflow_task_failures);
    const absl::Time now = clock_.Now();
    // The inputs (an activity's result) are kept whatever the code did.
    // Record the first failure only, so a run stuck on incompatible code
    // does not grow its history on every retry.
    std::vector<HistoryEvent> events = std::move(inputs);
    if (task_attempt <= 1) {
      HistoryEvent e = internal::NewEvent(run.next_event_id + static_cast<int64_t>(events.size()), now,
                                          v1::EVENT_TYPE_WORKFLOW_TASK_FAILED);
      auto* a = e.mutable_workflow_task_failed();
      a->set_cause(cause);
      *a->mutable_failure() = FailureFromStatus(error, "engine");
      a->set_identity(options_.identity);
      events.push_back(std::move(e));
    }
    CANTDO_RETURN_IF_ERROR(internal::AppendEvents(conn, run.run_id, run.next_event_id, events));
    absl::Duration delay = options_.workflow_task_retry_initial * std::pow(2.0, std::min(task_attempt - 1, 20));
    delay = std::min(delay, options_.workflow_task_retry_max);
    if (task_row_exists) {
      return conn.Defer("UPDATE cantdo.workflow_tasks SET attempt = attempt + 1,"
                        " visible_at = $2::timestamptz WHERE run_id = $1::uuid",
                        {pg::TextParam(run.run_id), pg::TextParam(PgTime(now + delay))});
    }
    return internal::InsertWorkflowTask(conn, run.run_id, run.task_queue, now + delay, task_attempt + 1);
  }

  absl::Status ContinueAsNew(pg::Connection& conn, const RunRow& run, const HistoryEvent& c, absl::Time now) {
    const auto& can = c.workflow_execution_continued_as_new();
    const std::string new_run = NewUuid();
    CANTDO_RETURN_IF_ERROR(internal::CloseRun(conn, run.run_id, v1::WORKFLOW_EXECUTION_STATE_CONTINUED_AS_NEW, now,
                                              nullptr, new_run));
    CANTDO_RETURN_IF_ERROR(
        conn.Defer("INSERT INTO cantdo.workflow_runs (run_id, workflow_id, workflow_type, task_queue, state,"
                   " requester, admission_approval_id, first_run_id, next_event_id, start_time, admit_time,"
                   " traceparent)"
                   " VALUES ($1::uuid, $2, $3, $4, 2, $5, $6, $7::uuid, 1, $8::timestamptz, $8::timestamptz, $9)",
                   {pg::TextParam(new_run), pg::TextParam(run.workflow_id), pg::TextParam(can.workflow_type()),
                    pg::TextParam(can.task_queue()), pg::TextParam(run.requester),
                    pg::TextParam(run.admission_approval_id), pg::TextParam(run.first_run_id),
                    pg::TextParam(PgTime(now)), pg::TextParam(run.traceparent)}));
    HistoryEvent started = internal::NewEvent(1, now, v1::EVENT_TYPE_WORKFLOW_EXECUTION_STARTED);
    auto* a = started.mutable_workflow_execution_started();
    a->set_workflow_type(can.workflow_type());
    a->set_task_queue(can.task_queue());
    *a->mutable_input() = can.input();
    a->set_requester(run.requester);
    a->set_continued_from_run_id(run.run_id);
    a->set_first_run_id(run.first_run_id);
    // The chain's admission, so the new run's code sees what was approved
    // (it gets no WorkflowExecutionAdmitted event of its own).
    if (can.has_admission()) *a->mutable_admission() = can.admission();
    HistoryEvent sched = internal::NewEvent(2, now, v1::EVENT_TYPE_WORKFLOW_TASK_SCHEDULED);
    sched.mutable_workflow_task_scheduled()->set_task_queue(can.task_queue());
    sched.mutable_workflow_task_scheduled()->set_attempt(1);
    CANTDO_RETURN_IF_ERROR(internal::AppendEvents(conn, new_run, 1, {started, sched}));
    return internal::InsertWorkflowTask(conn, new_run, can.task_queue(), now);
  }

  // ---- activities ----

  absl::Duration AttemptLease(const v1::ActivityTaskScheduledEventAttributes& a) const {
    absl::Duration d = FromProto(a.start_to_close_timeout());
    if (d <= absl::ZeroDuration()) d = absl::Seconds(30);
    absl::Duration hb = FromProto(a.heartbeat_timeout());
    if (hb > absl::ZeroDuration()) d = std::min(d, hb);
    return d;
  }

  absl::Status ScheduleActivity(pg::Connection& conn, const RunRow& run, const HistoryEvent& c, absl::Time now,
                                std::vector<ActivityLease>& eager) {
    const auto& a = c.activity_task_scheduled();
    const bool take = options_.eager_activities && !stopping_.load() && HandlesQueue(a.task_queue()) &&
                      registry_.FindActivity(a.activity_type()) != nullptr;
    ActivityLease lease;
    if (take) {
      lease.lease_id = NewUuid();
      lease.run_id = run.run_id;
      lease.workflow_id = run.workflow_id;
      lease.workflow_type = run.workflow_type;
      lease.task_queue = a.task_queue();
      lease.scheduled_event_id = c.event_id();
      lease.attempt = 1;
      lease.started_at = now;
      lease.scheduled = a;
      lease.traceparent = run.traceparent;
    }
    CANTDO_RETURN_IF_ERROR(
        conn.Defer("INSERT INTO cantdo.activity_tasks (run_id, scheduled_event_id, task_queue, activity_type, attempt,"
                  " visible_at, scheduled_at, lease_id, lease_owner, attempt_started_at, lease_expires_at)"
                  " VALUES ($1::uuid, $2, $3, $4, $5, $6::timestamptz, $6::timestamptz, nullif($7, '')::uuid,"
                  " nullif($8, ''), CASE WHEN $7 = '' THEN NULL ELSE $6::timestamptz END,"
                  " CASE WHEN $7 = '' THEN NULL ELSE $9::timestamptz END)",
                  {pg::TextParam(run.run_id), pg::Int64Param(c.event_id()), pg::TextParam(a.task_queue()),
                   pg::TextParam(a.activity_type()), pg::Int64Param(take ? 1 : 0), pg::TextParam(PgTime(now)),
                   pg::TextParam(lease.lease_id), pg::TextParam(take ? options_.identity : ""),
                   pg::TextParam(PgTime(now + AttemptLease(a)))}));
    if (take) {
      eager.push_back(std::move(lease));
    } else {
      CANTDO_RETURN_IF_ERROR(conn.Defer("SELECT pg_notify($1, $2)",
                                        {pg::TextParam(internal::kTasksChannel), pg::TextParam(a.task_queue())}));
    }
    return absl::OkStatus();
  }

  absl::StatusOr<std::optional<ActivityLease>> LeaseActivity() {
    std::vector<std::string> types;  // only activities we can run
    return pg::RunInTransaction(pool_, Tx(), [&](pg::Connection& conn) -> absl::StatusOr<std::optional<ActivityLease>> {
      const absl::Time now = clock_.Now();
      CANTDO_ASSIGN_OR_RETURN(
          pg::Result r,
          conn.Exec("SELECT run_id::text, scheduled_event_id, attempt FROM cantdo.activity_tasks"
                    " WHERE task_queue = ANY($1::text[]) AND lease_id IS NULL AND visible_at <= $2::timestamptz"
                    " ORDER BY visible_at LIMIT 8 FOR UPDATE SKIP LOCKED",
                    {pg::TextParam(queues_param_), pg::TextParam(PgTime(now))}));
      for (int i = 0; i < r.Rows(); ++i) {
        ActivityLease lease;
        CANTDO_ASSIGN_OR_RETURN(lease.run_id, r.GetString(i, 0));
        CANTDO_ASSIGN_OR_RETURN(lease.scheduled_event_id, r.GetInt64(i, 1));
        CANTDO_ASSIGN_OR_RETURN(int64_t attempt, r.GetInt64(i, 2));
        CANTDO_ASSIGN_OR_RETURN(auto events, internal::LoadEvents(conn, lease.run_id, lease.scheduled_event_id, 1));
        if (events.empty() || !events[0].has_activity_task_scheduled()) {
          return absl::DataLossError("activity task without its scheduled event");
        }
        lease.scheduled = events[0].activity_task_scheduled();
        if (registry_.FindActivity(lease.scheduled.activity_type()) == nullptr) continue;
        CANTDO_ASSIGN_OR_RETURN(auto run, internal::LoadRun(conn, lease.run_id, false));
        if (!run) continue;
        lease.workflow_id = run->workflow_id;
        lease.workflow_type = run->workflow_type;
        lease.traceparent = run->traceparent;
        lease.task_queue = lease.scheduled.task_queue();
        lease.attempt = static_cast<int>(attempt) + 1;
        lease.lease_id = NewUuid();
        lease.started_at = now;
        CANTDO_ASSIGN_OR_RETURN(
            pg::Result u,
            conn.Exec("UPDATE cantdo.activity_tasks SET lease_id = $3::uuid, lease_owner = $4, attempt = attempt + 1,"
                      " attempt_started_at = $5::timestamptz, lease_expires_at = $6::timestamptz"
                      " WHERE run_id = $1::uuid AND scheduled_event_id = $2",
                      {pg::TextParam(lease.run_id), pg::Int64Param(lease.scheduled_event_id),
                       pg::TextParam(lease.lease_id), pg::TextParam(options_.identity), pg::TextParam(PgTime(now)),
                       pg::TextParam(PgTime(now + AttemptLease(lease.scheduled)))}));
        (void)u;
        return std::optional<ActivityLease>(std::move(lease));
      }
      Count(&WorkerStats::empty_polls);
      return std::optional<ActivityLease>();
    });
  }

  void DispatchEager(std::vector<ActivityLease> leases, bool run_first_here) {
    if (leases.empty()) return;
    Count(&WorkerStats::activities_eager, static_cast<int64_t>(leases.size()));
    size_t start = 0;
    if (run_first_here && !pending_here_.has_value()) {
      pending_here_ = std::move(leases[0]);
      start = 1;
    }
    absl::MutexLock l(&mu_);
    for (size_t i = start; i < leases.size(); ++i) eager_.push_back(std::move(leases[i]));
  }

  // Runs an activity; its completion may run the next workflow task and
  // lease the next activity to this thread, which then runs too.
  void RunActivityChain(ActivityLease lease) {
    std::optional<ActivityLease> next = std::move(lease);
    while (next.has_value()) {
      ActivityLease current = std::move(*next);
      next.reset();
      RunActivity(current);
      // Take it out: a moved-from optional stays engaged.
      std::optional<ActivityLease> here = std::exchange(pending_here_, std::nullopt);
      if (!here.has_value()) continue;
      if (!stopping_.load()) {
        next = std::move(here);
      } else {  // stopping: hand it back to the queue
        absl::MutexLock l(&mu_);
        eager_.push_back(std::move(*here));
      }
    }
  }

  void RunActivity(const ActivityLease& lease) {
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
    SubmitCompletion(Completion{lease, std::move(result)});
  }

  // ---- recording activity results: group commit ----
  //
  // An attempt's outcome is recorded, with the run's next workflow task, in
  // a transaction. Threads finishing at the same time share one: the first
  // to submit becomes the committer and records everything waiting (one
  // round trip for all the runs' reads, one for all the writes and the
  // COMMIT), then looks again; the others return at once and find the next
  // activities of their runs in eager_. So under load a commit, and its WAL
  // flush, serves many runs.

  struct Completion {
    ActivityLease lease;
    Result result;
  };
  static constexpr size_t kMaxCommitBatch = 64;

  void SubmitCompletion(Completion c) {
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
        // One completion per run per transaction: a run's second result
        // waits for the next round (it needs the first one's history).
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
      // More results to record before this thread is free: the next
      // activity an earlier round leased to it goes to an idle thread
      // instead (its lease, start-to-close, is already running).
      if (std::optional<ActivityLease> here = std::exchange(pending_here_, std::nullopt)) {
        absl::MutexLock l(&mu_);
        eager_.push_back(std::move(*here));
      }
      if (batch.size() == 1) {
        CommitOne(batch.front());
      } else if (!CommitBatch(batch)) {
        for (const Completion& one : batch) CommitOne(one);  // a conflict or error: each on its own
      }
    }
  }

  // Records several runs' completions in one transaction. False (nothing
  // committed) if that failed.
  bool CommitBatch(std::vector<Completion>& batch) {
    // Runs locked in one order by every committer.
    std::sort(batch.begin(), batch.end(),
              [](const Completion& a, const Completion& b) { return a.lease.run_id < b.lease.run_id; });
    std::vector<ActivityLease> eager;
    std::vector<std::function<void()>> after;
    absl::Status s = pg::RunInTransaction(pool_, Tx(), [&](pg::Connection& conn) -> absl::Status {
      eager.clear();
      after.clear();
      std::vector<pg::Connection::BatchStatement> reads;
      std::vector<std::string> run_ids;
      for (const Completion& c : batch) {
        if (!c.result.ok()) continue;
        run_ids.push_back(c.lease.run_id);
        reads.push_back(CompletionRead(c.lease));
      }
      // The runs locked first, then each read: one round trip.
      CANTDO_RETURN_IF_ERROR(internal::LockRuns(conn, run_ids));
      CANTDO_ASSIGN_OR_RETURN(std::vector<pg::Result> rows, conn.ExecBatch(std::move(reads)));
      size_t next_row = 0;
      for (const Completion& c : batch) {
        std::function<void()> after_commit;
        if (c.result.ok()) {
          CANTDO_RETURN_IF_ERROR(CompleteSucceeded(conn, c.lease, c.result, rows[next_row++], eager, after_commit));
        } else {
          CANTDO_RETURN_IF_ERROR(CompleteActivity(conn, c.lease, c.result, eager, after_commit));
        }
        if (after_commit) after.push_back(std::move(after_commit));
      }
      return absl::OkStatus();
    });
    if (!s.ok()) {
      if (IsHistoryConflict(s)) Count(&WorkerStats::history_conflicts);
      log::Debug("recording a batch of activity results failed; recording them one by one",
                 {{"runs", batch.size()}, {"error", s.ToString()}});
      return false;
    }
    Count(&WorkerStats::completion_batches);
    for (auto& a : after) a();
    DispatchEager(std::move(eager), /*run_first_here=*/true);
    return true;
  }

  void CommitOne(const Completion& c) {
    const ActivityLease& lease = c.lease;
    for (int attempt = 0; attempt < 20; ++attempt) {
      std::vector<ActivityLease> eager;
      std::function<void()> after_commit;
      absl::Status s = pg::RunInTransaction(pool_, Tx(), [&](pg::Connection& conn) -> absl::Status {
        eager.clear();
        after_commit = nullptr;
        return CompleteActivity(conn, lease, c.result, eager, after_commit);
      });
      if (s.ok()) {
        if (after_commit) after_commit();
        DispatchEager(std::move(eager), /*run_first_here=*/true);
        return;
      }
      if (IsHistoryConflict(s)) {
        Count(&WorkerStats::history_conflicts);
        continue;
      }
      log::Warn("recording activity result failed", {{"run_id", lease.run_id}, {"error", s.ToString()}});
      absl::SleepFor(absl::Milliseconds(50));
      if (stopping_.load() && attempt > 3) return;  // the lease expires; the attempt is retried
    }
  }

  absl::Status Heartbeat(const ActivityLease& lease) {
    return pg::RunInTransaction(pool_, Tx(), [&](pg::Connection& conn) -> absl::Status {
      const absl::Time now = clock_.Now();
      absl::Duration hb = FromProto(lease.scheduled.heartbeat_timeout());
      absl::Time deadline = lease.started_at + FromProto(lease.scheduled.start_to_close_timeout());
      absl::Time expires = hb > absl::ZeroDuration() ? std::min(deadline, now + hb) : deadline;
      CANTDO_ASSIGN_OR_RETURN(
          pg::Result r,
          conn.Exec("UPDATE cantdo.activity_tasks SET lease_expires_at = $4::timestamptz"
                    " WHERE run_id = $1::uuid AND scheduled_event_id = $2 AND lease_id = $3::uuid"
                    " RETURNING EXISTS (SELECT 1 FROM cantdo.workflow_events e"
                    "   WHERE e.run_id = $1::uuid AND e.event_type = 52)",
                    {pg::TextParam(lease.run_id), pg::Int64Param(lease.scheduled_event_id),
                     pg::TextParam(lease.lease_id), pg::TextParam(PgTime(expires))}));
      if (r.Rows() == 0) return absl::NotFoundError("activity lease lost (timed out or run closed)");
      CANTDO_ASSIGN_OR_RETURN(bool cancel, r.GetBool(0, 0));
      if (cancel) return absl::CancelledError("workflow cancellation requested");
      return absl::OkStatus();
    });
  }

  // Whether `error` on attempt `attempt` gets another attempt, and after
  // which delay.
  std::optional<absl::Duration> RetryAfter(const v1::ActivityTaskScheduledEventAttributes& a, int attempt,
                                           const absl::Status& error, absl::Time scheduled_at, absl::Time now) const {
    if (IsNonRetryable(error)) return std::nullopt;
    const std::string type = FailureType(error);
    for (const auto& t : a.retry_policy().non_retryable_error_types()) {
      if (t == type) return std::nullopt;
    }
    const int max = a.retry_policy().maximum_attempts();
    if (max > 0 && attempt >= max) return std::nullopt;
    absl::Duration delay = RetryDelay(a.retry_policy(), attempt);
    absl::Duration s2c = FromProto(a.schedule_to_close_timeout());
    if (s2c > absl::ZeroDuration() && now + delay >= scheduled_at + s2c) return std::nullopt;
    return delay;
  }

  // Records an attempt's outcome. Success or final failure appends events
  // and (sticky continuation) runs the next workflow task right here.
  absl::Status CompleteActivity(pg::Connection& conn, const ActivityLease& lease, const Result& result,
                                std::vector<ActivityLease>& eager, std::function<void()>& after_commit) {
    const absl::Time now = clock_.Now();
    if (result.ok()) {
      auto read = CompletionRead(lease);
      CANTDO_RETURN_IF_ERROR(internal::LockRuns(conn, {lease.run_id}));
      CANTDO_ASSIGN_OR_RETURN(pg::Result r, conn.Exec(read.sql, read.params));
      return CompleteSucceeded(conn, lease, result, r, eager, after_commit);
    }
    CANTDO_ASSIGN_OR_RETURN(
        pg::Result t,
        conn.Exec("SELECT (extract(epoch FROM scheduled_at) * 1000000)::bigint FROM cantdo.activity_tasks"
                  " WHERE run_id = $1::uuid AND scheduled_event_id = $2 AND lease_id = $3::uuid FOR UPDATE",
                  {pg::TextParam(lease.run_id), pg::Int64Param(lease.scheduled_event_id),
                   pg::TextParam(lease.lease_id)}));
    if (t.Rows() == 0) return LeaseLost(lease);
    CANTDO_ASSIGN_OR_RETURN(int64_t scheduled_micros, t.GetInt64(0, 0));
    auto delay = RetryAfter(lease.scheduled, lease.attempt, result.status(), absl::FromUnixMicros(scheduled_micros),
                            now);
    if (delay.has_value()) {
      CANTDO_RETURN_IF_ERROR(
          conn.Defer("UPDATE cantdo.activity_tasks SET lease_id = NULL, lease_owner = NULL, lease_expires_at = NULL,"
                     " visible_at = $3::timestamptz, last_failure = decode($4, 'hex')"
                     " WHERE run_id = $1::uuid AND scheduled_event_id = $2",
                     {pg::TextParam(lease.run_id), pg::Int64Param(lease.scheduled_event_id),
                      pg::TextParam(PgTime(now + *delay)),
                      pg::TextParam(absl::BytesToHexString(
                          FailureFromStatus(result.status(), "activity").SerializeAsString()))}));
      after_commit = [this] { Count(&WorkerStats::activity_retries); };
      return conn.Defer("SELECT pg_notify($1, $2)",
                        {pg::TextParam(internal::kTasksChannel), pg::TextParam(lease.task_queue)});
    }
    CANTDO_ASSIGN_OR_RETURN(std::optional<RunRow> run_opt, internal::LoadRun(conn, lease.run_id, /*for_update=*/true));
    CANTDO_RETURN_IF_ERROR(conn.Defer("DELETE FROM cantdo.activity_tasks WHERE run_id = $1::uuid"
                                      " AND scheduled_event_id = $2",
                                      {pg::TextParam(lease.run_id), pg::Int64Param(lease.scheduled_event_id)}));
    if (!run_opt || !run_opt->open()) return absl::OkStatus();
    trace::ScopedTrace traced(run_opt->traceparent);
    return RecordOutcome(conn, *std::move(run_opt), lease, result, eager, after_commit);
  }

  // The read that starts recording a successful attempt: the run, and the
  // attempt's task taken off the queue if this lease still holds it (the
  // last column counts that). The caller has locked the run in an earlier
  // statement (internal::LockRuns).
  pg::Connection::BatchStatement CompletionRead(const ActivityLease& lease) const {
    return {absl::StrCat("WITH done AS (DELETE FROM cantdo.activity_tasks WHERE run_id = $1::uuid"
                         " AND scheduled_event_id = $2 AND lease_id = $3::uuid RETURNING 1)"
                         " SELECT ", internal::RunColumns(), ", (SELECT count(*) FROM done)"
                         " FROM cantdo.workflow_runs WHERE run_id = $1::uuid"),
            {pg::TextParam(lease.run_id), pg::Int64Param(lease.scheduled_event_id), pg::TextParam(lease.lease_id)}};
  }

  // Records a successful attempt, given CompletionRead's result.
  absl::Status CompleteSucceeded(pg::Connection& conn, const ActivityLease& lease, const Result& result,
                                 const pg::Result& read, std::vector<ActivityLease>& eager,
                                 std::function<void()>& after_commit) {
    if (read.Rows() == 0) return LeaseLost(lease);
    CANTDO_ASSIGN_OR_RETURN(int64_t taken, read.GetInt64(0, internal::kRunColumnCount));
    if (taken == 0) return LeaseLost(lease);
    CANTDO_ASSIGN_OR_RETURN(RunRow run, internal::RunFromRow(read, 0));
    if (!run.open()) return absl::OkStatus();
    trace::ScopedTrace traced(run.traceparent);
    return RecordOutcome(conn, std::move(run), lease, result, eager, after_commit);
  }

  absl::Status LeaseLost(const ActivityLease& lease) {
    log::Info("activity result dropped: lease lost", {{"run_id", lease.run_id},
                                                       {"scheduled_event_id", lease.scheduled_event_id}});
    return absl::OkStatus();
  }

  // Appends the attempt's outcome to the locked `run` and continues it.
  absl::Status RecordOutcome(pg::Connection& conn, RunRow run, const ActivityLease& lease, const Result& result,
                             std::vector<ActivityLease>& eager, std::function<void()>& after_commit) {
    const absl::Time now = clock_.Now();
    std::vector<HistoryEvent> events;
    int64_t id = run.next_event_id;
    HistoryEvent started = internal::NewEvent(id++, now, v1::EVENT_TYPE_ACTIVITY_TASK_STARTED);
    started.mutable_activity_task_started()->set_scheduled_event_id(lease.scheduled_event_id);
    started.mutable_activity_task_started()->set_attempt(lease.attempt);
    started.mutable_activity_task_started()->set_identity(options_.identity);
    started.mutable_activity_task_started()->set_request_id(lease.lease_id);
    events.push_back(std::move(started));
    if (result.ok()) {
      HistoryEvent e = internal::NewEvent(id++, now, v1::EVENT_TYPE_ACTIVITY_TASK_COMPLETED);
      e.mutable_activity_task_completed()->set_scheduled_event_id(lease.scheduled_event_id);
      e.mutable_activity_task_completed()->set_started_event_id(id - 2);
      *e.mutable_activity_task_completed()->mutable_result() = *result;
      e.mutable_activity_task_completed()->set_identity(options_.identity);
      events.push_back(std::move(e));
    } else {
      HistoryEvent e = internal::NewEvent(id++, now, v1::EVENT_TYPE_ACTIVITY_TASK_FAILED);
      e.mutable_activity_task_failed()->set_scheduled_event_id(lease.scheduled_event_id);
      e.mutable_activity_task_failed()->set_started_event_id(id - 2);
      *e.mutable_activity_task_failed()->mutable_failure() = FailureFromStatus(result.status(), "activity");
      e.mutable_activity_task_failed()->set_retryable(!IsNonRetryable(result.status()));
      e.mutable_activity_task_failed()->set_identity(options_.identity);
      events.push_back(std::move(e));
    }
    return AppendInputAndContinue(conn, run, std::move(events), eager, after_commit);
  }

  // Appends input events to a run whose row the caller has locked, then
  // either runs its workflow task here, in the same batch (sticky
  // continuation), or schedules one for any worker. Under the run's lock no
  // other worker is running its workflow task (a poller locks the run too).
  absl::Status AppendInputAndContinue(pg::Connection& conn, RunRow& run, std::vector<HistoryEvent> events,
                                      std::vector<ActivityLease>& eager, std::function<void()>& after_commit) {
    const absl::Time now = clock_.Now();
    const bool task_row = run.workflow_task_attempt > 0;
    const bool inline_task = options_.eager_activities && !stopping_.load() && HandlesQueue(run.task_queue) &&
                             registry_.FindWorkflow(run.workflow_type) != nullptr && run.workflow_task_attempt <= 1;
    if (inline_task) {
      return RunWorkflowTask(conn, run, 1, /*write_scheduled=*/!task_row, task_row, eager, after_commit,
                             std::move(events));
    }
    if (!task_row) {
      CANTDO_RETURN_IF_ERROR(internal::InsertWorkflowTask(conn, run.run_id, run.task_queue, now));
      HistoryEvent sched =
          internal::NewEvent(run.next_event_id + static_cast<int64_t>(events.size()), now,
                             v1::EVENT_TYPE_WORKFLOW_TASK_SCHEDULED);
      sched.mutable_workflow_task_scheduled()->set_task_queue(run.task_queue);
      sched.mutable_workflow_task_scheduled()->set_attempt(1);
      events.push_back(std::move(sched));
    }
    return internal::AppendEvents(conn, run.run_id, run.next_event_id, events);
  }

  // ---- timers and timeouts ----

  absl::StatusOr<bool> FireTimers() {
    bool fired = false;
    absl::Status s = pg::RunInTransaction(pool_, Tx(), [&](pg::Connection& conn) -> absl::Status {
      fired = false;
      const absl::Time now = clock_.Now();
      CANTDO_ASSIGN_OR_RETURN(
          pg::Result r,
          conn.Exec("SELECT run_id::text, timer_id, started_event_id FROM cantdo.workflow_timers"
                    " WHERE task_queue = ANY($1::text[]) AND fire_at <= $2::timestamptz"
                    " ORDER BY fire_at LIMIT 1 FOR UPDATE SKIP LOCKED",
                    {pg::TextParam(queues_param_), pg::TextParam(PgTime(now))}));
      if (r.Rows() == 0) return absl::OkStatus();
      fired = true;
      CANTDO_ASSIGN_OR_RETURN(std::string run_id, r.GetString(0, 0));
      CANTDO_ASSIGN_OR_RETURN(std::string timer_id, r.GetString(0, 1));
      CANTDO_ASSIGN_OR_RETURN(int64_t started_id, r.GetInt64(0, 2));
      CANTDO_ASSIGN_OR_RETURN(pg::Result d,
                              conn.Exec("DELETE FROM cantdo.workflow_timers WHERE run_id = $1::uuid AND timer_id = $2",
                                        {pg::TextParam(run_id), pg::TextParam(timer_id)}));
      (void)d;
      CANTDO_ASSIGN_OR_RETURN(auto run, internal::LoadRun(conn, run_id, true));
      if (!run || !run->open()) return absl::OkStatus();
      HistoryEvent e = internal::NewEvent(run->next_event_id, now, v1::EVENT_TYPE_TIMER_FIRED);
      e.mutable_timer_fired()->set_timer_id(timer_id);
      e.mutable_timer_fired()->set_started_event_id(started_id);
      // Timers do not run the workflow task inline: keep this short.
      std::vector<HistoryEvent> events{e};
      if (run->workflow_task_attempt == 0) {
        CANTDO_RETURN_IF_ERROR(internal::InsertWorkflowTask(conn, run->run_id, run->task_queue, now));
        HistoryEvent sched = internal::NewEvent(run->next_event_id + 1, now, v1::EVENT_TYPE_WORKFLOW_TASK_SCHEDULED);
        sched.mutable_workflow_task_scheduled()->set_task_queue(run->task_queue);
        sched.mutable_workflow_task_scheduled()->set_attempt(1);
        events.push_back(std::move(sched));
      }
      return internal::AppendEvents(conn, run->run_id, run->next_event_id, events);
    });
    CANTDO_RETURN_IF_ERROR(s);
    return fired;
  }

  // An attempt whose lease expired timed out (start-to-close or heartbeat):
  // retry it per policy, or record ActivityTaskTimedOut.
  absl::StatusOr<bool> ExpireLeases() {
    bool did = false;
    bool retried = false;
    absl::Status s = pg::RunInTransaction(pool_, Tx(), [&](pg::Connection& conn) -> absl::Status {
      did = false;
      retried = false;
      const absl::Time now = clock_.Now();
      CANTDO_ASSIGN_OR_RETURN(
          pg::Result r,
          conn.Exec("SELECT run_id::text, scheduled_event_id, attempt,"
                    " (extract(epoch FROM scheduled_at) * 1000000)::bigint,"
                    " (extract(epoch FROM attempt_started_at) * 1000000)::bigint,"
                    " (extract(epoch FROM lease_expires_at) * 1000000)::bigint"
                    " FROM cantdo.activity_tasks WHERE task_queue = ANY($1::text[]) AND lease_id IS NOT NULL"
                    " AND lease_expires_at <= $2::timestamptz ORDER BY lease_expires_at LIMIT 1"
                    " FOR UPDATE SKIP LOCKED",
                    {pg::TextParam(queues_param_), pg::TextParam(PgTime(now))}));
      if (r.Rows() == 0) return absl::OkStatus();
      did = true;
      CANTDO_ASSIGN_OR_RETURN(std::string run_id, r.GetString(0, 0));
      CANTDO_ASSIGN_OR_RETURN(int64_t seid, r.GetInt64(0, 1));
      CANTDO_ASSIGN_OR_RETURN(int64_t attempt, r.GetInt64(0, 2));
      CANTDO_ASSIGN_OR_RETURN(int64_t scheduled_us, r.GetInt64(0, 3));
      CANTDO_ASSIGN_OR_RETURN(int64_t started_us, r.GetInt64(0, 4));
      CANTDO_ASSIGN_OR_RETURN(auto events, internal::LoadEvents(conn, run_id, seid, 1));
      if (events.empty() || !events[0].has_activity_task_scheduled()) return absl::DataLossError("no scheduled event");
      const auto& a = events[0].activity_task_scheduled();
      const bool start_to_close =
          absl::FromUnixMicros(started_us) + FromProto(a.start_to_close_timeout()) <= now;
      const auto kind = start_to_close || FromProto(a.heartbeat_timeout()) <= absl::ZeroDuration()
                            ? v1::TIMEOUT_KIND_START_TO_CLOSE
                            : v1::TIMEOUT_KIND_HEARTBEAT;
      absl::Status timeout = WithReason(absl::DeadlineExceededError(absl::StrCat(
                                            "activity attempt ", attempt, " timed out (", v1::TimeoutKind_Name(kind), ")")),
                                        v1::TimeoutKind_Name(kind));
      auto delay = RetryAfter(a, static_cast<int>(attempt), timeout, absl::FromUnixMicros(scheduled_us), now);
      if (delay.has_value()) {
        CANTDO_ASSIGN_OR_RETURN(
            pg::Result u,
            conn.Exec("UPDATE cantdo.activity_tasks SET lease_id = NULL, lease_owner = NULL, lease_expires_at = NULL,"
                      " visible_at = $3::timestamptz, last_failure = decode($4, 'hex')"
                      " WHERE run_id = $1::uuid AND scheduled_event_id = $2",
                      {pg::TextParam(run_id), pg::Int64Param(seid), pg::TextParam(PgTime(now + *delay)),
                       pg::TextParam(absl::BytesToHexString(FailureFromStatus(timeout, "engine").SerializeAsString()))}));
        (void)u;
        retried = true;
        return absl::OkStatus();
      }
      CANTDO_ASSIGN_OR_RETURN(pg::Result d, conn.Exec("DELETE FROM cantdo.activity_tasks WHERE run_id = $1::uuid"
                                                      " AND scheduled_event_id = $2",
                                                      {pg::TextParam(run_id), pg::Int64Param(seid)}));
      (void)d;
      CANTDO_ASSIGN_OR_RETURN(auto run, internal::LoadRun(conn, run_id, true));
      if (!run || !run->open()) return absl::OkStatus();
      HistoryEvent e = internal::NewEvent(run->next_event_id, now, v1::EVENT_TYPE_ACTIVITY_TASK_TIMED_OUT);
      e.mutable_activity_task_timed_out()->set_scheduled_event_id(seid);
      e.mutable_activity_task_timed_out()->set_timeout_kind(kind);
      *e.mutable_activity_task_timed_out()->mutable_last_failure() = FailureFromStatus(timeout, "engine");
      std::vector<HistoryEvent> evs{e};
      if (run->workflow_task_attempt == 0) {
        CANTDO_RETURN_IF_ERROR(internal::InsertWorkflowTask(conn, run->run_id, run->task_queue, now));
        HistoryEvent sched = internal::NewEvent(run->next_event_id + 1, now, v1::EVENT_TYPE_WORKFLOW_TASK_SCHEDULED);
        sched.mutable_workflow_task_scheduled()->set_task_queue(run->task_queue);
        sched.mutable_workflow_task_scheduled()->set_attempt(1);
        evs.push_back(std::move(sched));
      }
      return internal::AppendEvents(conn, run->run_id, run->next_event_id, evs);
    });
    CANTDO_RETURN_IF_ERROR(s);
    if (did) Count(&WorkerStats::lease_expiries);
    if (retried) Count(&WorkerStats::activity_retries);
    return did;
  }

  pg::Pool& pool_;
  const Registry& registry_;
  Clock& clock_;
  const WorkerOptions options_;
  StickyCache cache_;
  const std::string queues_param_;

  std::atomic<bool> stopping_{false};
  std::unique_ptr<pg::Listener> listener_;
  std::thread listener_thread_;
  std::vector<std::thread> threads_;

  absl::Mutex mu_;
  int64_t wake_generation_ ABSL_GUARDED_BY(mu_) = 0;  // Wake(): full scans
  int64_t wake_tokens_ ABSL_GUARDED_BY(mu_) = 0;      // announced tasks not yet taken (one per notification)
  int64_t polling_ ABSL_GUARDED_BY(mu_) = 0;          // threads scanning the queues now
  std::deque<ActivityLease> eager_ ABSL_GUARDED_BY(mu_);

  absl::Mutex commit_mu_;
  std::list<Completion> completions_ ABSL_GUARDED_BY(commit_mu_);  // waiting to be recorded
  bool committing_ ABSL_GUARDED_BY(commit_mu_) = false;            // a thread is recording them

  mutable absl::Mutex stats_mu_;
  WorkerStats stats_ ABSL_GUARDED_BY(stats_mu_);

  // The activity this thread leased to itself by sticky continuation.
  static thread_local std::optional<ActivityLease> pending_here_;
  // Tasks this thread took from the queues in its current round.
  static thread_local int64_t taken_here_;
};

thread_local std::optional<ActivityLease> Worker::Impl::pending_here_;
thread_local int64_t Worker::Impl::taken_here_ = 0;

absl::StatusOr<std::unique_ptr<Worker>> Worker::Create(pg::Pool& pool, const Registry& registry, Clock& clock,
                                                       WorkerOptions options) {
  if (options.task_queues.empty()) return InvalidArgument("task_queues", "at least one task queue is required");
  if (options.concurrency < 1) return InvalidArgument("concurrency", "concurrency must be >= 1");
  return std::unique_ptr<Worker>(new Worker(std::make_unique<Impl>(pool, registry, clock, std::move(options))));
}

Worker::Worker(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Worker::~Worker() { impl_->Stop(); }
absl::Status Worker::Start() { return impl_->Start(); }
void Worker::Stop() { impl_->Stop(); }
void Worker::Wake() { impl_->Wake(); }
absl::StatusOr<bool> Worker::RunOnce() { return impl_->RunOnce(); }
WorkerStats Worker::Stats() const { return impl_->Stats(); }

}  // namespace cantdo::workflow
