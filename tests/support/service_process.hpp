#pragma once
// One real cantdo service binary (build/<preset>/services/<name>/cantdo-<name>)
// as a child process for end-to-end tests: mutual TLS from the test's PKI,
// its own Postgres login, settings as CANTDO_* environment variables, exactly
// as a deployment passes them.
//
// The first start binds a free loopback port; Restart() comes back on the
// same port, so peers configured with the address keep working. Kill() is
// SIGKILL (a crash); Stop() is SIGTERM (a graceful shutdown).
//
// A sanitizer report (AddressSanitizer, LeakSanitizer, UndefinedBehavior-
// Sanitizer) in any of the service's logs fails the test when the
// ServiceProcess goes away: a service that crashed or leaked under the
// sanitizers is a failure even if every assertion of the test held.

#include <catch2/catch.hpp>

#include <signal.h>

#include <fstream>
#include <map>
#include <memory>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "support/child_process.hpp"
#include "support/test_pki.hpp"

namespace cantdo::testing {

// The lines of `log` that start a sanitizer report: ASan's and LSan's
// "ERROR: ...Sanitizer", UBSan's "<file>:<line>:<col>: runtime error:" and
// its SUMMARY line.
inline std::vector<std::string> SanitizerReports(const std::string& log) {
  static const std::regex kReport(
      R"(ERROR: (AddressSanitizer|LeakSanitizer)|SUMMARY: UndefinedBehaviorSanitizer|^\S+:\d+:\d+: runtime error: )");
  std::vector<std::string> out;
  std::istringstream lines(log);
  for (std::string line; std::getline(lines, line);) {
    if (std::regex_search(line, kReport)) out.push_back(line);
  }
  return out;
}

class ServiceProcess {
 public:
  // `name`: gateway, authority, worker or ciba-bridge (also its certificate's
  // identity). `port` 0 picks a free one at the first start.
  ServiceProcess(TestPki& pki, std::string dir, std::string name, std::string dsn,
                 std::map<std::string, std::string> env, int port = 0)
      : dir_(std::move(dir)), name_(std::move(name)) {
    auto files = pki.WriteFiles(dir_, name_);
    env_ = {{"CANTDO_LISTEN", "127.0.0.1:" + std::to_string(port)},
            {"CANTDO_TLS_CERT", files.cert},
            {"CANTDO_TLS_KEY", files.key},
            {"CANTDO_TLS_CA", files.ca},
            {"CANTDO_DB_DSN", dsn},
            {"CANTDO_SHUTDOWN_GRACE", "2s"},
            {"CANTDO_LOG_LEVEL", "debug"}};
    for (auto& [k, v] : env) env_[k] = v;
  }
  ~ServiceProcess() {
    if (child_ && running_) {
      child_->Signal(SIGTERM);
      if (!child_->Wait(absl::Seconds(10))) {
        child_->Signal(SIGKILL);
        child_->Wait(absl::Seconds(10));
      }
    }
    // After the exit, so LeakSanitizer's report at exit is in the log too.
    for (int start = 1; start <= starts_; ++start) {
      std::ifstream in(LogPath(start));
      std::stringstream log;
      log << in.rdbuf();
      const std::vector<std::string> reports = SanitizerReports(log.str());
      if (!reports.empty()) {
        std::string text = log.str();
        if (text.size() > 20000) text = "..." + text.substr(text.size() - 20000);
        FAIL_CHECK(name_ << " (start " << start << ") reported under the sanitizers: " << reports.front() << "\n---- "
                         << LogPath(start) << "\n"
                         << text);
      }
    }
  }
  ServiceProcess(const ServiceProcess&) = delete;
  ServiceProcess& operator=(const ServiceProcess&) = delete;

  // Starts the binary and waits until it listens. Extra environment for this
  // start only (e.g. a fail point) goes in `once`.
  void Start(const std::map<std::string, std::string>& once = {}) {
    ++starts_;
    auto env = env_;
    for (auto& [k, v] : once) env[k] = v;
    child_ = std::make_unique<ChildProcess>(
        std::vector<std::string>{BuildDir() + "/services/" + name_ + "/cantdo-" + name_}, env, LogPath(starts_));
    running_ = true;
    auto line = child_->WaitForLogLine("\"msg\":\"listening\"", absl::Seconds(60));
    INFO(name_ << " log:\n" << child_->Log());
    REQUIRE(line.has_value());
    port_ = nlohmann::json::parse(*line).at("port").get<int>();
    env_["CANTDO_LISTEN"] = "127.0.0.1:" + std::to_string(port_);
    if (auto m = env_.find("CANTDO_METRICS_LISTEN"); m != env_.end() && !m->second.empty()) {
      // Logged before the gRPC port: the endpoint starts first.
      auto metrics = child_->WaitForLogLine("\"msg\":\"metrics listening\"", absl::Seconds(5));
      REQUIRE(metrics.has_value());
      metrics_port_ = nlohmann::json::parse(*metrics).at("port").get<int>();
      m->second = "127.0.0.1:" + std::to_string(metrics_port_);
    }
  }
  void Kill() {
    child_->Signal(SIGKILL);
    child_->Wait(absl::Seconds(10));
    running_ = false;
  }
  // SIGTERM; returns the exit status (nullopt: still running after `timeout`).
  std::optional<int> Stop(absl::Duration timeout = absl::Seconds(15)) {
    child_->Signal(SIGTERM);
    auto st = child_->Wait(timeout);
    running_ = !st.has_value();
    return st;
  }
  void Restart(const std::map<std::string, std::string>& once = {}) {
    if (running_) Kill();
    Start(once);
  }
  // Waits for the process to end by itself (e.g. at a fail point).
  std::optional<int> WaitExit(absl::Duration timeout) {
    auto st = child_->Wait(timeout);
    if (st) running_ = false;
    return st;
  }

  const std::string& name() const { return name_; }
  int port() const { return port_; }
  std::string address() const { return "127.0.0.1:" + std::to_string(port_); }
  // The /metrics port (on 127.0.0.1) when CANTDO_METRICS_LISTEN is set; it
  // too stays the same across restarts.
  int metrics_port() const { return metrics_port_; }
  std::string Log() const { return child_ ? child_->Log() : ""; }
  ChildProcess& child() { return *child_; }

 private:
  std::string LogPath(int start) const { return dir_ + "/" + name_ + "-" + std::to_string(start) + ".log"; }

  std::string dir_, name_;
  std::map<std::string, std::string> env_;
  std::unique_ptr<ChildProcess> child_;
  bool running_ = false;
  int port_ = 0;
  int metrics_port_ = 0;
  int starts_ = 0;
};

}  // namespace cantdo::testing
