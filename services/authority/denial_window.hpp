#pragma once
// DenialWindow: how often each principal was refused a grant recently, so
// that an alert can tell "one principal is refused again and again" (an
// agent probing grants it does not hold) from "many principals are refused
// once each", without the principal as a metric label (unbounded).
//
// Per replica and in memory: a principal probing through several replicas
// shows on each with its share (the alert's threshold is per replica,
// docs/operations.md). Bounded: at most `max_principals` principals are
// tracked (when full, the one refused least recently is forgotten), each
// with at most `max_per_principal` denials (the count saturates there).
//
// Thread-safe. Only refusals record here, never a successful claim or
// consume, so the lock is off the grant hot path.

#include <cstdint>
#include <deque>
#include <string>
#include <unordered_map>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "cantdo/base/clock.hpp"

namespace cantdo::authority {

class DenialWindow {
 public:
  explicit DenialWindow(Clock& clock, absl::Duration window = absl::Minutes(5), size_t max_principals = 4096,
                        size_t max_per_principal = 100000);

  void Record(const std::string& principal);

  // The most denials one principal had within the window ending now (0 if
  // none), and how many principals had any.
  struct Peak {
    int64_t max_per_principal = 0;
    int64_t principals = 0;
  };
  Peak Read();

  absl::Duration window() const { return window_; }

 private:
  // Drops the times of `times` older than the window. REQUIRES: mu_ held.
  void Prune(std::deque<absl::Time>& times, absl::Time now) const;

  Clock& clock_;
  const absl::Duration window_;
  const size_t max_principals_;
  const size_t max_per_principal_;
  absl::Mutex mu_;
  std::unordered_map<std::string, std::deque<absl::Time>> denials_ ABSL_GUARDED_BY(mu_);
};

}  // namespace cantdo::authority
