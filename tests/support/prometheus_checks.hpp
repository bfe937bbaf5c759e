#pragma once
// Catch2 assertions over a Prometheus exposition, shared by the metrics
// tests. They assert on the calling (test) thread only.

#include <catch2/catch.hpp>

#include <string>

#include "support/prometheus.hpp"

namespace cantdo::testing {

// The value of the sample written exactly as `series` in `exposition`; the
// test case stops (REQUIRE) if there is no such sample.
inline double RequireSample(const std::string& exposition, const std::string& series) {
  INFO(series);
  const auto v = SampleValue(exposition, series);
  REQUIRE(v.has_value());
  return *v;
}

// `promtool check metrics` accepts `exposition` and has nothing to say
// (its lint included).
inline void CheckPromtoolClean(const std::string& exposition) {
  const auto checked = PromtoolCheckMetrics(exposition);
  INFO(exposition);
  INFO(checked.output);
  CHECK(checked.exit_code == 0);
  CHECK(checked.output.empty());
}

}  // namespace cantdo::testing
