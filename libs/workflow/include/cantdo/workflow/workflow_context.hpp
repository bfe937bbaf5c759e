#pragma once
// WorkflowContext: everything workflow code may do.
//
// Workflow code is a coroutine `Task<Result>(WorkflowContext&, const Payload&
// input)`. It is re-executed from the start on every replay, so it must be
// deterministic: given the same history it must issue the same commands in
// the same order. Therefore workflow code
//   - never reads the wall clock (use Now()), never creates threads, never
//     does I/O or touches the database (use activities), never uses
//     unseeded randomness (use NewUuid()/Random());
//   - changes behaviour of already-running code only behind GetVersion().
// See docs/workflow-engine.md, "Determinism rules".
//
// A WorkflowContext lives as long as the run's Replayer; workflow code gets
// it by reference and must not keep it beyond the coroutine.

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "cantdo/workflow/coroutine.hpp"
#include "cantdo/workflow/v1/history.pb.h"

namespace cantdo::workflow {

namespace internal {
class RunState;
}

// How an activity is run and retried. Mirrors RetryPolicy and the timeouts of
// ActivityTaskScheduledEventAttributes.
struct ActivityOptions {
  // Empty: the workflow's own task queue.
  std::string task_queue;
  // Limit on one attempt. Required (> 0).
  absl::Duration start_to_close_timeout = absl::Seconds(30);
  // Max gap between heartbeats; zero: no heartbeat check.
  absl::Duration heartbeat_timeout = absl::ZeroDuration();
  // Limit on all attempts together; zero: none.
  absl::Duration schedule_to_close_timeout = absl::ZeroDuration();
  // Retry policy: delay before attempt n+1 is
  // min(initial_interval * backoff_coefficient^(n-1), maximum_interval).
  absl::Duration initial_interval = absl::Seconds(1);
  double backoff_coefficient = 2.0;
  // Zero: 100 x initial_interval.
  absl::Duration maximum_interval = absl::ZeroDuration();
  // Attempts in total including the first; 0 = unlimited.
  int maximum_attempts = 0;
  // Failure types (the reason attached to the activity's error status, or
  // the status code name) that are never retried.
  std::vector<std::string> non_retryable_error_types;
};

// The version GetVersion returns for a run that reached the change point
// before the change existed (it has no marker for it).
inline constexpr int kDefaultVersion = -1;

class WorkflowContext {
 public:
  explicit WorkflowContext(internal::RunState* state) : state_(state) {}

  const std::string& workflow_id() const;
  const std::string& run_id() const;
  const std::string& workflow_type() const;
  const std::string& task_queue() const;
  // Who started the run (WorkflowExecutionStarted.requester, e.g. the
  // operator the gateway authenticated); "" if the starter named nobody.
  // Valid once the workflow function runs.
  const std::string& requester() const;
  // What the run was admitted for: its WorkflowExecutionAdmitted record,
  // written by cantdo.workflow_admit from the authority's records of the
  // consumed grant and its approval (for a run created by continue-as-new,
  // the one its chain was admitted with). nullptr for a run that has none
  // (started directly by the owner of the engine's tables, e.g. in tests).
  // Workflow code acts on these approved values (cantdo/workflow/admission.hpp,
  // ApprovedParameters), never on what its input merely claims. Valid once
  // the workflow function runs.
  const v1::WorkflowExecutionAdmittedEventAttributes* admission() const;

  // Schedules an activity; the future resolves with its result, or with its
  // final failure (retries exhausted, non-retryable, timed out: code
  // DEADLINE_EXCEEDED) or CANCELLED after the run was asked to cancel.
  Future ExecuteActivity(absl::string_view activity_type, const Payload& input, const ActivityOptions& options);
  // With default ActivityOptions. (An overload, not a default argument:
  // GCC 12 mis-destroys temporaries bound to default arguments inside
  // co_await expressions.)
  Future ExecuteActivity(absl::string_view activity_type, const Payload& input);

  // A durable timer. Resolves OK after `d`, or CANCELLED when the run is
  // asked to cancel first.
  Future Sleep(absl::Duration d);

  // The next signal named `name` not yet consumed by an earlier WaitSignal
  // (signals received before the wait are buffered). With a timeout, the
  // future resolves DEADLINE_EXCEEDED when the timer wins.
  Future WaitSignal(absl::string_view name, std::optional<absl::Duration> timeout);
  Future WaitSignal(absl::string_view name);
  // The same, resolving with the whole received signal instead of its
  // payload: a packed v1::SignalReceivedEventAttributes, which names its
  // sender (identity: the principal the sending service acted for;
  // delivered_by: the service's database role, as PostgreSQL
  // authenticated it). WaitSignal and ReceiveSignal of one name consume
  // the same signals, in order.
  Future ReceiveSignal(absl::string_view name, std::optional<absl::Duration> timeout);

  // Deterministic time: when the current workflow task started, as recorded
  // in history.
  absl::Time Now() const;

  // A UUID / 64 random bits generated once and recorded in history, so replay
  // sees the same value.
  std::string NewUuid();
  uint64_t Random();

  // Version marker. A run that reaches this point for the first time records
  // max_supported and gets it; replays get the recorded value; a run that
  // passed this point before the change was deployed (no marker in its
  // history) gets kDefaultVersion. A recorded value outside
  // [min_supported, max_supported] fails the workflow task as
  // non-deterministic (code that no longer supports old runs).
  int GetVersion(absl::string_view change_id, int min_supported, int max_supported);

  // Has cancellation been requested for this run?
  bool IsCancelRequested() const;

  // Ends this run and starts a new one with the same workflow id and `input`.
  // Return the status it gives from the workflow function:
  //   co_return ctx.ContinueAsNew(next_input);
  absl::Status ContinueAsNew(const Payload& input);

  // Events in the history so far, and whether it passed the configured
  // warning size (the workflow should continue-as-new soon).
  int64_t HistoryLength() const;
  bool IsContinueAsNewSuggested() const;

 private:
  internal::RunState* state_;
};

using WorkflowFunction = std::function<Task<Result>(WorkflowContext&, const Payload&)>;

}  // namespace cantdo::workflow
