#pragma once
// Replayer: runs one workflow run's coroutine against its history.
//
// The same procedure serves replay and live execution, which is what makes
// them agree:
//   - "input" events (started, activity results, timers fired, signals,
//     cancel requests) are buffered until the workflow task that first saw
//     them, i.e. the next WorkflowTaskStarted event (replay) or RunLive()
//     (live); then they are applied one by one in event order, running the
//     coroutine until it blocks after each;
//   - the commands the code issues are queued, and during replay each
//     recorded command event (activity scheduled, timer started, marker,
//     completion) must match the next queued command. A difference, a
//     recorded command the code no longer issues, or a command the code
//     issues that history does not have, is a non-determinism error
//     (FAILED_PRECONDITION, reason NON_DETERMINISM, metadata event_id,
//     expected, produced); see docs/workflow-engine.md.
//
// Not thread-safe. One Replayer per run; it may be kept between workflow
// tasks (sticky cache) as long as every committed event is fed to it.

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "cantdo/base/ids.hpp"
#include "cantdo/workflow/workflow_context.hpp"
#include "cantdo/workflow/v1/history.pb.h"

namespace cantdo::workflow {

struct RunInfo {
  std::string workflow_id;
  std::string run_id;
  std::string workflow_type;
  std::string task_queue;
};

class Replayer {
 public:
  // REQUIRES: `fn` and `random` outlive the Replayer. `warn_events`: history
  // length from which IsContinueAsNewSuggested() is true.
  Replayer(RunInfo info, const WorkflowFunction& fn, RandomSource& random, int64_t warn_events = 10'000);
  ~Replayer();
  Replayer(const Replayer&) = delete;
  Replayer& operator=(const Replayer&) = delete;

  // Feeds committed events. REQUIRES: they continue the history fed so far
  // (the first call starts at event 1) and end at a workflow task boundary
  // (never between a WorkflowTaskStarted and that task's commands).
  // Errors: NON_DETERMINISM (see above); INVALID_ARGUMENT for a gap.
  absl::Status Apply(const std::vector<v1::HistoryEvent>& events);

  // Runs a new workflow task at `now` whose WorkflowTaskStarted event will
  // get `started_event_id`, over the inputs not yet seen by the code.
  // Returns the new commands (attributes and event_type set; ids, times and
  // workflow_task_completed_event_id are the caller's). Errors:
  // NON_DETERMINISM, or INTERNAL (reason WORKFLOW_PANIC) when workflow code
  // threw. After an error the Replayer must be discarded.
  absl::StatusOr<std::vector<v1::HistoryEvent>> RunLive(absl::Time now, int64_t started_event_id);

  // Tells the Replayer that the batch holding the commands of the last
  // RunLive was committed (the batch's events, in order, with their ids),
  // so it can bind results to commands. REQUIRES: called once after each
  // successful RunLive, before Apply.
  absl::Status Accept(const std::vector<v1::HistoryEvent>& batch);

  // The last event id fed (Apply or Accept).
  int64_t last_event_id() const;
  // The code has finished (a close command was issued or recorded) or the
  // run was closed from outside (terminated, rejected).
  bool closed() const;
  // Events not yet seen by the code are waiting (RunLive would do work).
  bool has_pending_inputs() const;

 private:
  std::unique_ptr<internal::RunState> state_;
};

// A one-line description of an event or command, as used in
// non-determinism messages, e.g. "ActivityTaskScheduled(type=charge, id=2)".
std::string DescribeEvent(const v1::HistoryEvent& event);

}  // namespace cantdo::workflow
