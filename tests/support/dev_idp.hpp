#pragma once
// The real local identity provider (tools/dev-idp: oidc-provider with CIBA
// under node) for integration and end-to-end tests, on free loopback ports,
// with its TLS certificate from the test's PKI.

#include <catch2/catch.hpp>

#include <signal.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <map>
#include <memory>
#include <thread>

#include <nlohmann/json.hpp>

#include "cantdo/http/https_client.hpp"
#include "support/child_process.hpp"
#include "support/test_pki.hpp"
#include "support/wait.hpp"

namespace cantdo::testing {

// node's absolute path (ChildProcess execs without a PATH search).
inline std::string NodePath() {
  for (const char* dir : {"/usr/bin", "/usr/local/bin", "/opt/node/bin"}) {
    const std::string p = std::string(dir) + "/node";
    if (access(p.c_str(), X_OK) == 0) return p;
  }
  FAIL("node not found; scripts/setup installs it");
  return "";
}

// The real provider: node tools/dev-idp/server.js.
class DevIdp {
 public:
  static constexpr const char* kSecret = "test-secret-0123456789+/=&%";  // needs form-encoding
  DevIdp(cantdo::testing::TestPki& pki, const std::string& dir, std::map<std::string, std::string> extra = {})
      : dir_(dir) {
    const std::string app = SourceDir() + "/tools/dev-idp";
    // scripts/test installs the packages first; a test run by hand installs
    // them here, one process at a time (tests run in parallel).
    if (!std::filesystem::exists(app + "/node_modules/.package-lock.json")) {
      REQUIRE(std::system(("cd " + app +
                           " && flock .npm-ci.lock sh -c '[ -f node_modules/.package-lock.json ] || "
                           "npm ci --no-audit --no-fund' >/dev/null 2>&1")
                              .c_str()) == 0);
    }
    files_ = pki.WriteFiles(dir, "idp");
    env_ = {{"IDP_LISTEN", "127.0.0.1:0"},  {"IDP_TLS_CERT", files_.cert},
            {"IDP_TLS_KEY", files_.key},    {"IDP_STATE_DIR", dir + "/idp-state"},
            {"IDP_CLIENT_SECRET", kSecret}, {"IDP_CIBA_INTERVAL", "1"},
            {"IDP_PING_CA", files_.ca}};
    for (auto& [k, v] : extra) env_[k] = v;
    Start();
  }

  void Start() {
    ++starts_;
    child_ =
        std::make_unique<ChildProcess>(std::vector<std::string>{NodePath(), SourceDir() + "/tools/dev-idp/server.js"},
                                       env_, dir_ + "/idp-" + std::to_string(starts_) + ".log");
    auto line = child_->WaitForLogLine("\"msg\":\"listening\"", absl::Seconds(30));
    INFO(child_->Log());
    REQUIRE(line.has_value());
    auto j = nlohmann::json::parse(*line);
    issuer_ = j.at("issuer").get<std::string>();
    device_ = j.at("device").get<std::string>();
    gateway_audience_ = j.at("gateway_audience").get<std::string>();
    roles_claim_ = j.at("roles_claim").get<std::string>();
    // A restart comes back on the same addresses.
    env_["IDP_LISTEN"] = issuer_.substr(std::string("https://").size());
    env_["IDP_DEVICE_LISTEN"] = device_.substr(std::string("https://").size());
  }
  void Stop() {
    child_->Signal(SIGKILL);
    child_->Wait(absl::Seconds(5));
  }

  const std::string& issuer() const { return issuer_; }
  const std::string& ca_file() const { return files_.ca; }
  // The approvers' device endpoint (what scripts/idp list/approve talk to).
  const std::string& device() const { return device_; }
  // The resource indicator (aud) of the access tokens it issues for the
  // gateway, and the claim listing a client's roles.
  const std::string& gateway_audience() const { return gateway_audience_; }
  const std::string& roles_claim() const { return roles_claim_; }
  std::string Log() const { return child_->Log(); }

  nlohmann::json Device(const std::string& method, const std::string& path) const {
    http::ClientOptions o;
    o.ca_file = files_.ca;
    auto client = http::HttpsClient::Create(o);
    REQUIRE(client.ok());
    http::Request r;
    r.method = method;
    r.url = device_ + path;
    auto res = (*client)->Send(r);
    REQUIRE(res.ok());
    INFO(res->body);
    REQUIRE(res->status == 200);
    return nlohmann::json::parse(res->body);
  }
  // The pending request for `subject`, once the provider has it.
  std::string WaitForPending(const std::string& subject) const {
    std::string id;
    WaitUntil(
        [&] {
          auto list = Device("GET", "/requests?subject=" + subject);
          if (!list.empty()) id = list[0].at("auth_req_id").get<std::string>();
          return !id.empty();
        },
        absl::Seconds(20));
    REQUIRE(!id.empty());
    return id;
  }

 private:
  std::string dir_;
  cantdo::testing::TestPki::Files files_;
  std::map<std::string, std::string> env_;
  std::unique_ptr<ChildProcess> child_;
  std::string issuer_, device_, gateway_audience_, roles_claim_;
  int starts_ = 0;
};

}  // namespace cantdo::testing
