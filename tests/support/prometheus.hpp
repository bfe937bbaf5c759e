#pragma once
// Prometheus in tests: `promtool check metrics` on an exposition, and
// reading one sample's value out of it.

#include <optional>
#include <string>
#include <string_view>

namespace cantdo::testing {

struct PromtoolResult {
  int exit_code = -1;  // 0: clean; 127: promtool is not installed
  std::string output;  // what it printed (stdout and stderr): its complaints
};

// Runs `promtool check metrics` with `exposition` on its standard input.
// promtool (Debian package `prometheus`, scripts/setup installs it) exits 0
// with no output only for a valid exposition that also passes its lint
// (HELP on every family, counters named `_total`, base units).
PromtoolResult PromtoolCheckMetrics(std::string_view exposition);

// Runs `promtool <args>` (e.g. "check rules file.yml"), in `dir` if not
// empty.
PromtoolResult Promtool(const std::string& args, const std::string& dir = "");

// The value of the sample written exactly as `series` (the metric name and
// its labels as the exposition has them: `cantdo_x_total{a="b"}`), or
// nullopt if there is no such line.
std::optional<double> SampleValue(std::string_view exposition, std::string_view series);

// The sum of the values of every sample of metric `name` (any labels).
double SumOfSamples(std::string_view exposition, std::string_view name);

}  // namespace cantdo::testing
