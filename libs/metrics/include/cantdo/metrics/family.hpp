#pragma once
// A metric family: one name, one help text, one type, fixed label names,
// and a child metric per combination of label values.
//
// Label sets are bounded: a family holds at most `max_children`
// combinations. Past that, every new combination is counted in one child
// whose label values are all "other" (and a warning is logged once), so a
// caller that labels by something unbounded cannot make a scrape grow
// without end. Choose labels whose values come from a closed set (a method
// of our API, a reason code, a role in the policy), never from a request.
//
// Concurrency: Labels() finds an existing child without a lock and without
// allocating (an open-addressing table of atomic pointers, children never
// removed); only the first use of a combination takes the family's mutex.
// A child, once returned, lives as long as the family: hot paths look it up
// once and keep the reference.

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <functional>
#include <initializer_list>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "cantdo/metrics/counter.hpp"
#include "cantdo/metrics/exposition.hpp"
#include "cantdo/metrics/gauge.hpp"
#include "cantdo/metrics/histogram.hpp"

namespace cantdo::metrics {

struct FamilyOptions {
  size_t max_children = 256;
};

// The label value of the child that takes combinations beyond the bound.
inline constexpr std::string_view kOverflowLabelValue = "other";

class FamilyBase {
 public:
  FamilyBase(std::string name, std::string help, MetricType type, std::vector<std::string> label_names)
      : name_(std::move(name)), help_(std::move(help)), type_(type), label_names_(std::move(label_names)) {}
  virtual ~FamilyBase() = default;
  FamilyBase(const FamilyBase&) = delete;
  FamilyBase& operator=(const FamilyBase&) = delete;

  const std::string& name() const { return name_; }
  const std::string& help() const { return help_; }
  MetricType type() const { return type_; }
  const std::vector<std::string>& label_names() const { return label_names_; }

  // Appends the family's HELP, TYPE and samples, children ordered by their
  // label values.
  virtual void Render(std::string& out) const = 0;

 private:
  const std::string name_;
  const std::string help_;
  const MetricType type_;
  const std::vector<std::string> label_names_;
};

namespace internal {

size_t HashLabelValues(std::span<const std::string_view> values);
// Warns (once per family) that `family` reached its bound.
void WarnOverflow(const std::string& family, size_t max_children);
[[noreturn]] void DieLabelCount(const std::string& family, size_t expected, size_t got);

template <typename M>
struct MetricTraits;
template <>
struct MetricTraits<Counter> {
  static constexpr MetricType kType = MetricType::kCounter;
};
template <>
struct MetricTraits<Gauge> {
  static constexpr MetricType kType = MetricType::kGauge;
};
template <>
struct MetricTraits<Histogram> {
  static constexpr MetricType kType = MetricType::kHistogram;
};

void RenderChild(std::string& out, const std::string& name, const std::vector<std::string>& label_names,
                 const std::vector<std::string>& values, const Counter& m);
void RenderChild(std::string& out, const std::string& name, const std::vector<std::string>& label_names,
                 const std::vector<std::string>& values, const Gauge& m);
void RenderChild(std::string& out, const std::string& name, const std::vector<std::string>& label_names,
                 const std::vector<std::string>& values, const Histogram& m);

}  // namespace internal

template <typename M>
class Family final : public FamilyBase {
 public:
  using Factory = std::function<std::unique_ptr<M>()>;

  // Use Registry::Add*Family; `make` builds each child.
  Family(std::string name, std::string help, std::vector<std::string> label_names, FamilyOptions options, Factory make)
      : FamilyBase(std::move(name), std::move(help), internal::MetricTraits<M>::kType, std::move(label_names)),
        max_children_(std::max<size_t>(1, options.max_children)),
        mask_(TableSize(max_children_) - 1),
        slots_(TableSize(max_children_)),
        make_(std::move(make)) {}

  // The child for `values`, one per label name in order; created on first
  // use. Aborts if the number of values is wrong (a programming error).
  M& Labels(std::span<const std::string_view> values) {
    if (values.size() != label_names().size()) internal::DieLabelCount(name(), label_names().size(), values.size());
    const size_t hash = internal::HashLabelValues(values);
    if (Child* c = Probe(hash, values)) return *c->metric;
    return Insert(hash, values);
  }
  M& Labels(std::initializer_list<std::string_view> values) {
    return Labels(std::span<const std::string_view>(values.begin(), values.size()));
  }

  // The child for `values` if it exists, without creating it; null otherwise.
  M* Find(std::span<const std::string_view> values) const {
    if (values.size() != label_names().size()) return nullptr;
    Child* c = Probe(internal::HashLabelValues(values), values);
    return c == nullptr ? nullptr : c->metric.get();
  }
  M* Find(std::initializer_list<std::string_view> values) const {
    return Find(std::span<const std::string_view>(values.begin(), values.size()));
  }

  void Render(std::string& out) const override {
    std::vector<const Child*> children;
    {
      absl::MutexLock lock(&mu_);
      for (const auto& c : children_) children.push_back(c.get());
      if (overflow_) children.push_back(overflow_.get());
    }
    std::sort(children.begin(), children.end(), [](const Child* a, const Child* b) { return a->values < b->values; });
    AppendHeader(out, name(), help(), type());
    for (const Child* c : children) internal::RenderChild(out, name(), label_names(), c->values, *c->metric);
  }

 private:
  struct Child {
    size_t hash = 0;
    std::vector<std::string> values;
    std::unique_ptr<M> metric;
  };

  static size_t TableSize(size_t max_children) {
    size_t n = 8;
    while (n < 2 * max_children) n *= 2;
    return n;
  }

  static bool Equal(const std::vector<std::string>& a, std::span<const std::string_view> b) {
    for (size_t i = 0; i < a.size(); ++i) {
      if (a[i] != b[i]) return false;
    }
    return true;
  }

  // Lock-free: slots only ever go from null to a child (release), so a
  // reader sees either null or a fully built child (acquire). The table
  // has at least twice as many slots as children, so a probe meets null.
  Child* Probe(size_t hash, std::span<const std::string_view> values) const {
    for (size_t i = 0; i <= mask_; ++i) {
      Child* c = slots_[(hash + i) & mask_].load(std::memory_order_acquire);
      if (c == nullptr) return nullptr;
      if (c->hash == hash && Equal(c->values, values)) return c;
    }
    return nullptr;
  }

  M& Insert(size_t hash, std::span<const std::string_view> values) {
    absl::MutexLock lock(&mu_);
    if (Child* c = Probe(hash, values)) return *c->metric;  // another thread won
    if (children_.size() >= max_children_) {
      if (!overflow_) {
        internal::WarnOverflow(name(), max_children_);
        overflow_ = std::make_unique<Child>();
        overflow_->values.assign(label_names().size(), std::string(kOverflowLabelValue));
        overflow_->metric = make_();
      }
      return *overflow_->metric;
    }
    auto child = std::make_unique<Child>();
    child->hash = hash;
    child->values.assign(values.begin(), values.end());
    child->metric = make_();
    Child* raw = child.get();
    children_.push_back(std::move(child));
    for (size_t i = 0;; ++i) {
      auto& slot = slots_[(hash + i) & mask_];
      if (slot.load(std::memory_order_relaxed) == nullptr) {
        slot.store(raw, std::memory_order_release);
        break;
      }
    }
    return *raw->metric;
  }

  const size_t max_children_;
  const size_t mask_;
  std::vector<std::atomic<Child*>> slots_;
  const Factory make_;
  mutable absl::Mutex mu_;
  std::vector<std::unique_ptr<Child>> children_ ABSL_GUARDED_BY(mu_);
  std::unique_ptr<Child> overflow_ ABSL_GUARDED_BY(mu_);
};

}  // namespace cantdo::metrics
