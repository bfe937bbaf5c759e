#pragma once
// A monotonically increasing value (requests served, errors seen). Lock-free:
// an increment is one atomic read-modify-write, safe from any thread.

#include <atomic>

namespace cantdo::metrics {

class Counter {
 public:
  Counter() = default;
  Counter(const Counter&) = delete;
  Counter& operator=(const Counter&) = delete;

  // A counter never goes down: a negative or NaN `v` is ignored.
  void Inc(double v = 1) noexcept {
    if (v > 0) value_.fetch_add(v, std::memory_order_relaxed);
  }
  double Value() const noexcept { return value_.load(std::memory_order_relaxed); }

 private:
  static_assert(std::atomic<double>::is_always_lock_free);
  std::atomic<double> value_{0};
};

}  // namespace cantdo::metrics
