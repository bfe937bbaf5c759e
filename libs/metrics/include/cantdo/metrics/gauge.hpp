#pragma once
// A value that goes up and down (connections in use, requests pending).
// Lock-free, safe from any thread. For a value known only when asked (a
// count in the database), use a Registry collector instead.

#include <atomic>

namespace cantdo::metrics {

class Gauge {
 public:
  Gauge() = default;
  Gauge(const Gauge&) = delete;
  Gauge& operator=(const Gauge&) = delete;

  void Set(double v) noexcept { value_.store(v, std::memory_order_relaxed); }
  void Add(double v) noexcept { value_.fetch_add(v, std::memory_order_relaxed); }
  void Inc() noexcept { Add(1); }
  void Dec() noexcept { Add(-1); }
  double Value() const noexcept { return value_.load(std::memory_order_relaxed); }

 private:
  static_assert(std::atomic<double>::is_always_lock_free);
  std::atomic<double> value_{0};
};

}  // namespace cantdo::metrics
