#pragma once
// The timing rules of activity attempts, from the ActivityTaskScheduled
// event's options: how long an attempt's lease runs, and whether and when a
// failed attempt is tried again. Pure functions.

#include <optional>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "cantdo/workflow/v1/history.pb.h"

namespace cantdo::workflow::internal {

// The lease of one attempt: start_to_close (30 s if unset), or the heartbeat
// timeout if shorter; a heartbeat extends it.
absl::Duration AttemptLease(const v1::ActivityTaskScheduledEventAttributes& a);

// Whether `error` on attempt `attempt` gets another attempt, and after
// which delay: not if it is non-retryable (by its status or by the policy's
// non_retryable_error_types), past maximum_attempts, or if the retry would
// start past schedule_to_close.
std::optional<absl::Duration> RetryAfter(const v1::ActivityTaskScheduledEventAttributes& a, int attempt,
                                         const absl::Status& error, absl::Time scheduled_at, absl::Time now);

}  // namespace cantdo::workflow::internal
