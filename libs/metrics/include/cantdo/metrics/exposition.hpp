#pragma once
// The Prometheus text exposition format, version 0.0.4: the pieces every
// metric type writes (https://prometheus.io/docs/instrumenting/exposition_formats/).
//
//   # HELP <name> <help, with \ and newline escaped>
//   # TYPE <name> counter|gauge|histogram
//   <name>{<label>="<value, with \ " and newline escaped>",...} <value>
//
// Values are Go-compatible floats: the shortest text that reads back to the
// same double, and NaN, +Inf, -Inf. Label values are UTF-8; an invalid byte
// is written as U+FFFD so that one bad value cannot spoil a scrape.

#include <span>
#include <string>
#include <string_view>

namespace cantdo::metrics {

// What scrapers are told they receive.
inline constexpr std::string_view kContentType = "text/plain; version=0.0.4; charset=utf-8";

enum class MetricType { kCounter, kGauge, kHistogram };

// "counter", "gauge", "histogram".
std::string_view TypeName(MetricType type);

// [a-zA-Z_:][a-zA-Z0-9_:]*
bool IsValidMetricName(std::string_view name);
// [a-zA-Z_][a-zA-Z0-9_]*, not starting with "__" (reserved for Prometheus).
bool IsValidLabelName(std::string_view name);

std::string FormatValue(double value);

void AppendEscapedLabelValue(std::string& out, std::string_view value);
void AppendEscapedHelp(std::string& out, std::string_view help);

// The HELP and TYPE lines of one family.
void AppendHeader(std::string& out, std::string_view name, std::string_view help, MetricType type);

// One sample line: `name{names[i]="values[i]",...,extra_name="extra_value"} value`.
// The extra label (a histogram bucket's `le`) is left out when its name is
// empty; braces are left out when there is no label at all.
// REQUIRES: names.size() == values.size().
void AppendSample(std::string& out, std::string_view name, std::span<const std::string> names,
                  std::span<const std::string> values, double value, std::string_view extra_name = {},
                  std::string_view extra_value = {});

}  // namespace cantdo::metrics
