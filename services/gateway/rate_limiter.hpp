#pragma once
// Per-caller token buckets: each principal may make `rate` calls per second
// on average and up to `burst` at once. Over the limit a call is refused
// RESOURCE_EXHAUSTED (RATE_LIMITED) with metadata `limit` and `caller`;
// nothing queues. Buckets of callers idle long enough to be full again are
// dropped when the table grows, so memory is bounded by recent callers.
//
// Thread-safe.

#include <string>
#include <unordered_map>

#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "cantdo/base/clock.hpp"

namespace cantdo::gateway {

class RateLimiter {
 public:
  // rate <= 0 disables limiting. REQUIRES: `clock` outlives the limiter.
  RateLimiter(Clock& clock, double rate, double burst, std::size_t max_callers = 100000);

  absl::Status Admit(const std::string& caller);

  // Callers whose buckets are kept: at most `max_callers`.
  std::size_t callers() const;

 private:
  struct Bucket {
    double tokens;
    absl::Time updated;
  };
  void EvictIdle(absl::Time now) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  Clock& clock_;
  const double rate_;
  const double burst_;
  const std::size_t max_callers_;
  mutable absl::Mutex mu_;
  std::unordered_map<std::string, Bucket> buckets_ ABSL_GUARDED_BY(mu_);
};

}  // namespace cantdo::gateway
