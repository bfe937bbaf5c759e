#pragma once
// One real cantdo service binary (build/<preset>/services/<name>/cantdo-<name>)
// as a child process for end-to-end tests: mutual TLS from the test's PKI,
// its own Postgres login, settings as CANTDO_* environment variables, exactly
// as a deployment passes them.
//
// The first start binds a free loopback port; Restart() comes back on the
// same port, so peers configured with the address keep working. Kill() is
// SIGKILL (a crash); Stop() is SIGTERM (a graceful shutdown).

#include <catch2/catch.hpp>

#include <signal.h>

#include <map>
#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "support/child_process.hpp"
#include "support/test_pki.hpp"

namespace cantdo::testing {

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
      if (!child_->Wait(absl::Seconds(10))) child_->Signal(SIGKILL);
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
        std::vector<std::string>{BuildDir() + "/services/" + name_ + "/cantdo-" + name_}, env,
        dir_ + "/" + name_ + "-" + std::to_string(starts_) + ".log");
    running_ = true;
    auto line = child_->WaitForLogLine("\"msg\":\"listening\"", absl::Seconds(60));
    INFO(name_ << " log:\n" << child_->Log());
    REQUIRE(line.has_value());
    port_ = nlohmann::json::parse(*line).at("port").get<int>();
    env_["CANTDO_LISTEN"] = "127.0.0.1:" + std::to_string(port_);
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
  std::string Log() const { return child_ ? child_->Log() : ""; }
  ChildProcess& child() { return *child_; }

 private:
  std::string dir_, name_;
  std::map<std::string, std::string> env_;
  std::unique_ptr<ChildProcess> child_;
  bool running_ = false;
  int port_ = 0;
  int starts_ = 0;
};

}  // namespace cantdo::testing
