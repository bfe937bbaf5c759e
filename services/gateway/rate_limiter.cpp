#include "gateway/rate_limiter.hpp"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "cantdo/base/status.hpp"

namespace cantdo::gateway {

RateLimiter::RateLimiter(Clock& clock, double rate, double burst, std::size_t max_callers)
    : clock_(clock), rate_(rate), burst_(std::max(burst, 1.0)), max_callers_(std::max<std::size_t>(max_callers, 1)) {}

absl::Status RateLimiter::Admit(const std::string& caller) {
  if (rate_ <= 0) return absl::OkStatus();
  const absl::Time now = clock_.Now();
  absl::MutexLock lock(&mu_);
  auto it = buckets_.find(caller);
  if (it == buckets_.end()) {
    if (buckets_.size() >= max_callers_) EvictIdle(now);
    it = buckets_.emplace(caller, Bucket{burst_, now}).first;
  }
  Bucket& b = it->second;
  const double elapsed = std::max(0.0, absl::ToDoubleSeconds(now - b.updated));
  b.tokens = std::min(burst_, b.tokens + elapsed * rate_);
  b.updated = now;
  if (b.tokens >= 1.0) {
    b.tokens -= 1.0;
    return absl::OkStatus();
  }
  absl::Status s =
      WithReason(absl::ResourceExhaustedError(absl::StrCat("rate limit of ", rate_, " calls per second exceeded")),
                 "RATE_LIMITED");
  s = WithMetadata(std::move(s), "limit", absl::StrCat(rate_));
  return WithMetadata(std::move(s), "caller", caller);
}

std::size_t RateLimiter::callers() const {
  absl::MutexLock lock(&mu_);
  return buckets_.size();
}

void RateLimiter::EvictIdle(absl::Time now) {
  for (auto it = buckets_.begin(); it != buckets_.end();) {
    const double refilled = it->second.tokens + absl::ToDoubleSeconds(now - it->second.updated) * rate_;
    it = refilled >= burst_ ? buckets_.erase(it) : std::next(it);
  }
  // Still full of active callers: forget the table rather than grow it
  // without bound (each caller then starts with a full bucket once).
  if (buckets_.size() >= max_callers_) buckets_.clear();
}

}  // namespace cantdo::gateway
