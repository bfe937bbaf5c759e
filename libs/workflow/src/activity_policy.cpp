#include "activity_policy.hpp"

#include <algorithm>
#include <cmath>
#include <string>

#include "cantdo/workflow/activity_context.hpp"
#include "cantdo/workflow/failure.hpp"
#include "time_util.hpp"

namespace cantdo::workflow::internal {

namespace {

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

}  // namespace

absl::Duration AttemptLease(const v1::ActivityTaskScheduledEventAttributes& a) {
  absl::Duration d = FromProto(a.start_to_close_timeout());
  if (d <= absl::ZeroDuration()) d = absl::Seconds(30);
  absl::Duration hb = FromProto(a.heartbeat_timeout());
  if (hb > absl::ZeroDuration()) d = std::min(d, hb);
  return d;
}

std::optional<absl::Duration> RetryAfter(const v1::ActivityTaskScheduledEventAttributes& a, int attempt,
                                         const absl::Status& error, absl::Time scheduled_at, absl::Time now) {
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

}  // namespace cantdo::workflow::internal
