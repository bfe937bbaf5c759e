// engine_parked: worker memory while it holds many parked runs.
//
// Starts --runs runs (default 100,000; in batches of 1,000 per transaction)
// of a workflow that waits for a signal, lets one in-process Worker (sticky
// cache on, its default size) run each one's first workflow task until every
// run is parked, and reports the process's resident memory (VmRSS, which
// includes the worker, its pools and the client) before the runs and once
// all are parked, plus how long parking took. Then it signals --wake runs
// (default 100) and checks that they complete: parked runs cost memory only
// in the database, and resume from it.
//
// Output: one JSON document on stdout; progress on stderr.

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <string>
#include <thread>

#include <nlohmann/json.hpp>

#include "absl/strings/str_cat.h"
#include "cantdo/base/clock.hpp"
#include "cantdo/base/log.hpp"
#include "cantdo/pg/connection.hpp"
#include "cantdo/pg/pool.hpp"
#include "cantdo/pg/transaction.hpp"
#include "cantdo/workflow/client.hpp"
#include "cantdo/workflow/registry.hpp"
#include "cantdo/workflow/worker.hpp"
#include "cantdo/workflow/workflow_context.hpp"
#include "support/bench_support.hpp"

namespace {

using cantdo::bench::Check;
using cantdo::bench::Connect;
using cantdo::bench::FreshMigratedDatabase;
using cantdo::bench::ParseOrExit;

namespace wf = cantdo::workflow;
constexpr char kDatabase[] = "cantdo_bench_parked";

double RssMiB() {
  std::ifstream f("/proc/self/status");
  std::string line;
  while (std::getline(f, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::stod(line.substr(6)) / 1024.0;
  }
  return 0;
}

int64_t Count(cantdo::pg::Connection& conn, const std::string& sql) {
  auto r = conn.Exec(sql);
  Check(r.status(), sql);
  return *r->GetInt64(0, 0);
}

wf::Task<wf::Result> Park(wf::WorkflowContext& ctx, const wf::Payload&) { co_return co_await ctx.WaitSignal("go"); }

}  // namespace

int main(int argc, char** argv) {
  std::string admin_dsn;
  int runs = 100'000, wake = 100, concurrency = 4;
  cantdo::Options flags("engine_parked", "worker memory and wake-up with many runs parked on a signal");
  flags.String("dsn", &admin_dsn, "the benchmarks' PostgreSQL server (admin DSN)", true)
      .Int("runs", &runs, "runs parked on a signal")
      .Int("wake", &wake, "parked runs then woken (at most --runs)")
      .Int("concurrency", &concurrency, "the worker's task slots")
      .Check([&] {
        return runs >= 1 && wake >= 0 && concurrency >= 1 ? "" : "--runs and --concurrency at least 1, --wake >= 0";
      });
  ParseOrExit(flags, argc, argv);
  wake = std::min(wake, runs);
  cantdo::log::Init("bench", cantdo::log::Level::kWarn);
  const std::string dsn = FreshMigratedDatabase(admin_dsn, kDatabase);
  auto conn = Connect(dsn);

  wf::Registry registry;
  Check(registry.RegisterWorkflow("park", Park), "register");
  cantdo::pg::PoolOptions po;
  po.dsn = dsn;
  po.max_size = concurrency + 2;
  auto pool = cantdo::pg::Pool::Create(po);
  Check(pool.status(), "pool");
  wf::WorkerOptions wo;
  wo.dsn = dsn;
  wo.task_queues = {"parked"};
  wo.concurrency = concurrency;
  auto worker = wf::Worker::Create(**pool, registry, cantdo::SystemClock(), wo);
  Check(worker.status(), "worker");
  Check((*worker)->Start(), "worker start");
  absl::SleepFor(absl::Milliseconds(500));
  const double rss_before = RssMiB();

  wf::WorkflowClient client(cantdo::SystemClock());
  const auto t0 = std::chrono::steady_clock::now();
  constexpr int kBatch = 1000;
  for (int first = 0; first < runs; first += kBatch) {
    Check(cantdo::pg::RunInTransaction(**pool, {},
                                       [&](cantdo::pg::Connection& tx) -> absl::Status {
                                         for (int i = first; i < std::min(runs, first + kBatch); ++i) {
                                           wf::StartRequest r;
                                           r.workflow_id = absl::StrCat("parked-", i);
                                           r.workflow_type = "park";
                                           r.task_queue = "parked";
                                           auto st = client.Start(tx, r);
                                           if (!st.ok()) return st.status();
                                         }
                                         return absl::OkStatus();
                                       }),
          "start batch");
  }
  std::cerr << "engine_parked: " << runs << " runs started" << std::endl;
  double peak = RssMiB();
  while (Count(*conn, "SELECT count(*) FROM cantdo.workflow_tasks") > 0) {
    peak = std::max(peak, RssMiB());
    std::this_thread::sleep_for(std::chrono::seconds(1));
  }
  const double park_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const double rss_parked = RssMiB();
  const int64_t open = Count(*conn, "SELECT count(*) FROM cantdo.workflow_runs WHERE state = 2");
  std::cerr << "engine_parked: all parked after " << park_s << " s, RSS " << rss_parked << " MiB" << std::endl;

  for (int i = 0; i < wake; ++i) {
    Check(cantdo::pg::RunInTransaction(**pool, {},
                                       [&](cantdo::pg::Connection& tx) -> absl::Status {
                                         wf::SignalRequest s;
                                         s.workflow_id = absl::StrCat("parked-", i * (runs / wake));
                                         s.signal_name = "go";
                                         s.signal_id = "go-1";
                                         return client.Signal(tx, s).status();
                                       }),
          "signal");
  }
  int64_t completed = 0;
  for (int i = 0; i < 600 && completed < wake; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    completed = Count(*conn, "SELECT count(*) FROM cantdo.workflow_runs WHERE state = 3");
  }
  (*worker)->Stop();
  nlohmann::json out = {{"benchmark", "engine_parked"},
                        {"runs", runs},
                        {"open_runs", open},
                        {"rss_mib_before", rss_before},
                        {"rss_mib_parked", rss_parked},
                        {"rss_mib_peak", std::max(peak, rss_parked)},
                        {"seconds_to_park_all", park_s},
                        {"signalled", wake},
                        {"completed_after_signal", completed}};
  std::cout << out.dump(2) << std::endl;
  return completed == wake ? 0 : 1;
}
