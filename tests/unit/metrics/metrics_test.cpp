#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <barrier>
#include <cmath>
#include <cstdlib>
#include <limits>
#include <new>
#include <string>
#include <thread>
#include <vector>

#include <catch2/catch.hpp>

#include "absl/time/clock.h"
#include "cantdo/metrics/exposition.hpp"
#include "cantdo/metrics/process_collector.hpp"
#include "cantdo/metrics/registry.hpp"
#include "support/prometheus_checks.hpp"

// Counts this thread's heap allocations, to show that the hot path makes
// none. Replaces the global operator new for this test binary only.
namespace {
thread_local long allocations = 0;
}  // namespace

void* operator new(std::size_t n) {
  ++allocations;
  if (void* p = std::malloc(n == 0 ? 1 : n)) return p;
  throw std::bad_alloc();
}
void* operator new[](std::size_t n) { return operator new(n); }
void* operator new(std::size_t n, const std::nothrow_t&) noexcept {
  ++allocations;
  return std::malloc(n == 0 ? 1 : n);
}
void* operator new[](std::size_t n, const std::nothrow_t& t) noexcept { return operator new(n, t); }
void operator delete(void* p) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t) noexcept { std::free(p); }
void operator delete(void* p, const std::nothrow_t&) noexcept { std::free(p); }
void operator delete[](void* p, const std::nothrow_t&) noexcept { std::free(p); }

using cantdo::metrics::AppendEscapedHelp;
using cantdo::metrics::AppendEscapedLabelValue;
using cantdo::metrics::CollectedFamily;
using cantdo::metrics::Counter;
using cantdo::metrics::FamilyOptions;
using cantdo::metrics::FormatValue;
using cantdo::metrics::Histogram;
using cantdo::metrics::IsValidLabelName;
using cantdo::metrics::IsValidMetricName;
using cantdo::metrics::MetricType;
using cantdo::metrics::Registry;
using cantdo::testing::CheckPromtoolClean;
using cantdo::testing::PromtoolCheckMetrics;
using cantdo::testing::SampleValue;

TEST_CASE("Values are written as Go writes floats: shortest round trip, NaN and signed Inf", "[unit][metrics]") {
  CHECK(FormatValue(0) == "0");
  CHECK(FormatValue(1) == "1");
  CHECK(FormatValue(-2.5) == "-2.5");
  CHECK(FormatValue(0.1) == "0.1");
  CHECK(FormatValue(1e6) == "1e+06");
  CHECK(FormatValue(123456) == "123456");
  CHECK(FormatValue(0.001) == "0.001");
  CHECK(FormatValue(std::numeric_limits<double>::max()) == "1.7976931348623157e+308");
  CHECK(FormatValue(std::numeric_limits<double>::quiet_NaN()) == "NaN");
  CHECK(FormatValue(std::numeric_limits<double>::infinity()) == "+Inf");
  CHECK(FormatValue(-std::numeric_limits<double>::infinity()) == "-Inf");
}

TEST_CASE("Label values escape backslash, quote and newline, and invalid UTF-8 becomes U+FFFD", "[unit][metrics]") {
  std::string out;
  AppendEscapedLabelValue(out, "a\\b\"c\nd");
  CHECK(out == "a\\\\b\\\"c\\nd");
  out.clear();
  AppendEscapedLabelValue(out, "caf\xC3\xA9 \xE2\x82\xAC");  // café €: valid, kept
  CHECK(out == "caf\xC3\xA9 \xE2\x82\xAC");
  out.clear();
  AppendEscapedLabelValue(out, std::string("x\xFFy\xC0\xAFz\xED\xA0\x80", 9));  // stray, overlong, surrogate
  CHECK(out == "x\xEF\xBF\xBDy\xEF\xBF\xBD\xEF\xBF\xBDz\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD");
  out.clear();
  AppendEscapedHelp(out, "a\\b\"c\nd");  // HELP keeps the quote
  CHECK(out == "a\\\\b\"c\\nd");
}

TEST_CASE("Metric and label names follow the data model", "[unit][metrics]") {
  CHECK(IsValidMetricName("cantdo_grpc_server_handled_total"));
  CHECK(IsValidMetricName("a:b_c"));
  CHECK(IsValidMetricName("_x"));
  CHECK_FALSE(IsValidMetricName(""));
  CHECK_FALSE(IsValidMetricName("1abc"));
  CHECK_FALSE(IsValidMetricName("a-b"));
  CHECK_FALSE(IsValidMetricName("a b"));
  CHECK(IsValidLabelName("grpc_method"));
  CHECK(IsValidLabelName("_x"));
  CHECK_FALSE(IsValidLabelName("__name__"));
  CHECK_FALSE(IsValidLabelName("a:b"));
  CHECK_FALSE(IsValidLabelName("9a"));
  CHECK_FALSE(IsValidLabelName(""));
}

TEST_CASE("A histogram counts an observation in every bucket whose bound is >= it", "[unit][metrics]") {
  Histogram h(std::make_shared<const cantdo::metrics::Buckets>(cantdo::metrics::Buckets{0.1, 1, 10}));
  for (double v : {0.05, 0.1, 0.5, 1.0, 5.0, 100.0}) h.Observe(v);
  h.Observe(std::nan(""));  // ignored
  const Histogram::Snapshot s = h.Read();
  REQUIRE(s.cumulative.size() == 4);
  CHECK(s.cumulative[0] == 2);  // 0.05, 0.1 (le is inclusive)
  CHECK(s.cumulative[1] == 4);  // + 0.5, 1.0
  CHECK(s.cumulative[2] == 5);  // + 5.0
  CHECK(s.cumulative[3] == 6);  // +Inf: + 100
  CHECK(s.count == 6);
  CHECK(s.sum == Approx(106.65));
  CHECK(cantdo::metrics::ExponentialBuckets(0.001, 10, 4) == cantdo::metrics::Buckets{0.001, 0.01, 0.1, 1});
  CHECK(cantdo::metrics::ValidBuckets({}));
  CHECK_FALSE(cantdo::metrics::ValidBuckets({1, 1}));
  CHECK_FALSE(cantdo::metrics::ValidBuckets({1, std::numeric_limits<double>::infinity()}));
}

TEST_CASE("A registry renders HELP, TYPE and every sample, children ordered by label values", "[unit][metrics]") {
  Registry r;
  auto& requests = r.AddCounterFamily("app_requests_total", "Requests handled.", {"method", "code"});
  requests.Labels({"Get", "OK"}).Inc(2);
  requests.Labels({"Claim", "PERMISSION_DENIED"}).Inc();
  requests.Labels({"Claim", "OK"}).Inc(3);
  r.AddGauge("app_in_use", "Things in use.\nSecond line \\ backslash.").Set(-1.5);
  auto& latency = r.AddHistogramFamily("app_latency_seconds", "Latency.", {"method"}, {0.01, 0.1});
  latency.Labels({"Get"}).Observe(0.05);
  latency.Labels({"Get"}).Observe(0.2);
  r.AddCollector([](std::vector<CollectedFamily>& out) {
    out.push_back(CollectedFamily{"app_waiting", "Waiting now.", MetricType::kGauge, {"queue"}, {}}.Add({"b"}, 2).Add(
        {"a\"q"}, 1));
  });
  CHECK(r.Render() ==
        "# HELP app_requests_total Requests handled.\n"
        "# TYPE app_requests_total counter\n"
        "app_requests_total{method=\"Claim\",code=\"OK\"} 3\n"
        "app_requests_total{method=\"Claim\",code=\"PERMISSION_DENIED\"} 1\n"
        "app_requests_total{method=\"Get\",code=\"OK\"} 2\n"
        "# HELP app_in_use Things in use.\\nSecond line \\\\ backslash.\n"
        "# TYPE app_in_use gauge\n"
        "app_in_use -1.5\n"
        "# HELP app_latency_seconds Latency.\n"
        "# TYPE app_latency_seconds histogram\n"
        "app_latency_seconds_bucket{method=\"Get\",le=\"0.01\"} 0\n"
        "app_latency_seconds_bucket{method=\"Get\",le=\"0.1\"} 1\n"
        "app_latency_seconds_bucket{method=\"Get\",le=\"+Inf\"} 2\n"
        "app_latency_seconds_sum{method=\"Get\"} 0.25\n"
        "app_latency_seconds_count{method=\"Get\"} 2\n"
        "# HELP app_waiting Waiting now.\n"
        "# TYPE app_waiting gauge\n"
        "app_waiting{queue=\"b\"} 2\n"
        "app_waiting{queue=\"a\\\"q\"} 1\n");
}

TEST_CASE("A collector's bad family is left out of the scrape, the rest is rendered", "[unit][metrics]") {
  Registry r;
  r.AddCounter("app_done_total", "Done.").Inc();
  r.AddCollector([](std::vector<CollectedFamily>& out) {
    out.push_back(CollectedFamily{"bad-name", "x", MetricType::kGauge, {}, {}}.Add({}, 1));
    out.push_back(CollectedFamily{"app_done_total", "taken", MetricType::kGauge, {}, {}}.Add({}, 1));
    out.push_back(CollectedFamily{"app_wrong_labels", "x", MetricType::kGauge, {"a"}, {}}.Add({}, 1));
    out.push_back(CollectedFamily{"app_twice", "x", MetricType::kGauge, {"a"}, {}}.Add({"1"}, 1).Add({"1"}, 2));
    out.push_back(CollectedFamily{"app_hist", "x", MetricType::kHistogram, {}, {}}.Add({}, 1));
    out.push_back(CollectedFamily{"app_fine", "Fine.", MetricType::kGauge, {}, {}}.Add({}, 7));
  });
  const std::string text = r.Render();
  CHECK(text.find("bad-name") == std::string::npos);
  CHECK(text.find("taken") == std::string::npos);
  CHECK(text.find("app_wrong_labels") == std::string::npos);
  CHECK(text.find("app_twice") == std::string::npos);
  CHECK(text.find("app_hist") == std::string::npos);
  CHECK(SampleValue(text, "app_done_total") == 1);
  CHECK(SampleValue(text, "app_fine") == 7);
}

TEST_CASE("A family holds at most max_children label sets, the rest count under \"other\"", "[unit][metrics]") {
  Registry r;
  auto& f = r.AddCounterFamily("app_by_caller_total", "By caller.", {"caller"}, FamilyOptions{.max_children = 3});
  for (int i = 0; i < 10; ++i) f.Labels({"caller-" + std::to_string(i)}).Inc();
  f.Labels({"caller-0"}).Inc();  // an existing child still counts as itself
  const std::string text = r.Render();
  CHECK(SampleValue(text, "app_by_caller_total{caller=\"caller-0\"}") == 2);
  CHECK(SampleValue(text, "app_by_caller_total{caller=\"caller-2\"}") == 1);
  CHECK_FALSE(SampleValue(text, "app_by_caller_total{caller=\"caller-3\"}"));
  CHECK(SampleValue(text, "app_by_caller_total{caller=\"other\"}") == 7);
  CHECK(f.Find({"caller-1"}) != nullptr);
  CHECK(f.Find({"caller-9"}) == nullptr);
}

TEST_CASE("Find never creates a child", "[unit][metrics]") {
  Registry r;
  auto& f = r.AddGaugeFamily("app_g", "G.", {"a", "b"});
  CHECK(f.Find({"x", "y"}) == nullptr);
  CHECK(r.Render() == "# HELP app_g G.\n# TYPE app_g gauge\n");
  f.Labels({"x", "y"}).Set(4);
  REQUIRE(f.Find({"x", "y"}) != nullptr);
  CHECK(f.Find({"x", "y"})->Value() == 4);
  CHECK(f.Find({"x"}) == nullptr);  // wrong arity: not found, not a crash
}

TEST_CASE("Once a child exists, an increment takes no lock-protected path and allocates nothing", "[unit][metrics]") {
  Registry r;
  auto& f = r.AddCounterFamily("app_calls_total", "Calls.", {"service", "method", "code"});
  auto& h =
      r.AddHistogramFamily("app_call_seconds", "Latency.", {"service", "method"}, cantdo::metrics::LatencyBuckets());
  f.Labels({"svc", "Claim", "OK"}).Inc();
  h.Labels({"svc", "Claim"}).Observe(0.001);
  const std::string_view method = "Claim";  // views, as the gRPC interceptor passes them
  const long before = allocations;
  for (int i = 0; i < 1000; ++i) {
    f.Labels({"svc", method, "OK"}).Inc();
    h.Labels({"svc", method}).Observe(0.002);
  }
  CHECK(allocations - before == 0);
  CHECK(f.Labels({"svc", "Claim", "OK"}).Value() == 1001);
}

TEST_CASE("Concurrent increments and first uses of the same label sets lose nothing", "[unit][metrics]") {
  Registry r;
  auto& f = r.AddCounterFamily("app_race_total", "Race.", {"k"});
  auto& h = r.AddHistogramFamily("app_race_seconds", "Race.", {"k"}, {0.5});
  constexpr int kThreads = 8, kIterations = 20000, kKeys = 16;
  std::barrier start(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      start.arrive_and_wait();
      for (int i = 0; i < kIterations; ++i) {
        const std::string key = std::to_string((i + t) % kKeys);
        f.Labels({key}).Inc();
        h.Labels({key}).Observe(i % 2 == 0 ? 0.1 : 1.0);
      }
    });
  }
  for (auto& t : threads) t.join();
  double total = 0;
  uint64_t observations = 0, low = 0;
  for (int k = 0; k < kKeys; ++k) {
    const std::string key = std::to_string(k);
    REQUIRE(f.Find({key}) != nullptr);
    total += f.Find({key})->Value();
    const auto s = h.Find({key})->Read();
    observations += s.count;
    low += s.cumulative[0];
  }
  CHECK(total == kThreads * kIterations);
  CHECK(observations == static_cast<uint64_t>(kThreads) * kIterations);
  CHECK(low == static_cast<uint64_t>(kThreads) * kIterations / 2);
  // Exactly kKeys children: no label set was created twice by racing threads.
  const std::string text = r.Render();
  CHECK(std::count(text.begin(), text.end(), '\n') == 2 + kKeys + 2 + kKeys * 4);
}

TEST_CASE("/proc/<pid>/stat is read after the command name, whatever it contains", "[unit][metrics]") {
  // Fields 14, 15 (utime, stime), 22 (starttime), 23 (vsize), 24 (rss).
  const std::string line =
      "4242 (evil) name (x) y) S 1 4242 4242 0 -1 4194560 1000 0 0 0 250 50 0 0 20 0 7 0 123456 987654321 4321 "
      "18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0\n";
  auto s = cantdo::metrics::ParseProcStat(line);
  REQUIRE(s.ok());
  CHECK(s->utime_ticks == 250);
  CHECK(s->stime_ticks == 50);
  CHECK(s->starttime_ticks == 123456);
  CHECK(s->vsize_bytes == 987654321);
  CHECK(s->rss_pages == 4321);
  CHECK_FALSE(cantdo::metrics::ParseProcStat("4242 (x) S 1 2").ok());
  CHECK_FALSE(cantdo::metrics::ParseProcStat("no command").ok());
  CHECK(cantdo::metrics::ParseBootTime("cpu 1 2 3\nbtime 1700000000\nprocesses 5\n").value() == 1700000000);
  CHECK_FALSE(cantdo::metrics::ParseBootTime("cpu 1 2 3\n").ok());
}

TEST_CASE("Process metrics come from this process: CPU, memory, start time, open files", "[unit][metrics]") {
  auto before = cantdo::metrics::ReadProcessStats();
  REQUIRE(before.ok());
  CHECK(before->cpu_seconds >= 0);
  CHECK(before->resident_bytes > 1024 * 1024);
  CHECK(before->virtual_bytes >= before->resident_bytes);
  CHECK(before->max_fds > 0);
  const double now = absl::ToUnixSeconds(absl::Now());
  CHECK(before->start_time_seconds <= now + 1);
  CHECK(before->start_time_seconds > now - 24 * 3600);  // this test process started today
  const int fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  REQUIRE(fd >= 0);
  auto after = cantdo::metrics::ReadProcessStats();
  ::close(fd);
  REQUIRE(after.ok());
  CHECK(after->open_fds == before->open_fds + 1);
  CHECK_FALSE(cantdo::metrics::ReadProcessStats("/nonexistent").ok());
}

TEST_CASE("promtool check metrics accepts a registry of every type, labels, escapes and process metrics",
          "[unit][metrics]") {
  Registry r;
  auto& calls = r.AddCounterFamily("cantdo_test_calls_total", "Calls, by \"method\" \\ code.", {"method", "code"});
  calls.Labels({"/pkg.Svc/Get", "OK"}).Inc(3);
  calls.Labels({"quote\" back\\slash\nnewline \xFF", "UNKNOWN"}).Inc();
  r.AddGauge("cantdo_test_in_use_connections", "Connections in use.").Set(2);
  auto& latency = r.AddHistogramFamily("cantdo_test_call_seconds", "Latency of calls.", {"method"},
                                       cantdo::metrics::LatencyBuckets());
  latency.Labels({"Get"}).Observe(0.003);
  latency.Labels({"Put"}).Observe(12);
  r.AddHistogram("cantdo_test_unlabelled_seconds", "No labels.", {1, 2}).Observe(1.5);
  r.AddCollector([](std::vector<CollectedFamily>& out) {
    out.push_back(
        CollectedFamily{"cantdo_test_waiting", "Waiting.", MetricType::kGauge, {"queue"}, {}}.Add({"a"}, 0).Add(
            {"b"}, std::numeric_limits<double>::infinity()));
    out.push_back(CollectedFamily{"cantdo_test_scraped_total", "Scrapes.", MetricType::kCounter, {}, {}}.Add({}, 1));
  });
  cantdo::metrics::AddProcessCollector(r);
  const std::string text = r.Render();
  REQUIRE(SampleValue(text, "process_open_fds"));
  REQUIRE(SampleValue(text, "process_cpu_seconds_total"));
  cantdo::testing::CheckPromtoolClean(text);
}

TEST_CASE("promtool check metrics refuses what breaks the conventions (the check can fail)", "[unit][metrics]") {
  // A counter without _total and a family without HELP text: promtool's lint.
  const auto lint = PromtoolCheckMetrics("# TYPE app_requests counter\napp_requests 1\n");
  CHECK(lint.exit_code != 0);
  CHECK(lint.exit_code != 127);
  CHECK(lint.output.find("_total") != std::string::npos);
  const auto broken = PromtoolCheckMetrics("app{a=\"unterminated} 1\n");
  CHECK(broken.exit_code != 0);
  CHECK(broken.exit_code != 127);
}
