#pragma once
// Runs a real binary as a child process for integration and end-to-end
// tests. Its stderr (our JSON-lines logs) goes to a file the test can read.

#include <sys/types.h>

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/time/time.h"

namespace cantdo::testing {

class ChildProcess {
 public:
  // Starts `argv[0]` with `argv` and the parent's environment plus `env`.
  ChildProcess(std::vector<std::string> argv, std::map<std::string, std::string> env, std::string log_path);
  ~ChildProcess();  // SIGKILLs and reaps the child if still running
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;

  pid_t pid() const { return pid_; }
  void Signal(int sig);
  // Exit status (or 128+signal) once the child ended within `timeout`.
  std::optional<int> Wait(absl::Duration timeout);
  std::string Log() const;
  // Polls the log until a line contains `needle`; returns that line.
  std::optional<std::string> WaitForLogLine(const std::string& needle, absl::Duration timeout) const;

 private:
  pid_t pid_ = -1;
  std::string log_path_;
  std::optional<int> exit_status_;
};

// The directory holding the build's binaries (CANTDO_BUILD_DIR at compile time).
std::string BuildDir();

// The repository's root (CANTDO_SOURCE_DIR at compile time; not derived from
// __FILE__, which ccache's base_dir makes relative).
std::string SourceDir();

}  // namespace cantdo::testing
