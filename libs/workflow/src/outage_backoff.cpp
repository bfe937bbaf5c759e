#include "cantdo/workflow/internal/outage_backoff.hpp"

#include <algorithm>
#include <cmath>

#include "cantdo/pg/sql_state.hpp"

namespace cantdo::workflow::internal {

namespace {
constexpr absl::string_view kLockNotAvailable = "55P03";
}  // namespace

bool IsDatabaseUnavailable(const absl::Status& status) {
  return status.code() == absl::StatusCode::kUnavailable && pg::SqlStateOf(status) != kLockNotAvailable;
}

OutageBackoff::OutageBackoff(OutageBackoffOptions options) : options_(options) {
  options_.initial = std::max(options_.initial, absl::Milliseconds(1));
  options_.max = std::max(options_.max, options_.initial);
  options_.multiplier = std::max(options_.multiplier, 1.0);
  options_.log_every_at_max = std::max(options_.log_every_at_max, 1);
}

absl::Duration OutageBackoff::next_ceiling() const {
  // Past ~60 doublings any sane cap is reached; keep pow() finite.
  const double factor = std::pow(options_.multiplier, std::min(failures_, 60));
  const double max_factor = absl::FDivDuration(options_.max, options_.initial);
  return factor >= max_factor ? options_.max : options_.initial * factor;
}

OutageBackoff::Step OutageBackoff::Failed(double jitter) {
  const absl::Duration ceiling = next_ceiling();
  const bool capped = ceiling >= options_.max;
  Step step;
  step.failures = ++failures_;
  if (!capped) {
    step.rung = failures_;  // each failure below the cap has a higher ceiling
    step.log = true;
  } else {
    // The rungs below the cap, then one every log_every_at_max failures.
    const int below_cap = failures_ - failures_at_max_ - 1;
    step.rung = below_cap + 1 + failures_at_max_ / options_.log_every_at_max;
    step.log = failures_at_max_ % options_.log_every_at_max == 0;
    ++failures_at_max_;
  }
  jitter = std::clamp(jitter, 0.0, 1.0);
  step.delay = ceiling / 2 + (ceiling / 2) * jitter;
  if (step.delay >= ceiling && ceiling > absl::ZeroDuration()) step.delay = ceiling - absl::Nanoseconds(1);
  return step;
}

bool OutageBackoff::Succeeded() {
  const bool was_out = failures_ > 0;
  failures_ = 0;
  failures_at_max_ = 0;
  return was_out;
}

bool OutageLog::ShouldLog(const OutageBackoff::Step& step) {
  if (!step.log) return false;
  int logged = logged_rung_.load();
  while (step.rung > logged) {
    if (logged_rung_.compare_exchange_weak(logged, step.rung)) return true;
  }
  return false;
}

bool OutageLog::Recovered() { return logged_rung_.exchange(0) != 0; }

}  // namespace cantdo::workflow::internal
