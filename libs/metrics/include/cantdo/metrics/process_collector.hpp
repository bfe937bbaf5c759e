#pragma once
// The standard process metrics every Prometheus client exposes, read from
// /proc on Linux at scrape time:
//   process_cpu_seconds_total        user + system CPU time
//   process_resident_memory_bytes    resident set size
//   process_virtual_memory_bytes     virtual memory size
//   process_open_fds                 open file descriptors
//   process_max_fds                  the soft limit on them
//   process_start_time_seconds       since the Unix epoch

#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "cantdo/metrics/registry.hpp"

namespace cantdo::metrics {

struct ProcessStats {
  double cpu_seconds = 0;
  double resident_bytes = 0;
  double virtual_bytes = 0;
  double start_time_seconds = 0;
  int64_t open_fds = 0;
  int64_t max_fds = 0;
};

// The fields of a /proc/<pid>/stat line (proc(5)) that ProcessStats needs,
// in the units of that file.
struct ProcStat {
  uint64_t utime_ticks = 0;
  uint64_t stime_ticks = 0;
  uint64_t starttime_ticks = 0;  // since boot
  uint64_t vsize_bytes = 0;
  int64_t rss_pages = 0;
};

// Parses a /proc/<pid>/stat line. The command name (field 2) may contain
// spaces and parentheses: fields are counted after its last ')'.
absl::StatusOr<ProcStat> ParseProcStat(std::string_view line);

// The boot time (`btime`, seconds since the epoch) from /proc/stat.
absl::StatusOr<int64_t> ParseBootTime(std::string_view proc_stat);

// Reads this process's statistics under `proc_root` (/proc, or a copy of
// its layout in tests: <root>/self/stat, <root>/stat, <root>/self/fd/,
// <root>/self/limits).
absl::StatusOr<ProcessStats> ReadProcessStats(const std::string& proc_root = "/proc");

// Registers the process metrics above as a collector on `registry`. A
// failed read leaves them out of that scrape (and is logged once).
void AddProcessCollector(Registry& registry, std::string proc_root = "/proc");

}  // namespace cantdo::metrics
