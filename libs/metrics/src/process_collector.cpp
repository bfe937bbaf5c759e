#include "cantdo/metrics/process_collector.hpp"

#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "cantdo/base/files.hpp"
#include "cantdo/base/log.hpp"

namespace cantdo::metrics {
namespace {

// The soft "Max open files" limit from /proc/<pid>/limits; 0 when unlimited
// or absent.
int64_t ParseMaxOpenFiles(absl::string_view limits) {
  for (absl::string_view line : absl::StrSplit(limits, '\n')) {
    if (!absl::ConsumePrefix(&line, "Max open files")) continue;
    std::vector<absl::string_view> f = absl::StrSplit(line, ' ', absl::SkipEmpty());
    int64_t v = 0;
    if (!f.empty() && absl::SimpleAtoi(f[0], &v)) return v;
  }
  return 0;
}

}  // namespace

absl::StatusOr<ProcStat> ParseProcStat(std::string_view text) {
  const absl::string_view line(text.data(), text.size());
  const size_t close = line.rfind(')');
  if (close == std::string_view::npos) return absl::InvalidArgumentError("stat: no command name");
  // After the command: field 3 (state) onwards.
  std::vector<absl::string_view> f = absl::StrSplit(line.substr(close + 1), ' ', absl::SkipEmpty());
  // proc(5) numbers fields from 1 (pid); f[0] is field 3.
  auto field = [&](int n) -> absl::string_view { return n - 3 < static_cast<int>(f.size()) ? f[n - 3] : ""; };
  ProcStat s;
  if (!absl::SimpleAtoi(field(14), &s.utime_ticks) || !absl::SimpleAtoi(field(15), &s.stime_ticks) ||
      !absl::SimpleAtoi(field(22), &s.starttime_ticks) || !absl::SimpleAtoi(field(23), &s.vsize_bytes) ||
      !absl::SimpleAtoi(absl::StripTrailingAsciiWhitespace(field(24)), &s.rss_pages)) {
    return absl::InvalidArgumentError("stat: fields 14, 15, 22, 23 or 24 missing or not numbers");
  }
  return s;
}

absl::StatusOr<int64_t> ParseBootTime(std::string_view text) {
  for (absl::string_view line : absl::StrSplit(absl::string_view(text.data(), text.size()), '\n')) {
    if (!absl::ConsumePrefix(&line, "btime ")) continue;
    int64_t v = 0;
    if (absl::SimpleAtoi(absl::StripAsciiWhitespace(line), &v)) return v;
  }
  return absl::InvalidArgumentError("/proc/stat: no btime line");
}

absl::StatusOr<ProcessStats> ReadProcessStats(const std::string& proc_root) {
  auto stat_line = ReadFile(proc_root + "/self/stat");
  if (!stat_line.ok()) return stat_line.status();
  auto stat = ParseProcStat(*stat_line);
  if (!stat.ok()) return stat.status();
  auto proc_stat = ReadFile(proc_root + "/stat");
  if (!proc_stat.ok()) return proc_stat.status();
  auto boot = ParseBootTime(*proc_stat);
  if (!boot.ok()) return boot.status();

  const double ticks = static_cast<double>(::sysconf(_SC_CLK_TCK));
  const double page = static_cast<double>(::sysconf(_SC_PAGESIZE));
  ProcessStats p;
  p.cpu_seconds = static_cast<double>(stat->utime_ticks + stat->stime_ticks) / ticks;
  p.start_time_seconds = static_cast<double>(*boot) + static_cast<double>(stat->starttime_ticks) / ticks;
  p.virtual_bytes = static_cast<double>(stat->vsize_bytes);
  p.resident_bytes = static_cast<double>(stat->rss_pages) * page;

  std::error_code ec;
  for (std::filesystem::directory_iterator it(proc_root + "/self/fd", ec), end; !ec && it != end; it.increment(ec)) {
    ++p.open_fds;
  }
  if (ec) return absl::UnavailableError(absl::StrCat("cannot list ", proc_root, "/self/fd: ", ec.message()));
  // The directory iterator's own descriptor is counted too, as every
  // client's reading of /proc/self/fd does.
  if (auto limits = ReadFile(proc_root + "/self/limits"); limits.ok()) p.max_fds = ParseMaxOpenFiles(*limits);
  return p;
}

void AddProcessCollector(Registry& registry, std::string proc_root) {
  auto warned = std::make_shared<std::atomic<bool>>(false);
  registry.AddCollector([proc_root = std::move(proc_root), warned](std::vector<CollectedFamily>& out) {
    absl::StatusOr<ProcessStats> p = ReadProcessStats(proc_root);
    if (!p.ok()) {
      if (!warned->exchange(true)) {
        log::Warn("process metrics unavailable", {{"error", std::string(p.status().message())}});
      }
      return;
    }
    auto gauge = [&](const char* name, const char* help, double v) {
      out.push_back(CollectedFamily{name, help, MetricType::kGauge, {}, {}}.Add({}, v));
    };
    out.push_back(CollectedFamily{
        "process_cpu_seconds_total", "Total user and system CPU time spent in seconds.", MetricType::kCounter, {}, {}}
                      .Add({}, p->cpu_seconds));
    gauge("process_resident_memory_bytes", "Resident memory size in bytes.", p->resident_bytes);
    gauge("process_virtual_memory_bytes", "Virtual memory size in bytes.", p->virtual_bytes);
    gauge("process_open_fds", "Number of open file descriptors.", static_cast<double>(p->open_fds));
    if (p->max_fds > 0)
      gauge("process_max_fds", "Maximum number of open file descriptors.", static_cast<double>(p->max_fds));
    gauge("process_start_time_seconds", "Start time of the process since unix epoch in seconds.",
          p->start_time_seconds);
  });
}

}  // namespace cantdo::metrics
