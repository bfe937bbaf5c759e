#pragma once
// ActivityContext: what an activity attempt knows about itself.
//
// Activities do the real work (I/O, RPCs, database writes). They may run
// more than once (retries, a worker crash after the side effect but before
// the result was recorded), so anything with an external effect must be
// idempotent under idempotency_key(), which is the same for every attempt of
// the same scheduled activity, across crashes and workers.

#include <atomic>
#include <cstdint>
#include <functional>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "cantdo/workflow/coroutine.hpp"

namespace cantdo::workflow {

struct ActivityInfo {
  std::string workflow_id;
  std::string run_id;
  std::string workflow_type;
  std::string activity_id;
  std::string activity_type;
  std::string task_queue;
  // The ActivityTaskScheduled event's id.
  int64_t scheduled_event_id = 0;
  // 1-based.
  int attempt = 1;
  // "<workflow_id>/<run_id>/<activity_id>"; stable across retries and crashes.
  std::string idempotency_key;
  // When this attempt must finish (start-to-close), by the worker's clock.
  absl::Time deadline = absl::InfiniteFuture();
};

class ActivityContext {
 public:
  // `heartbeat` records progress and extends the lease; it returns CANCELLED
  // when the run was asked to cancel or closed, NOT_FOUND/ABORTED when this
  // attempt lost its lease (the activity should stop).
  ActivityContext(ActivityInfo info, std::function<absl::Status(const Payload*)> heartbeat,
                  const std::atomic<bool>* worker_stopping)
      : info_(std::move(info)), heartbeat_(std::move(heartbeat)), stopping_(worker_stopping) {}

  const ActivityInfo& info() const { return info_; }
  const std::string& idempotency_key() const { return info_.idempotency_key; }
  int attempt() const { return info_.attempt; }

  // Records a heartbeat (optionally with progress details). Call at least
  // every heartbeat_timeout in long activities.
  absl::Status Heartbeat(const Payload* details = nullptr) {
    absl::Status s = heartbeat_(details);
    if (absl::IsCancelled(s)) cancelled_ = true;
    return s;
  }

  // True once a heartbeat learned that the run was cancelled, or the worker
  // is shutting down (the activity should return quickly; its lease is
  // released and the attempt retried elsewhere).
  bool IsCancelled() const { return cancelled_ || (stopping_ != nullptr && stopping_->load()); }

 private:
  ActivityInfo info_;
  std::function<absl::Status(const Payload*)> heartbeat_;
  const std::atomic<bool>* stopping_;
  bool cancelled_ = false;
};

// An activity: returns its result, or an error. The error's reason
// (cantdo::WithReason) or, without one, its code name is the failure type
// matched against ActivityOptions::non_retryable_error_types. Use
// NonRetryable() to mark an error that retrying cannot fix.
using ActivityFunction = std::function<Result(ActivityContext&, const Payload&)>;

// Marks `status` as not worth retrying.
absl::Status NonRetryable(absl::Status status);
bool IsNonRetryable(const absl::Status& status);

}  // namespace cantdo::workflow
