#pragma once
// Worker::Impl, the engine's worker, declared once and defined by job:
//
//   worker.cpp          lifecycle (Create, Start, Stop) and the public API
//   worker_loop.cpp     wake-up and polling: which thread looks for what, when
//   workflow_task.cpp   workflow tasks: lease, replay, record the commands
//   activity_task.cpp   activity tasks: schedule, lease, run, heartbeat
//   group_commit.cpp    recording activity results, several runs a commit
//   timers.cpp          timers due and activity leases expired
//
// The SQL of all of them is in store.hpp. Every transaction body here may
// run more than once (pg::RunInTransaction retries lost races), so what it
// must do only once it has committed goes into an AfterCommit.

#include <atomic>
#include <cstdint>
#include <deque>
#include <functional>
#include <list>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "cantdo/pg/listener.hpp"
#include "cantdo/pg/pool.hpp"
#include "cantdo/pg/transaction.hpp"
#include "cantdo/workflow/internal/outage_backoff.hpp"
#include "cantdo/workflow/internal/sticky_cache.hpp"
#include "cantdo/workflow/replayer.hpp"
#include "cantdo/workflow/worker.hpp"
#include "store.hpp"

namespace cantdo::workflow {

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

// What a transaction body leaves for after its commit: activities it leased
// to this worker (eager dispatch), and actions (put a Replayer back in the
// cache, count a statistic). Cleared at the start of each attempt.
struct AfterCommit {
  std::vector<ActivityLease> eager;
  std::vector<std::function<void()>> actions;

  void Clear() {
    eager.clear();
    actions.clear();
  }
};

// The state of one thread doing the Worker's work: a worker thread's for
// its life, or a RunOnce() caller's for that call. Never shared between
// threads, nor between Workers.
struct ThreadState {
  // The activity this thread leased to itself by sticky continuation; it
  // runs next on this thread (RunActivityChain).
  std::optional<ActivityLease> pending_here;
  // Tasks this thread took from the queues in its current scan.
  int64_t taken_here = 0;
};

// How the workflow task being run came about.
enum class TaskOrigin {
  // Its task row and WorkflowTaskScheduled event are committed: a task
  // taken from the queue, or one that was pending when an activity's result
  // arrived. Done, its row is deleted; failed, the row is retried.
  kQueued,
  // Run at once where an activity's result arrived (sticky continuation),
  // for a run that had no task: its WorkflowTaskScheduled event is written in
  // the task's own batch and it has no row. Failed, a row is inserted.
  kInline,
};

struct WorkflowTask {
  TaskOrigin origin = TaskOrigin::kQueued;
  int attempt = 1;
  // Events this same transaction appends just before the task (an
  // activity's result); they are written in the task's batch, first.
  std::vector<v1::HistoryEvent> inputs;
};

class Worker::Impl {
 public:
  Impl(pg::Pool& pool, const Registry& registry, Clock& clock, WorkerOptions options);

  absl::Status Start();
  void Stop();
  void Wake();
  absl::StatusOr<bool> RunOnce();
  WorkerStats Stats() const;

 private:
  // ---- wake-up and polling (worker_loop.cpp) ----

  // What RunTaskOnce did: nothing; work from the queues that may have left
  // more there (look again at once); or work after which the queues were
  // drained, or that was leased to this worker already (an eager activity
  // and the chain it continued): further work announces itself.
  enum class Work { kNone, kMore, kDone };

  void ListenLoop();
  void WorkLoop();
  absl::StatusOr<bool> RunOnce(ThreadState& here);
  absl::StatusOr<Work> RunTaskOnce(ThreadState& here, bool reserved = false);
  absl::StatusOr<Work> ScanQueues(ThreadState& here, std::optional<ActivityLease>& activity);
  // Waits `delay`, or less if the Worker stops.
  void SleepUnlessStopping(absl::Duration delay);
  // How long a thread waits after a failed round: backing off while the
  // database is unreachable, kRetryAfterError otherwise. Logs per the
  // contract in worker_loop.cpp.
  absl::Duration DelayAfterFailure(const absl::Status& error, internal::OutageBackoff& outage, double jitter);
  // The database answered this thread: its outage, if any, is over.
  void DatabaseAnswered(internal::OutageBackoff& outage);

  // ---- workflow tasks (workflow_task.cpp) ----

  // Leases due workflow tasks (up to kMaxPollBatch; one after a failed
  // batch) and runs them in the same transaction. kMore if it took a full
  // batch (there may be more), kDone if fewer, kNone if none.
  static constexpr int kMaxPollBatch = 16;
  absl::StatusOr<Work> PollWorkflowTask(ThreadState& here);

  // Replays `run` and writes the task's events and the effects of its
  // commands on `conn` (deferred: they commit with the caller's
  // transaction). REQUIRES: the caller holds the run's row lock, and
  // `run.next_event_id` is the id the task's inputs start at.
  absl::Status RunWorkflowTask(pg::Connection& conn, const internal::RunRow& run, WorkflowTask task,
                               AfterCommit& after);
  absl::Status FailWorkflowTask(pg::Connection& conn, const internal::RunRow& run, WorkflowTask task,
                                v1::WorkflowTaskFailedCause cause, const absl::Status& error);
  absl::Status ContinueAsNew(pg::Connection& conn, const internal::RunRow& run, const v1::HistoryEvent& command,
                             absl::Time now);
  // The pieces of RunWorkflowTask.
  std::unique_ptr<Replayer> TakeReplayer(const internal::RunRow& run, const WorkflowFunction& fn);
  absl::StatusOr<std::vector<v1::HistoryEvent>> UnseenHistory(pg::Connection& conn, const internal::RunRow& run,
                                                              const Replayer& replayer);
  // Whether the commands would pass history_limit_events; if so they are
  // replaced by the run's failure (HISTORY_LIMIT_EXCEEDED).
  bool EnforceHistoryLimit(const internal::RunRow& run, int64_t next_id, std::vector<v1::HistoryEvent>& commands);
  // Writes the effects of the task's commands; returns whether the run closed.
  absl::StatusOr<bool> ApplyCommands(pg::Connection& conn, const internal::RunRow& run,
                                     const std::vector<v1::HistoryEvent>& commands, absl::Time now, AfterCommit& after);

  // ---- activity tasks (activity_task.cpp) ----

  // Inserts the activity task a command schedules, leased to this worker
  // (into `after.eager`) when it can run it, else announced to the queue.
  absl::Status ScheduleActivity(pg::Connection& conn, const internal::RunRow& run, const v1::HistoryEvent& command,
                                absl::Time now, AfterCommit& after);
  absl::StatusOr<std::optional<ActivityLease>> LeaseActivity();
  // Queues committed eager leases for idle threads; with `here`, the first
  // goes to that thread itself (it runs it next) unless it has one already.
  void DispatchEager(std::vector<ActivityLease> leases, ThreadState* here);
  // Runs a committed transaction's AfterCommit (see DispatchEager).
  void Committed(AfterCommit& after, ThreadState* here);
  // Runs an activity; its completion may run the next workflow task and
  // lease the next activity to this thread, which then runs too.
  void RunActivityChain(ThreadState& here, ActivityLease lease);
  void RunActivity(ThreadState& here, const ActivityLease& lease);
  absl::Status Heartbeat(const ActivityLease& lease);

  // ---- recording activity results: group commit (group_commit.cpp) ----

  struct Completion {
    ActivityLease lease;
    Result result;
  };
  static constexpr size_t kMaxCommitBatch = 64;

  void SubmitCompletion(ThreadState& here, Completion c);
  // Several runs' completions in one transaction; false (nothing committed)
  // if that failed.
  bool CommitBatch(ThreadState& here, std::vector<Completion>& batch);
  void CommitOne(ThreadState& here, const Completion& c);
  // Records an attempt's outcome. Success or final failure appends events
  // and (sticky continuation) runs the next workflow task right here.
  absl::Status CompleteActivity(pg::Connection& conn, const ActivityLease& lease, const Result& result,
                                AfterCommit& after);
  // Records a successful attempt, given TakeLeasedActivity's result.
  absl::Status CompleteSucceeded(pg::Connection& conn, const ActivityLease& lease, const Result& result,
                                 const pg::Result& taken, AfterCommit& after);
  // Records a failed attempt: retried later per policy, or final.
  absl::Status CompleteFailed(pg::Connection& conn, const ActivityLease& lease, const absl::Status& error,
                              AfterCommit& after);
  absl::Status LeaseLost(const ActivityLease& lease);
  // Appends the attempt's final outcome to the locked `run` and continues it.
  absl::Status RecordOutcome(pg::Connection& conn, const internal::RunRow& run, const ActivityLease& lease,
                             const Result& result, AfterCommit& after);
  // Appends input events to a locked run, then runs its workflow task here
  // (sticky continuation) or schedules one for any worker.
  absl::Status AppendInputAndContinue(pg::Connection& conn, const internal::RunRow& run,
                                      std::vector<v1::HistoryEvent> events, AfterCommit& after);

  // ---- timers and lease expiry (timers.cpp) ----

  absl::StatusOr<bool> FireTimers();
  // An attempt whose lease expired timed out (start-to-close or heartbeat):
  // retry it per policy, or record ActivityTaskTimedOut.
  absl::StatusOr<bool> ExpireLeases();

  // ---- shared ----

  void Count(int64_t WorkerStats::*field, int64_t n = 1);
  bool HandlesQueue(const std::string& queue) const;
  // Whether a result may run the run's next workflow task inline, and new
  // activities be leased to this worker (eager_activities, not stopping).
  bool Eager() const;
  static pg::TxOptions Tx() { return pg::TxOptions{}; }

  pg::Pool& pool_;
  const Registry& registry_;
  Clock& clock_;
  const WorkerOptions options_;
  internal::StickyCache cache_;
  const std::string queues_param_;  // options_.task_queues as a text[] literal

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

  internal::OutageLog outage_log_;  // what the threads said of a database outage

  mutable absl::Mutex stats_mu_;
  WorkerStats stats_ ABSL_GUARDED_BY(stats_mu_);
};

}  // namespace cantdo::workflow
