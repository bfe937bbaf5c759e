#pragma once
// Polling for tests that wait on something another thread or process does.

#include <chrono>
#include <thread>

#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace cantdo::testing {

// Calls `pred` every `interval` until it returns true or `timeout` has
// passed; returns its last answer (it is always asked once after the
// deadline).
template <typename Pred>
bool WaitUntil(Pred pred, absl::Duration timeout, absl::Duration interval = absl::Milliseconds(100)) {
  const absl::Time end = absl::Now() + timeout;
  while (absl::Now() < end) {
    if (pred()) return true;
    std::this_thread::sleep_for(absl::ToChronoNanoseconds(interval));
  }
  return pred();
}

}  // namespace cantdo::testing
