// End to end with a real Prometheus (Debian package `prometheus`): it
// scrapes all four services of the local stack every second, the authority
// and the bridge over HTTPS verified against the deployment CA, the worker
// and the gateway over loopback HTTP, while the offboarding scenario runs.
// Then its HTTP API must show what an operator would look for: approvals
// pending went up for each role and came back down, grants claimed and
// consumed, a spent grant's refusal, the services' calls to each other, and
// every target up on every scrape with no scrape error.

#include "support/e2e_stack.hpp"

#include <cmath>

#include "absl/strings/str_cat.h"
#include "support/prometheus.hpp"
#include "support/prometheus_server.hpp"

using namespace cantdo::e2e;
using cantdo::testing::PrometheusServer;
using cantdo::testing::ScrapeTarget;

namespace {

constexpr absl::Duration kSeen = absl::Seconds(30);

double UnixNow() { return absl::ToUnixMillis(absl::Now()) / 1000.0; }

// Waits until Prometheus's answer to `expr` satisfies `ok`.
bool WaitSeen(PrometheusServer& prom, const std::string& expr, const std::function<bool(double)>& ok) {
  std::optional<double> last;
  const bool seen = WaitUntil(
      [&] {
        last = prom.Value(expr);
        return last.has_value() && ok(*last);
      },
      kSeen);
  UNSCOPED_INFO(expr << " was last " << (last ? std::to_string(*last) : "(no series)"));
  return seen;
}

constexpr char kPendingSum[] = "sum(cantdo_authority_approvals_pending{job=\"authority\"})";

// The time of a scrape of the authority taken after `after` (Unix seconds)
// in which no approval was pending.
double ScrapeWithNothingPending(PrometheusServer& prom, double after) {
  double t = 0;
  const bool seen = WaitUntil(
      [&] {
        const auto ts = prom.Value("max(timestamp(cantdo_authority_approvals_pending{job=\"authority\"}))");
        if (!ts || *ts <= after) return false;
        t = *ts;
        return prom.Value(kPendingSum, t) == std::optional<double>(0);
      },
      kSeen);
  INFO("no scrape after " << absl::StrFormat("%.3f", after) << " with nothing pending");
  REQUIRE(seen);
  return t;
}

std::string Pending(const std::string& role) {
  return "cantdo_authority_approvals_pending{job=\"authority\",required_role=\"" + role + "\"}";
}

}  // namespace

TEST_CASE(
    "e2e: a real Prometheus scrapes every service through the offboarding scenario: approvals pending up and "
    "down, grants claimed and consumed, no scrape error",
    "[e2e][monitoring]") {
  if (!PrometheusServer::Installed()) {
    // Catch2 2.13 has no SKIP; CI installs it (scripts/setup).
    WARN("prometheus is not installed (Debian package prometheus; scripts/setup installs it): not run");
    return;
  }
  StackOptions options;
  options.metrics = true;
  Stack s(options);
  PrometheusServer prom(s.pki, {{"authority", s.authority->metrics_port(), true},
                                {"ciba-bridge", s.bridge->metrics_port(), true},
                                {"worker", s.worker->metrics_port(), false},
                                {"gateway", s.gateway->metrics_port(), false}});
  INFO("prometheus on 127.0.0.1:" << prom.port() << ", " << prom.dir());

  // Every target scraped at least once, and nothing waiting yet.
  if (!WaitSeen(prom, "count(up == 1)", [](double v) { return v == 4; })) {
    FAIL("not every target is up: " << prom.Api("/api/v1/targets?state=active").dump(1) << "\n" << s.Logs());
  }
  const double start = ScrapeWithNothingPending(prom, UnixNow());

  // The scenario, each approval left waiting until Prometheus has seen it.
  const std::string cus = demo::CustomerId(17);
  const std::string wf = s.StartOffboarding(cus).execution().workflow_id();
  s.Pending(kOpsManager);
  CHECK(WaitSeen(prom, Pending("ops_manager"), [](double v) { return v == 1; }));
  s.Approve(kOpsManager);
  s.Pending(kCfo);
  CHECK(WaitSeen(prom, Pending("cfo"), [](double v) { return v == 1; }));
  CHECK(WaitSeen(prom, Pending("ops_manager"), [](double v) { return v == 0; }));
  // While waiting: the oldest approval's age grows with it.
  CHECK(WaitSeen(prom, "cantdo_authority_approvals_oldest_pending_age_seconds{required_role=\"cfo\"}",
                 [](double v) { return v > 0; }));
  s.Approve(kCfo);
  s.Pending(kDpo);
  CHECK(WaitSeen(prom, Pending("dpo"), [](double v) { return v == 1; }));

  // The spent refund grant, presented again by the worker's identity: refused.
  const auto ledger = s.Ledger(wf);
  std::string refund_grant, refund_approval;
  for (const auto& e : ledger) {
    if (e.action() == "refund.issue" && e.kind() == cv1::LEDGER_EVENT_KIND_GRANT_CONSUMED) {
      refund_grant = e.grant_id();
      refund_approval = e.approval_id();
    }
  }
  REQUIRE(!refund_grant.empty());
  {
    av1::ClaimGrantRequest req;
    req.set_grant_id(refund_grant);
    *req.mutable_action() = s.Approval(refund_approval).action();
    req.set_idempotency_key("agent-replay");
    ::grpc::ClientContext ctx;
    av1::ClaimGrantResponse resp;
    CHECK(s.AsWorker()->ClaimGrant(Stack::Ctx(&ctx), req, &resp).error_code() == ::grpc::StatusCode::PERMISSION_DENIED);
  }

  s.Approve(kDpo);
  s.WaitState(wf, wv1::WORKFLOW_EXECUTION_STATE_COMPLETED);

  // Everything back down, and the three grants (admission, refund,
  // erasure) claimed and consumed once each.
  const double end = ScrapeWithNothingPending(prom, UnixNow());
  CHECK(WaitSeen(prom, R"(sum(cantdo_authority_grant_transitions_total{transition="consumed"}))",
                 [](double v) { return v == 3; }));
  const int range_s = static_cast<int>(std::ceil(end - start)) + 1;
  const std::string window = absl::StrCat("[", range_s, "s]");

  // Up and back down, in that order: nothing pending in a scrape before
  // the run started, each role's approval pending while it waited (seen
  // above), nothing in a scrape after the run completed.
  INFO("approvals pending, every second: " << ::Catch::Detail::stringify(prom.Range(kPendingSum, start, end)));
  CHECK(prom.Value(kPendingSum, start) == 0);
  CHECK(prom.Value(kPendingSum, end) == 0);
  CHECK(prom.Value(absl::StrCat("max_over_time(", kPendingSum, "[", range_s, "s:1s])"), end) >= 1);
  for (const char* role : {"ops_manager", "cfo", "dpo"}) {
    INFO(role);
    CHECK(prom.Value(absl::StrCat("max_over_time(", Pending(role), window, ")"), end) == 1);
  }

  CHECK(prom.Value(R"(sum(cantdo_authority_grant_transitions_total{transition="issued"}))") == 3);
  CHECK(prom.Value(R"(sum(cantdo_authority_grant_transitions_total{transition="claimed"}))") == 3);
  CHECK(prom.Value(R"(sum(cantdo_authority_grant_transitions_total{transition="consumed"}))") == 3);
  CHECK(prom.Value(R"(sum(increase(cantdo_authority_grant_transitions_total{transition="claimed"})" + window + "))") >
        0);
  CHECK(prom.Value(R"(sum(cantdo_authority_grant_denials_total{reason="GRANT_ALREADY_CONSUMED"}))") >= 1);
  CHECK(prom.Value(R"(sum(cantdo_authority_approvals_decided_total{outcome="APPROVED"}))") == 3);
  // The last consume's login is dropped moments after it answered.
  CHECK(WaitSeen(prom, "sum(cantdo_authority_credentials_live)", [](double v) { return v == 0; }));

  // The services' calls to each other, counted by the callers.
  const std::string authority_calls =
      R"(sum(cantdo_grpc_client_handled_total{grpc_service="cantdo.authority.v1.AuthorityService",grpc_code="OK",)";
  for (const char* caller : {"worker", "gateway", "ciba-bridge"}) {
    INFO(caller << " -> authority");
    CHECK(prom.Value(authority_calls + "job=\"" + caller + "\"})") > 0);
  }
  CHECK(prom.Value(R"(sum(cantdo_grpc_client_handled_total{job="authority",)"
                   R"(grpc_service="cantdo.bridge.v1.CibaBridgeService",grpc_code="OK"}))") > 0);
  CHECK(prom.Value(R"(sum(cantdo_grpc_server_handled_total{job="authority",grpc_method="ClaimGrant",)"
                   R"(grpc_code="PERMISSION_DENIED"}))") >= 1);

  // No scrape error: every target up on every scrape of the run, each
  // scrape with samples, and Prometheus's own view of the targets clean.
  INFO("slowest scrape (s): " << prom.Query("max_over_time(scrape_duration_seconds" + window + ")").dump());
  CHECK(prom.Value("count(up)") == 4);
  CHECK(prom.Value("min(min_over_time(up" + window + "))") == 1);
  CHECK(prom.Value("min(min_over_time(scrape_samples_post_metric_relabeling" + window + "))") > 0);
  CHECK(prom.Value("count(count_over_time(up" + window + ") >= " + std::to_string(range_s / 2) + ")") == 4);
  const nlohmann::json targets = prom.Api("/api/v1/targets?state=active").at("activeTargets");
  CHECK(targets.size() == 4);
  for (const auto& t : targets) {
    INFO(t.dump());
    CHECK(t.value("health", "") == "up");
    CHECK(t.value("lastError", "x").empty());
    const std::string job = t.at("labels").value("job", "");
    const bool tls = job == "authority" || job == "ciba-bridge";
    CHECK(t.value("scrapeUrl", "").rfind(tls ? "https://127.0.0.1:" : "http://127.0.0.1:", 0) == 0);
  }
  // What `up` does not show: samples Prometheus dropped from a scrape it
  // otherwise took (a duplicate series, a timestamp out of order).
  auto own = cantdo::testing::PlainHttp(prom.port(), "GET", "/metrics");
  REQUIRE(own.ok());
  for (const char* dropped :
       {"prometheus_target_scrapes_sample_duplicate_timestamp_total",
        "prometheus_target_scrapes_sample_out_of_order_total", "prometheus_target_scrapes_sample_out_of_bounds_total",
        "prometheus_target_scrapes_exceeded_sample_limit_total"}) {
    INFO(dropped);
    CHECK(cantdo::testing::SampleValue(own->body, dropped) == std::optional<double>(0));
  }
}
