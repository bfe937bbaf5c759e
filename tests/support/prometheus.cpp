#include "support/prometheus.hpp"

#include <sys/wait.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <limits>

#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"

namespace cantdo::testing {
namespace {

PromtoolResult Run(const std::string& command) {
  PromtoolResult r;
  FILE* p = ::popen(command.c_str(), "r");
  if (p == nullptr) return r;
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof(buf), p)) > 0) r.output.append(buf, n);
  const int status = ::pclose(p);
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  if (r.exit_code == 127) r.output += "\npromtool is not installed (Debian package prometheus; scripts/setup)";
  return r;
}

double ParseValue(std::string_view text) {
  if (text == "+Inf") return HUGE_VAL;
  if (text == "-Inf") return -HUGE_VAL;
  double v = 0;
  if (!absl::SimpleAtod(absl::string_view(text.data(), text.size()), &v))
    return std::numeric_limits<double>::quiet_NaN();
  return v;
}

}  // namespace

PromtoolResult PromtoolCheckMetrics(std::string_view exposition) {
  char path[] = "/tmp/cantdo-promtool-XXXXXX";
  const int fd = ::mkstemp(path);
  if (fd < 0) return {};
  ::close(fd);
  {
    std::ofstream out(path, std::ios::binary);
    out << exposition;
  }
  PromtoolResult r = Run(std::string("promtool check metrics < ") + path + " 2>&1");
  ::unlink(path);
  return r;
}

PromtoolResult Promtool(const std::string& args, const std::string& dir) {
  std::string command = dir.empty() ? "" : "cd '" + dir + "' && ";
  return Run(command + "promtool " + args + " 2>&1");
}

std::optional<double> SampleValue(std::string_view exposition, std::string_view series) {
  for (absl::string_view l : absl::StrSplit(absl::string_view(exposition.data(), exposition.size()), '\n')) {
    const std::string_view line(l.data(), l.size());
    if (line.size() > series.size() && line.substr(0, series.size()) == series && line[series.size()] == ' ') {
      return ParseValue(line.substr(series.size() + 1));
    }
  }
  return std::nullopt;
}

double SumOfSamples(std::string_view exposition, std::string_view name) {
  double sum = 0;
  for (absl::string_view l : absl::StrSplit(absl::string_view(exposition.data(), exposition.size()), '\n')) {
    const std::string_view line(l.data(), l.size());
    if (line.empty() || line[0] == '#' || line.substr(0, name.size()) != name) continue;
    const char next = line.size() > name.size() ? line[name.size()] : '\0';
    if (next != '{' && next != ' ') continue;
    const size_t space = line.rfind(' ');
    sum += ParseValue(line.substr(space + 1));
  }
  return sum;
}

}  // namespace cantdo::testing
