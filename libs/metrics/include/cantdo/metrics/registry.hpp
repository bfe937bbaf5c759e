#pragma once
// Registry: the metrics one process (or one in-process service, in tests)
// exposes, rendered in the Prometheus text format on every scrape.
//
// Two kinds of source:
//   - families (counters, gauges, histograms) that code updates as things
//     happen; registered once at start, updated lock-free (family.hpp);
//   - collectors, called on every Render, for values that are read when
//     asked: a pool's connections, rows waiting in a table, /proc.
//
// Names follow Prometheus conventions: a `cantdo_` prefix for ours, base
// units (`_seconds`, `_bytes`), counters ending in `_total`. A bad name, a
// bad label name, bad buckets or a name registered twice is a programming
// error and aborts at registration. A collector's output is checked on each
// Render instead; a family it gets wrong (bad name, a name already taken,
// label values that do not match its label names) is left out of the scrape
// and logged.
//
// Thread-safe. Families and collectors live as long as the Registry.

#include <functional>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "cantdo/metrics/family.hpp"

namespace cantdo::metrics {

// What a collector reports: a counter or gauge family and its samples.
struct CollectedFamily {
  struct Sample {
    std::vector<std::string> label_values;  // one per label name
    double value = 0;
  };
  std::string name;
  std::string help;
  MetricType type = MetricType::kGauge;  // kCounter or kGauge
  std::vector<std::string> label_names;
  std::vector<Sample> samples;

  // Appends a sample; returns *this.
  CollectedFamily& Add(std::vector<std::string> label_values, double value) {
    samples.push_back({std::move(label_values), value});
    return *this;
  }
};

// Called on every Render, on the scraping thread; appends families to `out`.
// It may block briefly (a database query); it must not call Render.
using Collector = std::function<void(std::vector<CollectedFamily>& out)>;

class Registry {
 public:
  Registry() = default;
  Registry(const Registry&) = delete;
  Registry& operator=(const Registry&) = delete;

  Family<Counter>& AddCounterFamily(std::string name, std::string help, std::vector<std::string> label_names,
                                    FamilyOptions options = {});
  Family<Gauge>& AddGaugeFamily(std::string name, std::string help, std::vector<std::string> label_names,
                                FamilyOptions options = {});
  Family<Histogram>& AddHistogramFamily(std::string name, std::string help, std::vector<std::string> label_names,
                                        Buckets bounds, FamilyOptions options = {});

  // Families without labels, returning their one metric.
  Counter& AddCounter(std::string name, std::string help);
  Gauge& AddGauge(std::string name, std::string help);
  Histogram& AddHistogram(std::string name, std::string help, Buckets bounds);

  void AddCollector(Collector collector);

  // The whole exposition: the families in the order they were registered,
  // then what the collectors report, in theirs. Collectors run without the
  // registry's lock held.
  std::string Render() const;

 private:
  // Aborts on a bad or duplicate name. REQUIRES: mu_ held.
  void CheckNew(const std::string& name, const std::vector<std::string>& label_names) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  template <typename M>
  Family<M>& Add(std::string name, std::string help, std::vector<std::string> label_names, FamilyOptions options,
                 typename Family<M>::Factory make);

  mutable absl::Mutex mu_;
  std::vector<std::unique_ptr<FamilyBase>> families_ ABSL_GUARDED_BY(mu_);
  std::vector<Collector> collectors_ ABSL_GUARDED_BY(mu_);
  // Every sample name the families write (a histogram's _bucket, _sum and
  // _count too), so that no two families can write the same one.
  std::set<std::string, std::less<>> taken_ ABSL_GUARDED_BY(mu_);
};

}  // namespace cantdo::metrics
