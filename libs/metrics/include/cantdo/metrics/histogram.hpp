#pragma once
// A distribution of observations (request latencies) in fixed buckets, as
// Prometheus histograms expose it: per upper bound `le` the number of
// observations <= it (cumulative), plus their sum and count. Lock-free: an
// observation is a binary search over the bounds and two atomic updates.

#include <atomic>
#include <cstdint>
#include <memory>
#include <vector>

namespace cantdo::metrics {

// Upper bounds of the buckets, strictly increasing and finite; the +Inf
// bucket is implicit.
using Buckets = std::vector<double>;

// Whether `bounds` may be a histogram's buckets (see above; may be empty).
bool ValidBuckets(const Buckets& bounds);

// `count` bounds: start, start*factor, start*factor^2, ...
// REQUIRES: start > 0, factor > 1, count >= 1.
Buckets ExponentialBuckets(double start, double factor, int count);

// Latency buckets for calls that take milliseconds to seconds: 1 ms .. 10 s.
const Buckets& LatencyBuckets();

class Histogram {
 public:
  // REQUIRES: ValidBuckets(*bounds).
  explicit Histogram(std::shared_ptr<const Buckets> bounds);
  Histogram(const Histogram&) = delete;
  Histogram& operator=(const Histogram&) = delete;

  // NaN is ignored.
  void Observe(double v) noexcept;

  struct Snapshot {
    std::vector<uint64_t> cumulative;  // per bound, then +Inf (== count)
    double sum = 0;
    uint64_t count = 0;
  };
  // Buckets read one by one while others may observe: the snapshot is
  // consistent in itself (count is the +Inf bucket), the sum may include an
  // observation the buckets do not yet.
  Snapshot Read() const;

  const Buckets& bounds() const { return *bounds_; }

 private:
  std::shared_ptr<const Buckets> bounds_;
  // Non-cumulative counts per bucket; the last is (largest bound, +Inf].
  std::unique_ptr<std::atomic<uint64_t>[]> counts_;
  std::atomic<double> sum_{0};
};

}  // namespace cantdo::metrics
