#include "cantdo/metrics/registry.hpp"

#include <cstdio>
#include <cstdlib>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "cantdo/base/log.hpp"

namespace cantdo::metrics {
namespace {

[[noreturn]] void Die(const std::string& message) {
  std::fprintf(stderr, "cantdo::metrics: %s\n", message.c_str());
  std::abort();
}

std::vector<std::string> SampleNames(const std::string& name, MetricType type) {
  if (type == MetricType::kHistogram) {
    return {name, name + "_bucket", name + "_sum", name + "_count"};
  }
  return {name};
}

// Why a collected family cannot be rendered, or "".
std::string Problem(const CollectedFamily& f) {
  if (!IsValidMetricName(f.name)) return "invalid metric name";
  if (f.type == MetricType::kHistogram) return "collectors report counters and gauges only";
  std::set<std::string_view> seen_labels;
  for (const auto& l : f.label_names) {
    if (!IsValidLabelName(l)) return absl::StrCat("invalid label name '", l, "'");
    if (!seen_labels.insert(l).second) return absl::StrCat("label '", l, "' twice");
  }
  std::set<std::vector<std::string>> seen_values;
  for (const auto& s : f.samples) {
    if (s.label_values.size() != f.label_names.size()) {
      return absl::StrCat("a sample has ", s.label_values.size(), " label values for ", f.label_names.size(),
                          " label names");
    }
    if (!seen_values.insert(s.label_values).second) {
      return absl::StrCat("two samples with labels {", absl::StrJoin(s.label_values, ","), "}");
    }
  }
  return "";
}

}  // namespace

void Registry::CheckNew(const std::string& name, const std::vector<std::string>& label_names) const {
  if (!IsValidMetricName(name)) Die(absl::StrCat("invalid metric name '", name, "'"));
  if (taken_.count(name) != 0) Die(absl::StrCat("metric '", name, "' registered twice"));
  std::set<std::string_view> seen;
  for (const auto& l : label_names) {
    if (!IsValidLabelName(l)) Die(absl::StrCat("metric '", name, "': invalid label name '", l, "'"));
    if (!seen.insert(l).second) Die(absl::StrCat("metric '", name, "': label '", l, "' twice"));
  }
}

template <typename M>
Family<M>& Registry::Add(std::string name, std::string help, std::vector<std::string> label_names,
                         FamilyOptions options, typename Family<M>::Factory make) {
  absl::MutexLock lock(&mu_);
  CheckNew(name, label_names);
  const MetricType type = internal::MetricTraits<M>::kType;
  for (auto& n : SampleNames(name, type)) {
    if (!taken_.insert(n).second) Die(absl::StrCat("metric '", name, "' would write '", n, "', already taken"));
  }
  if (type == MetricType::kHistogram) {
    for (const auto& l : label_names) {
      if (l == "le") Die(absl::StrCat("histogram '", name, "' may not have a label 'le'"));
    }
  }
  auto family =
      std::make_unique<Family<M>>(std::move(name), std::move(help), std::move(label_names), options, std::move(make));
  Family<M>& ref = *family;
  families_.push_back(std::move(family));
  return ref;
}

Family<Counter>& Registry::AddCounterFamily(std::string name, std::string help, std::vector<std::string> label_names,
                                            FamilyOptions options) {
  return Add<Counter>(std::move(name), std::move(help), std::move(label_names), options,
                      [] { return std::make_unique<Counter>(); });
}

Family<Gauge>& Registry::AddGaugeFamily(std::string name, std::string help, std::vector<std::string> label_names,
                                        FamilyOptions options) {
  return Add<Gauge>(std::move(name), std::move(help), std::move(label_names), options,
                    [] { return std::make_unique<Gauge>(); });
}

Family<Histogram>& Registry::AddHistogramFamily(std::string name, std::string help,
                                                std::vector<std::string> label_names, Buckets bounds,
                                                FamilyOptions options) {
  if (!ValidBuckets(bounds)) Die(absl::StrCat("histogram '", name, "': buckets must be finite and increasing"));
  auto shared = std::make_shared<const Buckets>(std::move(bounds));
  return Add<Histogram>(std::move(name), std::move(help), std::move(label_names), options,
                        [shared] { return std::make_unique<Histogram>(shared); });
}

Counter& Registry::AddCounter(std::string name, std::string help) {
  return AddCounterFamily(std::move(name), std::move(help), {}).Labels({});
}

Gauge& Registry::AddGauge(std::string name, std::string help) {
  return AddGaugeFamily(std::move(name), std::move(help), {}).Labels({});
}

Histogram& Registry::AddHistogram(std::string name, std::string help, Buckets bounds) {
  return AddHistogramFamily(std::move(name), std::move(help), {}, std::move(bounds)).Labels({});
}

void Registry::AddCollector(Collector collector) {
  absl::MutexLock lock(&mu_);
  collectors_.push_back(std::move(collector));
}

std::string Registry::Render() const {
  std::string out;
  std::vector<const FamilyBase*> families;
  std::vector<const Collector*> collectors;
  std::set<std::string, std::less<>> taken;
  {
    absl::MutexLock lock(&mu_);
    for (const auto& f : families_) families.push_back(f.get());
    for (const auto& c : collectors_) collectors.push_back(&c);
    taken = taken_;
  }
  for (const FamilyBase* f : families) f->Render(out);

  std::vector<CollectedFamily> collected;
  for (const Collector* c : collectors) (*c)(collected);
  for (const CollectedFamily& f : collected) {
    std::string problem = Problem(f);
    if (problem.empty() && !taken.insert(f.name).second) problem = "name already taken";
    if (!problem.empty()) {
      log::Error("metrics collector reported a bad family; left out of the scrape",
                 {{"metric", f.name}, {"problem", problem}});
      continue;
    }
    AppendHeader(out, f.name, f.help, f.type);
    for (const auto& s : f.samples) AppendSample(out, f.name, f.label_names, s.label_values, s.value);
  }
  return out;
}

namespace internal {

size_t HashLabelValues(std::span<const std::string_view> values) {
  size_t h = 0x9e3779b97f4a7c15ull;
  for (std::string_view v : values) {
    h ^= std::hash<std::string_view>()(v) + 0x9e3779b97f4a7c15ull + (h << 6) + (h >> 2);
  }
  return h;
}

void WarnOverflow(const std::string& family, size_t max_children) {
  log::Warn("metric family reached its bound of label combinations; new ones are counted under \"other\"",
            {{"metric", family}, {"max_children", max_children}});
}

void DieLabelCount(const std::string& family, size_t expected, size_t got) {
  Die(absl::StrCat("metric '", family, "' has ", expected, " labels, ", got, " values given"));
}

void RenderChild(std::string& out, const std::string& name, const std::vector<std::string>& label_names,
                 const std::vector<std::string>& values, const Counter& m) {
  AppendSample(out, name, label_names, values, m.Value());
}

void RenderChild(std::string& out, const std::string& name, const std::vector<std::string>& label_names,
                 const std::vector<std::string>& values, const Gauge& m) {
  AppendSample(out, name, label_names, values, m.Value());
}

void RenderChild(std::string& out, const std::string& name, const std::vector<std::string>& label_names,
                 const std::vector<std::string>& values, const Histogram& m) {
  const Histogram::Snapshot s = m.Read();
  const std::string bucket = name + "_bucket";
  for (size_t i = 0; i < m.bounds().size(); ++i) {
    AppendSample(out, bucket, label_names, values, static_cast<double>(s.cumulative[i]), "le",
                 FormatValue(m.bounds()[i]));
  }
  AppendSample(out, bucket, label_names, values, static_cast<double>(s.count), "le", "+Inf");
  AppendSample(out, name + "_sum", label_names, values, s.sum);
  AppendSample(out, name + "_count", label_names, values, static_cast<double>(s.count));
}

}  // namespace internal
}  // namespace cantdo::metrics
