// engine_three_step: the durable engine running a workflow of three no-op
// activities, the shape DBOS Transact is compared with (bench/dbos).
//
// One process hosts a libs/workflow Worker (--concurrency threads, sticky
// cache and eager activities on: the defaults cantdo-worker runs with) on a
// freshly migrated database. For each in-flight count K, K client threads
// each start a run (one transaction, as the gateway's admit or a client's
// Start would), wait until it has closed, and start the next, for a fixed
// duration, --runs times.
//
// Completion is observed without polling: one LISTEN connection on
// cantdo_workflow_events (the engine NOTIFYs with the run id when it
// commits events); on a wake-up the waiter checks the notified runs with one
// SELECT. Those SELECTs are counted, so "commits per workflow" is
//   (xact_commit delta in pg_stat_database - the bench's own statements)
//   / workflows completed
// over the whole run (warm-up included, sampled after a quiet second on
// each side because backends report counters at most once a second): the
// engine's transactions only, including its idle lease scans and the
// client's Start. Read-only transactions count, as in DBOS's figure.
//
// Output: one JSON document on stdout; progress on stderr.

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <iostream>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "cantdo/base/clock.hpp"
#include "cantdo/base/ids.hpp"
#include "cantdo/base/log.hpp"
#include "cantdo/pg/connection.hpp"
#include "cantdo/pg/listener.hpp"
#include "cantdo/pg/pool.hpp"
#include "cantdo/pg/transaction.hpp"
#include "cantdo/workflow/client.hpp"
#include "cantdo/workflow/registry.hpp"
#include "cantdo/workflow/worker.hpp"
#include "cantdo/workflow/workflow_context.hpp"
#include "support/bench_support.hpp"

namespace {

using cantdo::bench::AddRunOptions;
using cantdo::bench::Check;
using cantdo::bench::Connect;
using cantdo::bench::FreshMigratedDatabase;
using cantdo::bench::ParseCounts;
using cantdo::bench::ParseOrExit;

namespace wf = cantdo::workflow;
using SteadyClock = std::chrono::steady_clock;

constexpr char kDatabase[] = "cantdo_bench_engine";
constexpr char kQueue[] = "bench";

struct Options : cantdo::bench::RunOptions {
  std::vector<int> inflight = {1, 8, 32};
  int concurrency = 8;
  // Quiet time before each pg_stat_database sample: a backend that goes
  // idle less than a second after its last report holds its counts back
  // for up to 10 s (PostgreSQL's PGSTAT_IDLE_INTERVAL).
  double settle_s = 11;
};

Options ParseArgs(int argc, char** argv) {
  Options o;
  std::string inflight = "1,8,32";
  cantdo::Options flags("engine_three_step", "three-step workflows through the engine, beside DBOS Transact");
  o.pool_size = 16;
  AddRunOptions(flags, &o);
  flags.String("inflight", &inflight, "workflows kept in flight per configuration, e.g. 1,8,32")
      .Int("concurrency", &o.concurrency, "the worker's task slots")
      .Double("settle", &o.settle_s, "quiet seconds before each pg_stat_database sample")
      .Check([&] { return ParseCounts(inflight, "inflight", &o.inflight); })
      .Check([&] { return o.concurrency >= 1 ? "" : "--concurrency must be at least 1"; });
  ParseOrExit(flags, argc, argv);
  return o;
}

double Percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<size_t>(p * (v.size() - 1) + 0.5))];
}
double Median(std::vector<double> v) { return Percentile(std::move(v), 0.5); }

cantdo::workflow::Task<wf::Result> ThreeSteps(wf::WorkflowContext& ctx, const wf::Payload& input) {
  wf::Result a = co_await ctx.ExecuteActivity("noop", input);
  if (!a.ok()) co_return a;
  wf::Result b = co_await ctx.ExecuteActivity("noop", *a);
  if (!b.ok()) co_return b;
  co_return co_await ctx.ExecuteActivity("noop", *b);
}

// Wakes the client thread waiting for a run once that run has closed.
class CompletionWaiter {
 public:
  explicit CompletionWaiter(const std::string& dsn) : dsn_(dsn) {
    auto l = cantdo::pg::Listener::Create(dsn);
    Check(l.status(), "listener");
    listener_ = *std::move(l);
    Check(listener_->Listen("cantdo_workflow_events"), "listen");
    reader_ = Connect(dsn);
    // The waiter's lookup by run id is planned (and, prepared, cached) while
    // workflow_runs is nearly empty; PostgreSQL then prefers a sequential
    // scan, which it keeps as the table grows to thousands of rows, making
    // the observer, not the engine, a large share of the database's work.
    Check(reader_->Exec("SET enable_seqscan = off").status(), "waiter settings");
    thread_ = std::thread([this] { Loop(); });
  }
  ~CompletionWaiter() {
    stop_ = true;
    thread_.join();
  }
  void Expect(const std::string& run_id) {
    std::lock_guard<std::mutex> lock(mu_);
    waiting_.insert(run_id);
  }
  void Wait(const std::string& run_id) {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait(lock, [&] { return done_.erase(run_id) > 0; });
  }
  int64_t statements() const { return statements_.load(); }

 private:
  void Loop() {
    while (!stop_) {
      std::set<std::string> notified;
      auto n = listener_->Wait(absl::Now() + absl::Milliseconds(100));
      Check(n.status(), "listener wait");
      if (!n->has_value()) continue;
      notified.insert((*n)->payload);
      // Drain whatever else is already there, then check them all at once.
      while (true) {
        auto more = listener_->Wait(absl::Now());
        Check(more.status(), "listener wait");
        if (!more->has_value()) break;
        notified.insert((*more)->payload);
      }
      std::vector<std::string> ids;
      {
        std::lock_guard<std::mutex> lock(mu_);
        for (const auto& id : notified) {
          if (waiting_.count(id)) ids.push_back(id);
        }
      }
      if (ids.empty()) continue;
      ++statements_;
      auto r = reader_->Exec(
          "SELECT run_id::text FROM cantdo.workflow_runs WHERE run_id = ANY($1::uuid[]) AND close_time IS NOT NULL",
          {"{" + absl::StrJoin(ids, ",") + "}"});
      Check(r.status(), "closed runs");
      std::lock_guard<std::mutex> lock(mu_);
      for (int i = 0; i < r->Rows(); ++i) {
        std::string id = *r->GetString(i, 0);
        waiting_.erase(id);
        done_.insert(id);
      }
      cv_.notify_all();
    }
  }

  std::string dsn_;
  std::unique_ptr<cantdo::pg::Listener> listener_;
  std::unique_ptr<cantdo::pg::Connection> reader_;
  std::thread thread_;
  std::atomic<bool> stop_{false};
  std::atomic<int64_t> statements_{0};
  std::mutex mu_;
  std::condition_variable cv_;
  std::set<std::string> waiting_, done_;
};

std::string WalLsn(cantdo::pg::Connection& conn) {
  auto r = conn.Exec("SELECT pg_current_wal_lsn()::text");
  Check(r.status(), "pg_current_wal_lsn");
  return *r->GetString(0, 0);
}

int64_t XactCommit(cantdo::pg::Connection& conn) {
  auto r = conn.Exec("SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()");
  Check(r.status(), "pg_stat_database");
  return *r->GetInt64(0, 0);
}

struct RunResult {
  int inflight = 0;
  double seconds = 0;
  int64_t workflows = 0;
  double workflows_per_s = 0, p50_ms = 0, p99_ms = 0, commits_per_workflow = 0;
  int64_t completed = 0;  // every workflow of the run, warm-up included
  std::string wal_start, wal_end;
};

}  // namespace

int main(int argc, char** argv) {
  const Options options = ParseArgs(argc, argv);
  const std::string dsn = FreshMigratedDatabase(options.admin_dsn, kDatabase);
  cantdo::log::Init("bench", cantdo::log::Level::kWarn);

  wf::Registry registry;
  Check(registry.RegisterWorkflow("three_step", ThreeSteps), "register workflow");
  Check(registry.RegisterActivity("noop", [](wf::ActivityContext&, const wf::Payload& in) -> wf::Result { return in; }),
        "register activity");
  cantdo::pg::PoolOptions po;
  po.dsn = dsn;
  po.max_size = options.pool_size;
  auto pool = cantdo::pg::Pool::Create(po);
  Check(pool.status(), "pool");
  wf::WorkerOptions wo;
  wo.dsn = dsn;
  wo.task_queues = {kQueue};
  wo.concurrency = options.concurrency;
  wo.identity = "bench";
  auto worker = wf::Worker::Create(**pool, registry, cantdo::SystemClock(), wo);
  Check(worker.status(), "worker");
  Check((*worker)->Start(), "worker start");

  // The clients start runs through their own pool, as a separate service would.
  auto client_pool = cantdo::pg::Pool::Create(po);
  Check(client_pool.status(), "client pool");
  wf::WorkflowClient client(cantdo::SystemClock());
  CompletionWaiter waiter(dsn);
  auto stats_conn = Connect(dsn);
  std::atomic<int64_t> seq{0};

  nlohmann::json out = {{"benchmark", "engine_three_step"},
                        {"concurrency", options.concurrency},
                        {"duration_s", options.duration_s},
                        {"warmup_s", options.warmup_s},
                        {"runs", options.runs},
                        {"results", nlohmann::json::array()}};
  for (int inflight : options.inflight) {
    std::vector<RunResult> runs;
    for (int run = 0; run < options.runs; ++run) {
      std::atomic<bool> measuring{false}, stop{false};
      std::mutex mu;
      std::vector<double> latencies;
      std::atomic<int64_t> started_in_window{0};
      std::atomic<int64_t> completed{0};
      // Sample pg_stat_database only after a quiet spell (--settle), and
      // note the WAL position: bench/driver.py counts the COMMIT records
      // between the two (write transactions, exactly).
      std::this_thread::sleep_for(std::chrono::duration<double>(options.settle_s));
      const int64_t commits0 = XactCommit(*stats_conn);
      const std::string wal0 = WalLsn(*stats_conn);
      const int64_t own0 = waiter.statements();
      std::vector<std::thread> threads;
      for (int c = 0; c < inflight; ++c) {
        threads.emplace_back([&] {
          std::vector<double> mine;
          while (!stop.load()) {
            const bool counted = measuring.load();
            wf::StartRequest r;
            r.workflow_id = absl::StrCat("bench-", seq.fetch_add(1));
            r.workflow_type = "three_step";
            r.task_queue = kQueue;
            // The run id is ours, so the waiter knows it before the run can
            // finish (a fast run may close before Start even returns).
            r.run_id = cantdo::NewUuid();
            waiter.Expect(r.run_id);
            const auto t0 = SteadyClock::now();
            auto started = cantdo::pg::RunInTransaction(
                **client_pool, {}, [&](cantdo::pg::Connection& tx) { return client.Start(tx, r); });
            Check(started.status(), "start");
            waiter.Wait(r.run_id);
            ++completed;
            if (counted) mine.push_back(std::chrono::duration<double, std::milli>(SteadyClock::now() - t0).count());
          }
          std::lock_guard<std::mutex> lock(mu);
          latencies.insert(latencies.end(), mine.begin(), mine.end());
        });
      }
      std::this_thread::sleep_for(std::chrono::duration<double>(options.warmup_s));
      const auto start = SteadyClock::now();
      measuring = true;
      std::this_thread::sleep_for(std::chrono::duration<double>(options.duration_s));
      measuring = false;
      const auto end = SteadyClock::now();
      stop = true;
      for (auto& t : threads) t.join();
      // Every run started has finished: the commits of the whole run
      // (warm-up included) over every workflow of it, minus the bench's
      // own statements (the waiter's checks and the first sample).
      const std::string wal1 = WalLsn(*stats_conn);
      std::this_thread::sleep_for(std::chrono::duration<double>(options.settle_s));
      const int64_t commits = XactCommit(*stats_conn) - commits0 - (waiter.statements() - own0) -
                              3;  // the first sample and the two WAL positions
      RunResult rr;
      rr.inflight = inflight;
      rr.seconds = std::chrono::duration<double>(end - start).count();
      rr.workflows = static_cast<int64_t>(latencies.size());
      rr.workflows_per_s = rr.workflows / rr.seconds;
      rr.p50_ms = Percentile(latencies, 0.5);
      rr.p99_ms = Percentile(latencies, 0.99);
      rr.commits_per_workflow = completed ? static_cast<double>(commits) / completed.load() : 0;
      rr.completed = completed.load();
      rr.wal_start = wal0;
      rr.wal_end = wal1;
      const auto stats = (*worker)->Stats();
      std::cerr << "engine_three_step: worker so far: workflow_tasks=" << stats.workflow_tasks
                << " activities=" << stats.activities_started << " eager=" << stats.activities_eager
                << " empty_polls=" << stats.empty_polls << " conflicts=" << stats.history_conflicts
                << " cache_hits=" << stats.cache_hits << "\n";
      std::cerr << "engine_three_step: inflight=" << inflight << " run=" << run + 1
                << " workflows/s=" << rr.workflows_per_s << " p50=" << rr.p50_ms << "ms p99=" << rr.p99_ms
                << "ms commits/workflow=" << rr.commits_per_workflow << "\n";
      runs.push_back(rr);
    }
    auto median = [&](double RunResult::*f) {
      std::vector<double> v;
      for (const auto& r : runs) v.push_back(r.*f);
      return Median(v);
    };
    nlohmann::json each = nlohmann::json::array();
    for (const auto& r : runs) {
      each.push_back({{"inflight", r.inflight},
                      {"seconds", r.seconds},
                      {"workflows", r.workflows},
                      {"workflows_per_s", r.workflows_per_s},
                      {"p50_ms", r.p50_ms},
                      {"p99_ms", r.p99_ms},
                      {"commits_per_workflow", r.commits_per_workflow},
                      {"completed", r.completed},
                      {"wal_start", r.wal_start},
                      {"wal_end", r.wal_end}});
    }
    out["results"].push_back({{"inflight", inflight},
                              {"workflows_per_s", median(&RunResult::workflows_per_s)},
                              {"p50_ms", median(&RunResult::p50_ms)},
                              {"p99_ms", median(&RunResult::p99_ms)},
                              {"commits_per_workflow", median(&RunResult::commits_per_workflow)},
                              {"runs", each}});
  }
  (*worker)->Stop();
  std::cout << out.dump(2) << std::endl;
  return 0;
}
