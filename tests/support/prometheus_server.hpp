#pragma once
// A real Prometheus server (Debian package `prometheus`, scripts/setup
// installs it) scraping services on loopback, for end-to-end tests: its
// configuration and its TSDB in a temporary directory, one scrape job per
// target (HTTPS verified against the test CA with server name `localhost`,
// as the ServiceMonitors verify the service's name, or plain HTTP), a 1 s
// scrape interval, queried through its HTTP API.
//
// The destructor kills Prometheus (SIGKILL, reaped) and then removes the
// directory. Header-only: it needs libs/http (scrape.hpp).

#include <catch2/catch.hpp>

#include <unistd.h>

#include <cctype>
#include <cstdlib>
#include <fstream>
#include <map>
#include <memory>
#include <optional>
#include <regex>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "support/child_process.hpp"
#include "support/dev_idp.hpp"
#include "support/scrape.hpp"
#include "support/test_pki.hpp"
#include "support/wait.hpp"

namespace cantdo::testing {

struct ScrapeTarget {
  std::string job;  // e.g. the service's name
  int port = 0;     // on 127.0.0.1
  bool tls = false;
};

class PrometheusServer {
 public:
  // The `prometheus` binary on the PATH; "" when it is not installed.
  static std::string Binary() {
    const char* path = std::getenv("PATH");
    for (absl::string_view d : absl::StrSplit(path != nullptr ? path : "/usr/bin", ':', absl::SkipEmpty())) {
      const std::string candidate = absl::StrCat(d, "/prometheus");
      if (::access(candidate.c_str(), X_OK) == 0) return candidate;
    }
    return "";
  }
  static bool Installed() { return !Binary().empty(); }

  // Starts Prometheus scraping `targets` and waits until it is ready.
  PrometheusServer(TestPki& pki, const std::vector<ScrapeTarget>& targets) {
    const std::string ca_file = pki.WriteFiles(dir_.path(), "prometheus").ca;
    std::ofstream config(dir_.path() + "/prometheus.yml");
    config << "global:\n"
              "  scrape_interval: 1s\n"
              "  scrape_timeout: 1s\n"
              "  evaluation_interval: 1s\n"
              "scrape_configs:\n";
    for (const auto& t : targets) {
      config << "  - job_name: " << t.job << "\n"
             << "    scheme: " << (t.tls ? "https" : "http") << "\n";
      if (t.tls) {
        config << "    tls_config:\n"
               << "      ca_file: " << ca_file << "\n"
               << "      server_name: localhost\n"
               << "      insecure_skip_verify: false\n";
      }
      config << "    static_configs:\n"
             << "      - targets: ['127.0.0.1:" << t.port << "']\n";
    }
    config.close();
    // Prometheus binds port 0 itself and logs the address it got
    // ("Listening on" address=127.0.0.1:<port>).
    child_ = std::make_unique<ChildProcess>(
        std::vector<std::string>{Binary(), "--config.file=" + dir_.path() + "/prometheus.yml",
                                 "--storage.tsdb.path=" + dir_.path() + "/data", "--web.listen-address=127.0.0.1:0",
                                 "--log.level=info"},
        std::map<std::string, std::string>{}, dir_.path() + "/prometheus.log");
    auto listening = child_->WaitForLogLine("msg=\"Listening on\"", absl::Seconds(60));
    INFO("prometheus log:\n" << child_->Log());
    REQUIRE(listening.has_value());
    std::smatch m;
    REQUIRE(std::regex_search(*listening, m, std::regex(R"(address=127\.0\.0\.1:([0-9]+))")));
    port_ = std::stoi(m[1]);
    REQUIRE(WaitUntil(
        [&] {
          if (child_->Wait(absl::ZeroDuration()).has_value()) return true;  // exited: not ready, stop waiting
          auto r = PlainHttp(port_, "GET", "/-/ready");
          return r.ok() && r->status == 200;
        },
        absl::Seconds(60)));
    INFO("prometheus log:\n" << child_->Log());
    REQUIRE(!child_->Wait(absl::ZeroDuration()).has_value());
  }

  ~PrometheusServer() { child_.reset(); }  // killed and reaped before dir_ goes
  PrometheusServer(const PrometheusServer&) = delete;
  PrometheusServer& operator=(const PrometheusServer&) = delete;

  int port() const { return port_; }
  const std::string& dir() const { return dir_.path(); }
  std::string Log() const { return child_ ? child_->Log() : ""; }

  // GET `path` of the HTTP API; its `data` (the call must succeed).
  nlohmann::json Api(const std::string& path) {
    auto r = PlainHttp(port_, "GET", path);
    INFO("GET " << path);
    REQUIRE(r.ok());
    INFO(r->body);
    REQUIRE(r->status == 200);
    const auto body = nlohmann::json::parse(r->body, nullptr, false);
    REQUIRE(!body.is_discarded());
    REQUIRE(body.value("status", "") == "success");
    return body.at("data");
  }

  // An instant query's result (a vector: [{metric, value: [t, "v"]}, ...]),
  // evaluated now or at `time` (Unix seconds).
  nlohmann::json Query(const std::string& expr, std::optional<double> time = std::nullopt) {
    const nlohmann::json data =
        Api("/api/v1/query?query=" + UrlEncode(expr) + (time ? absl::StrFormat("&time=%.3f", *time) : std::string()));
    REQUIRE(data.value("resultType", "") == "vector");
    return data.at("result");
  }

  // The value of an instant query that yields one series; nullopt when it
  // yields none (fails the test when it yields several).
  std::optional<double> Value(const std::string& expr, std::optional<double> time = std::nullopt) {
    const nlohmann::json result = Query(expr, time);
    INFO(expr << " = " << result.dump());
    REQUIRE(result.size() <= 1);
    if (result.empty()) return std::nullopt;
    return std::stod(result[0].at("value").at(1).get<std::string>());
  }

  // The values of a range query yielding one series, every `step_s` seconds
  // from `start` to `end` (Unix seconds), oldest first.
  std::vector<double> Range(const std::string& expr, double start, double end, int step_s = 1) {
    const nlohmann::json data =
        Api(absl::StrCat("/api/v1/query_range?query=", UrlEncode(expr), "&start=", absl::StrFormat("%.3f", start),
                         "&end=", absl::StrFormat("%.3f", end), "&step=", step_s));
    INFO(expr << " = " << data.dump());
    REQUIRE(data.at("result").size() == 1);
    std::vector<double> out;
    for (const auto& v : data.at("result")[0].at("values")) out.push_back(std::stod(v.at(1).get<std::string>()));
    return out;
  }

  static std::string UrlEncode(const std::string& s) {
    std::string out;
    for (unsigned char c : s) {
      if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
        out += static_cast<char>(c);
      } else {
        out += absl::StrFormat("%%%02X", c);
      }
    }
    return out;
  }

 private:
  TempDir dir_;  // declared first: removed after the process is gone
  std::unique_ptr<ChildProcess> child_;
  int port_ = 0;
};

}  // namespace cantdo::testing
