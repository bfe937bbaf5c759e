#pragma once
// OutageBackoff: how a worker thread waits out a database it cannot reach.
// Not part of the engine's API (internal/): the Worker's, and its tests'.
//
// Capped exponential backoff with jitter: the n-th consecutive failure
// waits a random time in [ceiling/2, ceiling), ceiling = min(initial *
// multiplier^(n-1), max), so the threads of many workers that lost the
// database together do not come back in step. Any answer from the database
// (Succeeded) starts the next outage over at `initial`.
//
// Logging: each failure is on a rung of the ladder: the first failure on
// rung 1, each higher ceiling one rung up, and, once the ceiling is capped,
// one rung up every `log_every_at_max` failures. A rung is worth one log
// line, never a retry. The threads of a Worker each keep an OutageBackoff
// (their own delays and jitter) and share one OutageLog, so a rung is
// logged once per Worker, by whichever thread reaches it first.
// Pure: no clock, no sleeping, the randomness passed in.

#include <atomic>

#include "absl/status/status.h"
#include "absl/time/time.h"

namespace cantdo::workflow::internal {

// Whether `status` says the database cannot be reached now (connection
// refused or lost, server shutting down or starting up): UNAVAILABLE, except
// lock_not_available (55P03), which is a busy row, not an outage.
bool IsDatabaseUnavailable(const absl::Status& status);

struct OutageBackoffOptions {
  absl::Duration initial = absl::Milliseconds(100);
  absl::Duration max = absl::Seconds(5);
  double multiplier = 2.0;   // >= 1
  int log_every_at_max = 6;  // >= 1
};

class OutageBackoff {
 public:
  struct Step {
    absl::Duration delay;  // wait this long before trying again
    int failures = 0;      // consecutive failures, this one included
    int rung = 0;          // the ladder's step this failure is on (1 = the first)
    bool log = false;      // the first failure on its rung: worth a line
  };

  explicit OutageBackoff(OutageBackoffOptions options = {});

  // Records a failure. `jitter` in [0, 1) (clamped) picks the delay within
  // [ceiling/2, ceiling).
  Step Failed(double jitter);

  // Records an answer from the database. Returns whether that ended an
  // outage (there were failures), so the caller can say it recovered.
  bool Succeeded();

  int failures() const { return failures_; }
  // The ceiling the next failure would get.
  absl::Duration next_ceiling() const;

 private:
  OutageBackoffOptions options_;
  int failures_ = 0;
  int failures_at_max_ = 0;  // failures since the ceiling reached max
};

// Which rungs of an outage a Worker has logged. Thread-safe, lock-free.
class OutageLog {
 public:
  // Whether `step` is on a rung no thread has logged yet in this outage
  // (and so claims it).
  bool ShouldLog(const OutageBackoff::Step& step);
  // The database answered: returns whether an outage had been logged (the
  // caller says it is over, once per Worker) and starts the next one over.
  bool Recovered();

 private:
  std::atomic<int> logged_rung_{0};
};

}  // namespace cantdo::workflow::internal
