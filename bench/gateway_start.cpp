// gateway_start: StartWorkflow latency at a fixed offered rate, open loop.
//
// Starts the authority and the gateway in-process exactly as their binaries
// wire them (runtime::StartService each: the authority over mutual TLS, the
// gateway over TLS with client certificates, both with a pg::Pool of
// --pool-size connections, the services' default) on one freshly migrated
// database shared by both, as in production. The authority has no bridge
// (--bridge-address empty, which the binary allows): StartWorkflow does not
// wait for the CIBA request, which the authority's dispatcher sends from the
// approvals outbox in the background; with a bridge configured,
// RequestApproval additionally makes one best-effort dispatch inline, which
// this benchmark does not measure (docs/benchmarks.md).
//
// The load is open loop: request i of a run is scheduled at t0 + i / rate
// and sent then whether or not earlier ones have completed (gRPC async API,
// one completion queue); its latency is measured from that scheduled time,
// so a stalled server is charged for the requests queued behind the stall
// (no coordinated omission). Calls go over real gRPC with TLS, as the
// operator (client certificate spiffe://cantdo/operator), each with a
// unique request_id and a gateway-derived workflow id; every call is a new
// run that stays PENDING_ADMISSION (nobody approves).
//
// Measured: --runs runs at --rate for --duration seconds after --warmup
// seconds (requests scheduled in the warm-up are sent but not counted);
// then a search for the highest offered rate whose p99 stays under
// --p99-goal-ms: doubling from --rate (or halving, if --rate misses the
// goal) to bracket it, then --search-steps bisections, one run per trial.
//
// Output: one JSON document on stdout; progress on stderr. The database is
// left in place for the pgbench baseline (bench/pgbench/gateway_start.sql),
// which bench/driver.py runs against it next.

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <grpcpp/client_context.h>
#include <grpcpp/completion_queue.h>
#include <nlohmann/json.hpp>

#include "absl/strings/str_cat.h"
#include "authority/authority_app.hpp"
#include "cantdo/base/clock.hpp"
#include "cantdo/base/log.hpp"
#include "cantdo/gateway/v1/workflow_service.grpc.pb.h"
#include "cantdo/grpc/tls.hpp"
#include "cantdo/offboarding/v1/offboarding.pb.h"
#include "cantdo/pg/connection.hpp"
#include "gateway/gateway_app.hpp"
#include "support/bench_support.hpp"
#include "support/test_pki.hpp"

namespace {

using cantdo::bench::AddRunOptions;
using cantdo::bench::Check;
using cantdo::bench::Connect;
using cantdo::bench::FreshMigratedDatabase;
using cantdo::bench::ParseOrExit;

namespace gv1 = cantdo::gateway::v1;
using Clock = std::chrono::steady_clock;

constexpr char kDatabase[] = "cantdo_bench_gateway";

struct Options : cantdo::bench::RunOptions {
  double rate = 500;
  double p99_goal_ms = 70;
  double max_rate = 4000;
  int search_steps = 3;
  int channels = 4;
};

Options ParseArgs(int argc, char** argv) {
  Options o;
  cantdo::Options flags("gateway_start", "StartWorkflow through a real gateway and authority at a fixed offered rate");
  AddRunOptions(flags, &o);
  flags.Double("rate", &o.rate, "offered StartWorkflow calls per second")
      .Double("p99-goal-ms", &o.p99_goal_ms, "the p99 the rate search must stay under")
      .Double("max-rate", &o.max_rate, "upper bound of the rate search")
      .Int("search-steps", &o.search_steps, "bisection steps of the rate search (0: none)")
      .Int("channels", &o.channels, "gRPC channels the load is spread over")
      .Check([&] {
        return o.rate > 0 && o.max_rate >= o.rate && o.channels >= 1
                   ? ""
                   : "--rate > 0, --max-rate >= --rate and --channels at least 1";
      });
  ParseOrExit(flags, argc, argv);
  return o;
}

double Percentile(const std::vector<double>& sorted, double p) {
  if (sorted.empty()) return 0;
  size_t idx = static_cast<size_t>(p * static_cast<double>(sorted.size() - 1) + 0.5);
  return sorted[std::min(idx, sorted.size() - 1)];
}

double Median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v.size() % 2 ? v[v.size() / 2] : (v[v.size() / 2 - 1] + v[v.size() / 2]) / 2;
}

struct RunResult {
  double offered_rate = 0;
  double seconds = 0;
  int64_t sent = 0;          // scheduled in the measured window
  int64_t ok = 0;            // of those, succeeded
  int64_t errors = 0;        // of those, failed
  double achieved_rate = 0;  // ok / seconds
  double p50_ms = 0, p99_ms = 0, max_ms = 0;
  double max_send_lag_ms = 0;  // how late the generator itself sent (sanity)
  std::string first_error;
};

// One StartWorkflow in flight.
struct Call {
  gv1::StartWorkflowRequest request;
  gv1::StartWorkflowResponse response;
  ::grpc::ClientContext ctx;
  ::grpc::Status status;
  std::unique_ptr<::grpc::ClientAsyncResponseReader<gv1::StartWorkflowResponse>> reader;
  Clock::time_point scheduled;
  bool counted = false;
};

class LoadGenerator {
 public:
  LoadGenerator(const std::string& target, cantdo::testing::TestPki& pki, int channels) {
    for (int i = 0; i < channels; ++i) {
      // Each channel has credentials of its own, hence its own connection.
      stubs_.push_back(gv1::WorkflowService::NewStub(cantdo::grpc::MakeMtlsChannel(target, pki.Issue("operator"))));
    }
  }

  // Sends at `rate` for warmup + seconds; counts those scheduled after the
  // warm-up; waits for every call to finish (each has a 30 s deadline).
  RunResult Run(double rate, double warmup, double seconds) {
    const int run = run_++;
    ::grpc::CompletionQueue cq;
    std::vector<double> latencies;
    RunResult r;
    r.offered_rate = rate;
    r.seconds = seconds;
    std::atomic<int64_t> outstanding{0};
    std::atomic<bool> sending_done{false};
    std::thread poller([&] {
      void* tag = nullptr;
      bool ok = false;
      while (cq.Next(&tag, &ok)) {
        std::unique_ptr<Call> call(static_cast<Call*>(tag));
        const auto now = Clock::now();
        if (call->counted) {
          if (call->status.ok()) {
            ++r.ok;
            latencies.push_back(std::chrono::duration<double, std::milli>(now - call->scheduled).count());
          } else {
            ++r.errors;
            if (r.first_error.empty()) {
              r.first_error = absl::StrCat(call->status.error_code(), " ", call->status.error_message());
            }
          }
        }
        if (--outstanding == 0 && sending_done) cq.Shutdown();
      }
    });
    const int64_t total = static_cast<int64_t>((warmup + seconds) * rate);
    const int64_t first_counted = static_cast<int64_t>(warmup * rate);
    const auto t0 = Clock::now() + std::chrono::milliseconds(20);
    for (int64_t i = 0; i < total; ++i) {
      const auto scheduled = t0 + std::chrono::duration_cast<Clock::duration>(
                                      std::chrono::duration<double>(static_cast<double>(i) / rate));
      std::this_thread::sleep_until(scheduled);
      r.max_send_lag_ms =
          std::max(r.max_send_lag_ms, std::chrono::duration<double, std::milli>(Clock::now() - scheduled).count());
      auto call = std::make_unique<Call>();
      call->scheduled = scheduled;
      call->counted = i >= first_counted;
      if (call->counted) ++r.sent;
      call->request.set_workflow_type("customer_offboarding");
      call->request.set_request_id(absl::StrCat("bench-", run, "-", i));
      cantdo::offboarding::v1::OffboardingInput input;
      input.set_customer_id(absl::StrCat("cus_", run, "_", i));
      call->request.mutable_input()->PackFrom(input);
      call->ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
      auto& stub = stubs_[static_cast<size_t>(i) % stubs_.size()];
      ++outstanding;
      call->reader = stub->PrepareAsyncStartWorkflow(&call->ctx, call->request, &cq);
      call->reader->StartCall();
      Call* raw = call.release();
      raw->reader->Finish(&raw->response, &raw->status, raw);
    }
    sending_done = true;
    if (outstanding == 0) cq.Shutdown();
    poller.join();
    std::sort(latencies.begin(), latencies.end());
    r.achieved_rate = static_cast<double>(r.ok) / seconds;
    r.p50_ms = Percentile(latencies, 0.50);
    r.p99_ms = Percentile(latencies, 0.99);
    r.max_ms = latencies.empty() ? 0 : latencies.back();
    return r;
  }

 private:
  std::vector<std::unique_ptr<gv1::WorkflowService::Stub>> stubs_;
  int run_ = 0;
};

nlohmann::json ToJson(const RunResult& r) {
  nlohmann::json j = {{"offered_rate", r.offered_rate},
                      {"seconds", r.seconds},
                      {"sent", r.sent},
                      {"ok", r.ok},
                      {"errors", r.errors},
                      {"achieved_rate", r.achieved_rate},
                      {"p50_ms", r.p50_ms},
                      {"p99_ms", r.p99_ms},
                      {"max_ms", r.max_ms},
                      {"max_send_lag_ms", r.max_send_lag_ms}};
  if (!r.first_error.empty()) j["first_error"] = r.first_error;
  return j;
}

void Report(const RunResult& r, const std::string& what) {
  std::cerr << "gateway_start: " << what << " rate=" << r.offered_rate << "/s achieved=" << r.achieved_rate
            << "/s p50=" << r.p50_ms << "ms p99=" << r.p99_ms << "ms max=" << r.max_ms << "ms errors=" << r.errors
            << (r.first_error.empty() ? "" : " (" + r.first_error + ")") << "\n";
}

bool Held(const RunResult& r, double goal_ms) { return r.errors == 0 && r.ok > 0 && r.p99_ms < goal_ms; }

}  // namespace

int main(int argc, char** argv) {
  const Options options = ParseArgs(argc, argv);
  const std::string db_dsn = FreshMigratedDatabase(options.admin_dsn, kDatabase);

  cantdo::testing::TempDir dir;
  cantdo::testing::TestPki pki;
  // Hundreds of admissions a second from one operator, all to one ops
  // manager who never answers, is exactly what the approval limits refuse
  // (docs/security.md): the benchmark switches them off (docs/benchmarks.md).
  const nlohmann::json off = nullptr;
  nlohmann::json policy = {{"version", "bench-1"},
                           {"role_claim", "https://cantdo.dev/roles"},
                           {"approvers", {{"ops_manager", {"ops1"}}}},
                           {"limits",
                            {{"requester", {{"max_requests", off}}},
                             {"approver", {{"max_requests", off}, {"max_pending", off}}},
                             {"denials", {{"max_denials", off}}}}},
                           {"rules",
                            {{{"action", "workflow.start"},
                              {"resource", "customer_offboarding"},
                              {"decision", "REQUIRE_APPROVAL"},
                              {"required_role", "ops_manager"}}}}};
  std::ofstream(dir.path() + "/policy.json") << policy.dump(2);
  std::ofstream(dir.path() + "/jwks.json") << R"({"keys":[]})";
  auto authority_files = pki.WriteFiles(dir.path(), "authority");
  auto gateway_files = pki.WriteFiles(dir.path(), "gateway");

  auto common_config = [&](const cantdo::testing::TestPki::Files& files) {
    cantdo::runtime::CommonConfig common;
    common.listen = "127.0.0.1:0";
    common.tls_cert = files.cert;
    common.tls_key = files.key;
    common.tls_ca = files.ca;
    common.db_dsn = db_dsn;
    common.db_pool_size = options.pool_size;
    common.shutdown_grace = absl::Seconds(2);
    common.log_level = "warn";  // as --log-level warn: no per-call access log
    cantdo::log::Init("bench", cantdo::log::Level::kWarn);
    return common;
  };

  cantdo::authority::AuthorityApp authority;
  auto& ac = authority.config();
  ac.policy_file = dir.path() + "/policy.json";
  ac.oidc_issuer = "https://idp.bench/";
  ac.oidc_audience = "cantdo-authority";
  ac.oidc_jwks_uri = dir.path() + "/jwks.json";
  auto authority_started =
      cantdo::runtime::StartService(authority, common_config(authority_files), cantdo::SystemClock());
  Check(authority_started.status(), "start authority");
  std::unique_ptr<cantdo::runtime::RunningService> authority_service = *std::move(authority_started);

  cantdo::gateway::GatewayApp gateway;
  auto& gc = gateway.config();
  gc.authority_address = "127.0.0.1:" + std::to_string(authority_service->port());
  gc.callers = R"({"callers": [{"principal": "spiffe://cantdo/operator", "roles": ["operator"]}]})";
  gc.workflow_types = "customer_offboarding=offboarding";
  gc.rate_limit = 0;  // unlimited: the benchmark is one caller far above the default 50/s
  auto gateway_started = cantdo::runtime::StartService(gateway, common_config(gateway_files), cantdo::SystemClock());
  Check(gateway_started.status(), "start gateway");
  std::unique_ptr<cantdo::runtime::RunningService> gateway_service = *std::move(gateway_started);

  LoadGenerator load("127.0.0.1:" + std::to_string(gateway_service->port()), pki, options.channels);
  nlohmann::json out = {{"benchmark", "gateway_start"},      {"pool_size", options.pool_size},
                        {"channels", options.channels},      {"duration_s", options.duration_s},
                        {"warmup_s", options.warmup_s},      {"runs", options.runs},
                        {"p99_goal_ms", options.p99_goal_ms}};

  // At the offered rate, --runs times.
  std::vector<RunResult> runs;
  for (int i = 0; i < options.runs; ++i) {
    runs.push_back(load.Run(options.rate, options.warmup_s, options.duration_s));
    Report(runs.back(), absl::StrCat("offered run=", i + 1));
  }
  auto median = [&](double RunResult::*f) {
    std::vector<double> v;
    for (const auto& r : runs) v.push_back(r.*f);
    return Median(v);
  };
  nlohmann::json each = nlohmann::json::array();
  int64_t errors = 0;
  for (const auto& r : runs) {
    each.push_back(ToJson(r));
    errors += r.errors;
  }
  out["offered"] = {{"rate", options.rate},
                    {"achieved_rate", median(&RunResult::achieved_rate)},
                    {"p50_ms", median(&RunResult::p50_ms)},
                    {"p99_ms", median(&RunResult::p99_ms)},
                    {"max_ms", median(&RunResult::max_ms)},
                    {"errors", errors},
                    {"runs", each}};

  // The highest rate held: bracket by doubling (or halving), then bisect.
  nlohmann::json trials = nlohmann::json::array();
  auto trial = [&](double rate) {
    RunResult r = load.Run(rate, options.warmup_s, options.duration_s);
    Report(r, "search");
    trials.push_back(ToJson(r));
    return Held(r, options.p99_goal_ms);
  };
  double good = 0, bad = 0;
  nlohmann::json best;
  const bool offered_held = median(&RunResult::p99_ms) < options.p99_goal_ms && errors == 0;
  if (offered_held) {
    good = options.rate;
    for (double rate = std::min(options.rate * 2, options.max_rate); rate > good;
         rate = std::min(rate * 2, options.max_rate)) {
      if (!trial(rate)) {
        bad = rate;
        break;
      }
      good = rate;
      if (rate >= options.max_rate) break;
    }
  } else {
    bad = options.rate;
    for (double rate = options.rate / 2; rate >= 5; rate /= 2) {
      if (trial(rate)) {
        good = rate;
        break;
      }
      bad = rate;
    }
  }
  for (int s = 0; s < options.search_steps && bad > 0 && good > 0 && bad - good > 10; ++s) {
    const double mid = std::round((good + bad) / 2);
    if (trial(mid))
      good = mid;
    else
      bad = mid;
  }
  out["search"] = {
      {"highest_rate_held", good}, {"lowest_rate_missed", bad}, {"capped_at_max_rate", bad == 0}, {"trials", trials}};
  {
    auto conn = Connect(db_dsn);
    auto r = conn->Exec("SELECT (SELECT count(*) FROM cantdo.workflow_runs), (SELECT count(*) FROM cantdo.approvals)");
    Check(r.status(), "counts");
    out["runs_rows_at_end"] = *r->GetInt64(0, 0);
    out["approvals_rows_at_end"] = *r->GetInt64(0, 1);
  }
  gateway_service->Shutdown();
  authority_service->Shutdown();
  std::cout << out.dump(2) << std::endl;
  return 0;
}
