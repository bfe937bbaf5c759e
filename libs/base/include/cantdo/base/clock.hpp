#pragma once
// Time as a dependency. Production code takes a `Clock&` instead of reading
// the wall clock, so tests can move time by days without sleeping.

#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace cantdo {

class Clock {
 public:
  virtual ~Clock() = default;
  virtual absl::Time Now() const = 0;
};

// The real clock. Thread-safe; the returned reference lives forever.
Clock& SystemClock();

// A clock that only moves when told. Thread-safe.
class FakeClock final : public Clock {
 public:
  explicit FakeClock(absl::Time start = absl::FromUnixSeconds(1'700'000'000)) : now_(start) {}
  absl::Time Now() const override;
  void Advance(absl::Duration d);
  void Set(absl::Time t);

 private:
  mutable absl::Mutex mu_;
  absl::Time now_ ABSL_GUARDED_BY(mu_);
};

}  // namespace cantdo
