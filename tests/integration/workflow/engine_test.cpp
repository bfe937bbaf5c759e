#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <random>
#include <thread>

#include <catch2/catch.hpp>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "cantdo/base/ids.hpp"
#include "cantdo/base/status.hpp"
#include "cantdo/workflow/backlog.hpp"
#include "support/wait.hpp"
#include "workflow_env.hpp"

namespace {

using namespace cantdo::workflow;
using namespace cantdo::workflow::test;
using cantdo::GetReason;
namespace pg = cantdo::pg;

// Drives a worker on this thread until it finds nothing to do.
void Drain(Worker& w) {
  for (int i = 0; i < 10000; ++i) {
    if (!Ok(w.RunOnce())) return;
  }
  FAIL("worker never ran out of work");
}

int64_t XactCommits(Env& env) {
  auto conn = cantdo::testing::TestDatabase::ConnectAdmin();
  Ok(conn->Exec("SELECT pg_stat_clear_snapshot()"));
  auto r =
      Ok(conn->Exec("SELECT xact_commit FROM pg_stat_database WHERE datname = $1", {pg::TextParam(env.db.Name())}));
  return Ok(r.GetInt64(0, 0));
}

// Waits until no session is connected to the test's database: a backend
// adds its counters to pg_stat_database as it exits, before it leaves
// pg_stat_activity (PostgreSQL 15's shared-memory statistics).
void WaitBackendsGone(Env& env) {
  auto conn = cantdo::testing::TestDatabase::ConnectAdmin();
  const bool gone = cantdo::testing::WaitUntil(
      [&] {
        auto r =
            Ok(conn->Exec("SELECT count(*) FROM pg_stat_activity WHERE datname = $1", {pg::TextParam(env.db.Name())}));
        return Ok(r.GetInt64(0, 0)) == 0;
      },
      absl::Seconds(10), absl::Milliseconds(10));
  REQUIRE(gone);
}

// A workflow of three activities that do nothing: the engine's own cost.
void RegisterNoop3(Env& env) {
  REQUIRE(env.registry.RegisterActivity("noop", [](ActivityContext&, const Payload& in) -> Result { return in; }).ok());
  REQUIRE(env.registry
              .RegisterWorkflow("noop3",
                                [](WorkflowContext& ctx, const Payload& in) -> Task<Result> {
                                  Result a = co_await ctx.ExecuteActivity("noop", in);
                                  Result b = co_await ctx.ExecuteActivity("noop", *a);
                                  co_return co_await ctx.ExecuteActivity("noop", *b);
                                })
              .ok());
}

// Autovacuum/autoanalyze transactions would count too: a quiet database.
void NoAutovacuum(Env& env) {
  auto conn = env.db.Connect();
  for (const char* t : {"workflow_runs", "workflow_events", "workflow_tasks", "activity_tasks", "workflow_timers",
                        "workflow_signals"}) {
    Ok(conn->ExecScript(std::string("ALTER TABLE cantdo.") + t +
                        " SET (autovacuum_enabled = false, toast.autovacuum_enabled = false)"));
  }
}

}  // namespace

TEST_CASE("Three sequential activities complete, each applied once, with the sticky cache on and off",
          "[integration][workflow]") {
  const bool sticky = GENERATE(true, false);
  Env env;
  RegisterRecord(env.registry, env.db.Dsn());
  for (int i = 0; i < 5; ++i) env.Start("wf-" + std::to_string(i), "three_steps", PackString("x"));
  auto worker = env.NewWorker(sticky);
  Ok(worker->Start());
  for (int i = 0; i < 5; ++i) {
    REQUIRE(env.WaitState("wf-" + std::to_string(i), v1::WORKFLOW_EXECUTION_STATE_COMPLETED));
  }
  worker->Stop();
  CHECK(env.Count("SELECT count(*) FROM public.side_effects") == 15);
  CHECK(env.Count("SELECT count(*) FROM cantdo.activity_tasks") == 0);
  CHECK(env.Count("SELECT count(*) FROM cantdo.workflow_tasks") == 0);
  if (sticky) CHECK(worker->Stats().cache_hits > 0);
}

TEST_CASE("A three-step workflow costs at most 4 commits after its start", "[integration][workflow]") {
  Env env;
  RegisterNoop3(env);
  constexpr int kRuns = 20;
  NoAutovacuum(env);
  for (int i = 0; i < kRuns; ++i) env.Start("c-" + std::to_string(i), "noop3");
  // Backends report their counters when they exit: measure with the pool
  // closed on both sides.
  env.pool.reset();
  WaitBackendsGone(env);
  int64_t before = XactCommits(env);
  {
    pg::PoolOptions o;
    o.dsn = env.db.Dsn();
    o.max_size = 2;
    o.validate_on_create = false;
    auto pool = Ok(pg::Pool::Create(o));
    auto w = Ok(Worker::Create(*pool, env.registry, env.clock, WorkerOptions{.task_queues = {"q"}, .concurrency = 1}));
    Drain(*w);
    auto st = w->Stats();
    INFO("workflow tasks " << st.workflow_tasks << ", conflicts " << st.history_conflicts << ", activities "
                           << st.activities_started << ", eager " << st.activities_eager);
    CHECK(st.workflow_tasks == 4 * kRuns);
    CHECK(st.activities_eager == 3 * kRuns);
  }
  WaitBackendsGone(env);
  int64_t after = XactCommits(env);
  // The last RunOnce found nothing: 4 read-only polls; one commit is the
  // first XactCommits' own connection, if it counted.
  const double per_workflow = static_cast<double>(after - before - 4) / kRuns;
  INFO("commits: " << (after - before) << ", per workflow: " << per_workflow);
  // The engine's own count is exact (4 transactions per workflow, checked
  // through Stats above); pg_stat_database also sees a few commits from
  // connection set-up and the statistics machinery, hence the margin.
  CHECK(per_workflow <= 5.0);
  pg::PoolOptions o;
  o.dsn = env.db.Dsn();
  env.pool = Ok(pg::Pool::Create(o));
  for (int i = 0; i < kRuns; ++i) {
    CHECK(env.Describe("c-" + std::to_string(i)).state() == v1::WORKFLOW_EXECUTION_STATE_COMPLETED);
  }
}

TEST_CASE(
    "Runs whose steps finish together share transactions: 64 three-step runs on 8 threads, under 2.5 commits a run",
    "[integration][workflow]") {
  Env env;
  RegisterNoop3(env);
  constexpr int kRuns = 64;
  NoAutovacuum(env);
  for (int i = 0; i < kRuns; ++i) env.Start("b-" + std::to_string(i), "noop3");
  env.pool.reset();  // backends report their counters when they exit
  WaitBackendsGone(env);
  const int64_t before = XactCommits(env);
  WorkerStats stats;
  {
    pg::PoolOptions o;
    o.dsn = env.db.Dsn();
    o.max_size = 8;
    o.validate_on_create = false;
    auto pool = Ok(pg::Pool::Create(o));
    // No periodic full scans during the run: notifications drive it.
    auto w = Ok(Worker::Create(
        *pool, env.registry, env.clock,
        WorkerOptions{
            .dsn = env.db.Dsn(), .task_queues = {"q"}, .concurrency = 8, .poll_interval = absl::Seconds(30)}));
    Ok(w->Start());
    w->Wake();
    const absl::Time deadline = absl::Now() + absl::Seconds(60);
    while (w->Stats().workflow_tasks < 4 * kRuns && absl::Now() < deadline) absl::SleepFor(absl::Milliseconds(10));
    w->Stop();
    stats = w->Stats();
  }
  WaitBackendsGone(env);
  const int64_t after = XactCommits(env);
  INFO("workflow tasks " << stats.workflow_tasks << ", activities " << stats.activities_started << ", batches "
                         << stats.completion_batches << ", empty polls " << stats.empty_polls << ", commits "
                         << (after - before));
  REQUIRE(stats.workflow_tasks == 4 * kRuns);
  CHECK(stats.activities_started == 3 * kRuns);
  CHECK(stats.completion_batches > 0);
  // One at a time this would be 1 + 3 per run (first task, three results)
  // plus the idle scans; batched, results of several runs share commits.
  CHECK(static_cast<double>(after - before) / kRuns < 2.5);
  pg::PoolOptions o;
  o.dsn = env.db.Dsn();
  env.pool = Ok(pg::Pool::Create(o));
  for (int i = 0; i < kRuns; ++i) {
    CHECK(env.Describe("b-" + std::to_string(i)).state() == v1::WORKFLOW_EXECUTION_STATE_COMPLETED);
  }
  CHECK(env.Count("SELECT count(*) FROM cantdo.workflow_events WHERE event_type = 32") ==
        3 * kRuns);  // ActivityTaskCompleted, once each
}

namespace {
// Returns what its admission approved (canonical JSON), "" without one.
Task<Result> ApprovedJson(WorkflowContext& ctx, const Payload&) {
  const v1::WorkflowExecutionAdmittedEventAttributes* a = ctx.admission();
  co_return PackString(a == nullptr ? "" : a->parameters_json());
}
// Continues as new once, then returns what its admission approved.
Task<Result> ContinueThenApprovedJson(WorkflowContext& ctx, const Payload& in) {
  if (in.type_url().empty()) co_return ctx.ContinueAsNew(PackString("second run"));
  co_return co_await ApprovedJson(ctx, in);
}
}  // namespace

TEST_CASE(
    "A run pending admission has no task and refuses signals until cantdo.workflow_admit admits it, once, "
    "with its consumed grant, and its code sees the approved parameters",
    "[integration][workflow]") {
  Env env;
  REQUIRE(env.registry.RegisterWorkflow("approved_json", ApprovedJson).ok());
  std::string run = env.Start("adm", "approved_json", PackString("x"), /*pending=*/true);
  auto worker = env.NewWorker(false);
  Drain(*worker);
  CHECK(env.Count("SELECT count(*) FROM cantdo.workflow_tasks") == 0);
  CHECK(env.Describe("adm").state() == v1::WORKFLOW_EXECUTION_STATE_PENDING_ADMISSION);
  auto s = env.Signal("adm", "x", "sig-1");
  CHECK(GetReason(s.status()) == "WORKFLOW_NOT_ADMITTED");
  CHECK(GetReason(env.Signal("nope", "x", "sig-1").status()) == "WORKFLOW_NOT_FOUND");

  const std::string grant = env.ConsumedAdmissionGrant(run, R"({"customer_id":"cus_42"})");
  CHECK(env.AdmitWith(grant) == "ADMITTED");
  CHECK(env.AdmitWith(grant) == "ALREADY_ADMITTED");  // delivered twice
  CHECK(env.Count("SELECT count(*) FROM cantdo.workflow_tasks") == 1);
  Drain(*worker);
  CHECK(env.Describe("adm").state() == v1::WORKFLOW_EXECUTION_STATE_COMPLETED);
  int admitted = 0;
  Payload result;
  for (const auto& e : env.History(run)) {
    if (e.has_workflow_execution_admitted()) {
      ++admitted;
      const auto& a = e.workflow_execution_admitted();
      CHECK(a.grant_id() == grant);
      CHECK(a.action() == "workflow.start");
      CHECK(a.resource() == "approved_json");
      CHECK(a.parameters_json() == R"({"customer_id":"cus_42"})");
      CHECK(a.parameters_hash() == cantdo::Sha256Hex(R"({"customer_id":"cus_42"})"));
      CHECK(a.approver_subjects_size() == 1);
    }
    if (e.has_workflow_execution_completed()) result = e.workflow_execution_completed().result();
  }
  CHECK(admitted == 1);
  CHECK(Ok(Unpack<google::protobuf::StringValue>(result)).value() == R"({"customer_id":"cus_42"})");
  CHECK(GetReason(env.Signal("adm", "x", "sig-2").status()) == "WORKFLOW_ALREADY_CLOSED");

  env.Start("rej", "approved_json", {}, true);
  Ok(env.Tx([&](pg::Connection& c) {
    return env.client.RejectAdmission(c, "rej", "", cantdo::common::v1::APPROVAL_DENIED, "appr-2", "denied");
  }));
  CHECK(env.Describe("rej").state() == v1::WORKFLOW_EXECUTION_STATE_REJECTED);
  CHECK(env.AdmitWith(env.ConsumedAdmissionGrant(env.Describe("rej").run_id())) == "CLOSED");
}

TEST_CASE(
    "Admission needs the run's own consumed workflow.start grant, and not even the owner of the engine's "
    "tables can move a run out of PENDING_ADMISSION or give it a task otherwise",
    "[integration][workflow]") {
  Env env;
  REQUIRE(env.registry.RegisterWorkflow("approved_json", ApprovedJson).ok());
  const std::string run = env.Start("gated", "approved_json", {}, /*pending=*/true);
  const std::string other = env.Start("other", "approved_json", {}, /*pending=*/true);
  CHECK(env.AdmitWith(cantdo::NewUuid()) == "GRANT_NOT_CONSUMED");
  CHECK(env.AdmitWith("not a uuid") == "GRANT_NOT_CONSUMED");
  // Issued, not consumed.
  const std::string grant = env.ConsumedAdmissionGrant(run);
  {
    auto conn = env.db.Connect();
    Ok(conn->Exec("UPDATE cantdo.grants SET state = 'ISSUED' WHERE grant_id = $1::uuid", {grant}));
    CHECK(env.AdmitWith(grant) == "GRANT_NOT_CONSUMED");
    // Consumed, but the run names another approval: the grant of `other`
    // for `run`'s workflow and run id.
    Ok(conn->Exec("UPDATE cantdo.grants SET state = 'CONSUMED' WHERE grant_id = $1::uuid", {grant}));
    const std::string foreign = env.ConsumedAdmissionGrant(other);
    Ok(conn->Exec("UPDATE cantdo.grants g SET workflow_id = 'gated', run_id = $2 WHERE grant_id = $1::uuid",
                  {foreign, run}));
    CHECK(env.AdmitWith(foreign) == "APPROVAL_MISMATCH");
    // The approval's parameters no longer hash to the grant's.
    Ok(
        conn->Exec("UPDATE cantdo.approvals SET parameters = '{\"customer_id\":\"cus_77\"}'"
                   " WHERE grant_id = $1::uuid",
                   {grant}));
    CHECK(env.AdmitWith(grant) == "APPROVAL_MISMATCH");
    Ok(conn->Exec("UPDATE cantdo.approvals SET parameters = '{}' WHERE grant_id = $1::uuid", {grant}));

    // As the owner, directly: refused by the database itself.
    const std::string other_run = env.Describe("other").run_id();
    CHECK_FALSE(
        conn->Exec("UPDATE cantdo.workflow_runs SET state = 2, admit_time = now() WHERE run_id = $1::uuid", {other_run})
            .ok());
    CHECK_FALSE(conn->Exec("INSERT INTO cantdo.workflow_tasks (run_id, task_queue, visible_at)"
                           " VALUES ($1::uuid, 'q', now())",
                           {other_run})
                    .ok());
    CHECK_FALSE(conn->Exec("INSERT INTO cantdo.workflow_timers (run_id, timer_id, started_event_id, task_queue,"
                           " fire_at) VALUES ($1::uuid, 't1', 1, 'q', now())",
                           {other_run})
                    .ok());
    CHECK_FALSE(conn->Exec("INSERT INTO cantdo.activity_tasks (run_id, scheduled_event_id, task_queue,"
                           " activity_type, visible_at, scheduled_at) VALUES ($1::uuid, 1, 'q', 'a', now(), now())",
                           {other_run})
                    .ok());
    CHECK_FALSE(
        conn->Exec("UPDATE cantdo.workflow_runs SET admission_approval_id = '' WHERE run_id = $1::uuid", {other_run})
            .ok());
  }
  CHECK(env.Describe("other").state() == v1::WORKFLOW_EXECUTION_STATE_PENDING_ADMISSION);
  CHECK(env.Describe("gated").state() == v1::WORKFLOW_EXECUTION_STATE_PENDING_ADMISSION);
  CHECK(env.AdmitWith(grant) == "ADMITTED");
  CHECK(env.Describe("gated").state() == v1::WORKFLOW_EXECUTION_STATE_RUNNING);
  CHECK(env.Count("SELECT count(*) FROM cantdo.workflow_tasks") == 1);
  // Closed runs stay closed.
  Ok(env.Tx([&](pg::Connection& c) { return env.client.Terminate(c, "gated", "", "test over", "test"); }));
  auto conn = env.db.Connect();
  CHECK_FALSE(conn->Exec("UPDATE cantdo.workflow_runs SET state = 2 WHERE run_id = $1::uuid", {run}).ok());
}

TEST_CASE("A run created by continue-as-new carries its chain's admission", "[integration][workflow]") {
  Env env;
  REQUIRE(env.registry.RegisterWorkflow("continue_once", ContinueThenApprovedJson).ok());
  const std::string first = env.Start("chain", "continue_once", {}, /*pending=*/true);
  CHECK(env.AdmitWith(env.ConsumedAdmissionGrant(first, R"({"n":1})")) == "ADMITTED");
  auto worker = env.NewWorker(false);
  Drain(*worker);
  const std::string next =
      Ok(env.Tx([&](pg::Connection& c) { return env.client.Describe(c, "chain", first); })).next_run_id();
  REQUIRE_FALSE(next.empty());
  const v1::WorkflowExecution second =
      Ok(env.Tx([&](pg::Connection& c) { return env.client.Describe(c, "chain", next); }));
  REQUIRE(second.state() == v1::WORKFLOW_EXECUTION_STATE_COMPLETED);
  Payload result;
  for (const auto& e : env.History(second.run_id())) {
    if (e.has_workflow_execution_completed()) result = e.workflow_execution_completed().result();
  }
  CHECK(Ok(Unpack<google::protobuf::StringValue>(result)).value() == R"({"n":1})");
}

namespace {
Task<Result> TwoSignals(WorkflowContext& ctx, const Payload&) {
  Result first = co_await ctx.WaitSignal("go");
  if (!first.ok()) co_return first;
  Result second = co_await ctx.WaitSignal("go");
  if (!second.ok()) co_return second;
  auto a = Unpack<google::protobuf::StringValue>(*first);
  auto b = Unpack<google::protobuf::StringValue>(*second);
  co_return PackString(a->value() + b->value());
}
}  // namespace

TEST_CASE("Signals sent before the wait are buffered, and a duplicate signal id is recorded once",
          "[integration][workflow]") {
  Env env;
  REQUIRE(env.registry.RegisterWorkflow("two_signals", TwoSignals).ok());
  std::string run = env.Start("sig", "two_signals");
  // Both signals arrive before any workflow task ran; the first twice.
  auto first = Ok(env.Signal("sig", "go", "s1", PackString("a")));
  auto dup = Ok(env.Signal("sig", "go", "s1", PackString("a")));
  CHECK(dup.duplicate);
  CHECK(dup.event_id == first.event_id);
  Ok(env.Signal("sig", "go", "s2", PackString("b")));
  auto worker = env.NewWorker(false);
  Drain(*worker);
  auto x = env.Describe("sig");
  REQUIRE(x.state() == v1::WORKFLOW_EXECUTION_STATE_COMPLETED);
  int signals = 0;
  Payload result;
  for (const auto& e : env.History(run)) {
    signals += e.has_signal_received();
    if (e.has_workflow_execution_completed()) result = e.workflow_execution_completed().result();
  }
  CHECK(signals == 2);
  CHECK(Ok(Unpack<google::protobuf::StringValue>(result)).value() == "ab");
}

namespace {
// The whole first signal "go": who sent it, as recorded.
Task<Result> WhoSignalled(WorkflowContext& ctx, const Payload&) {
  co_return co_await ctx.ReceiveSignal("go", std::nullopt);
}
}  // namespace

TEST_CASE(
    "Every signal records its sender, which workflow code can read: the principal the service acted for and "
    "the database role that delivered it",
    "[integration][workflow]") {
  Env env;
  REQUIRE(env.registry.RegisterWorkflow("who", WhoSignalled).ok());
  std::string run = env.Start("who", "who");
  SignalRequest s;
  s.workflow_id = "who";
  s.signal_name = "go";
  s.signal_id = "s1";
  s.payload = PackString("a");
  s.identity = "spiffe://cantdo/operator";
  Ok(env.Tx([&](pg::Connection& c) { return env.client.Signal(c, s); }));
  auto worker = env.NewWorker(false);
  Drain(*worker);
  REQUIRE(env.Describe("who").state() == v1::WORKFLOW_EXECUTION_STATE_COMPLETED);
  std::string session_user;
  {
    auto conn = env.db.Connect();
    session_user = Ok(Ok(conn->Exec("SELECT session_user::text")).GetString(0, 0));
  }
  for (const auto& e : env.History(run)) {
    if (e.has_signal_received()) {
      CHECK(e.signal_received().identity() == "spiffe://cantdo/operator");
      CHECK(e.signal_received().delivered_by() == session_user);  // a superuser: its own name
    }
    if (!e.has_workflow_execution_completed()) continue;
    auto got = Ok(Unpack<v1::SignalReceivedEventAttributes>(e.workflow_execution_completed().result()));
    CHECK(got.signal_name() == "go");
    CHECK(got.signal_id() == "s1");
    CHECK(got.identity() == "spiffe://cantdo/operator");
    CHECK(got.delivered_by() == session_user);
    CHECK(Ok(Unpack<google::protobuf::StringValue>(got.payload())).value() == "a");
  }
}

namespace {
Task<Result> ParkThenStep(WorkflowContext& ctx, const Payload& in) {
  Result s = co_await ctx.WaitSignal("approval_decided");
  if (!s.ok()) co_return s;
  co_return co_await ctx.ExecuteActivity("record", in);
}
Task<Result> SleepDay(WorkflowContext& ctx, const Payload&) {
  absl::Time before = ctx.Now();
  Result r = co_await ctx.Sleep(absl::Hours(24));
  if (!r.ok()) co_return r;
  co_return PackInt64(absl::ToInt64Seconds(ctx.Now() - before));
}
}  // namespace

TEST_CASE("A run parked on a signal for three days with no worker resumes when the signal and a new worker arrive",
          "[integration][workflow]") {
  const bool sticky = GENERATE(true, false);
  Env env;
  RegisterRecord(env.registry, env.db.Dsn());
  REQUIRE(env.registry.RegisterWorkflow("park", ParkThenStep).ok());
  REQUIRE(env.registry.RegisterWorkflow("sleep_day", SleepDay).ok());
  env.Start("park", "park", PackString("p"));
  env.Start("sleeper", "sleep_day");
  {
    auto w1 = env.NewWorker(sticky);
    Drain(*w1);
  }  // worker gone
  CHECK(env.Describe("park").state() == v1::WORKFLOW_EXECUTION_STATE_RUNNING);
  env.clock.Advance(absl::Hours(72));
  Ok(env.Signal("park", "approval_decided", "appr-9:APPROVED"));
  auto w2 = env.NewWorker(sticky);
  Drain(*w2);
  CHECK(env.Describe("park").state() == v1::WORKFLOW_EXECUTION_STATE_COMPLETED);
  // The day-long timer set before the restart fired after it.
  CHECK(env.Describe("sleeper").state() == v1::WORKFLOW_EXECUTION_STATE_COMPLETED);
  CHECK(env.Count("SELECT count(*) FROM cantdo.workflow_timers") == 0);
}

TEST_CASE("A timer does not fire early", "[integration][workflow]") {
  Env env;
  REQUIRE(env.registry.RegisterWorkflow("sleep_day", SleepDay).ok());
  env.Start("s", "sleep_day");
  auto w = env.NewWorker(true);
  Drain(*w);
  env.clock.Advance(absl::Hours(23));
  Drain(*w);
  CHECK(env.Describe("s").state() == v1::WORKFLOW_EXECUTION_STATE_RUNNING);
  env.clock.Advance(absl::Hours(1));
  Drain(*w);
  CHECK(env.Describe("s").state() == v1::WORKFLOW_EXECUTION_STATE_COMPLETED);
}

namespace {
std::atomic<int> g_flaky_calls{0};
Task<Result> CallFlaky(WorkflowContext& ctx, const Payload& in) {
  ActivityOptions o;
  o.initial_interval = absl::Seconds(10);
  o.backoff_coefficient = 2.0;
  o.maximum_attempts = 3;
  o.non_retryable_error_types = {"PaymentDeclined"};
  o.start_to_close_timeout = absl::Minutes(1);
  co_return co_await ctx.ExecuteActivity("flaky", in, o);
}
}  // namespace

TEST_CASE("Activity retries back off exponentially, stop at max attempts and never retry non-retryable kinds",
          "[integration][workflow]") {
  Env env;
  REQUIRE(env.registry.RegisterWorkflow("flaky_wf", CallFlaky).ok());
  REQUIRE(env.registry
              .RegisterActivity("flaky",
                                [](ActivityContext& ctx, const Payload& in) -> Result {
                                  ++g_flaky_calls;
                                  auto mode = Unpack<google::protobuf::StringValue>(in)->value();
                                  if (mode == "declined") {
                                    return cantdo::WithReason(absl::FailedPreconditionError("no"), "PaymentDeclined");
                                  }
                                  if (mode == "succeeds_third" && ctx.attempt() == 3) return PackString("ok");
                                  return absl::UnavailableError("try again");
                                })
              .ok());
  auto w = env.NewWorker(false);

  SECTION("succeeds on the third attempt after 10 s and 20 s") {
    g_flaky_calls = 0;
    env.Start("f", "flaky_wf", PackString("succeeds_third"));
    Drain(*w);
    CHECK(g_flaky_calls == 1);
    env.clock.Advance(absl::Seconds(9));
    Drain(*w);
    CHECK(g_flaky_calls == 1);  // not before the backoff
    env.clock.Advance(absl::Seconds(1));
    Drain(*w);
    CHECK(g_flaky_calls == 2);
    env.clock.Advance(absl::Seconds(19));
    Drain(*w);
    CHECK(g_flaky_calls == 2);
    env.clock.Advance(absl::Seconds(1));
    Drain(*w);
    CHECK(g_flaky_calls == 3);
    CHECK(env.Describe("f").state() == v1::WORKFLOW_EXECUTION_STATE_COMPLETED);
    CHECK(w->Stats().activity_retries == 2);  // the worker's metrics count each retry once
    CHECK(w->Stats().lease_expiries == 0);
  }
  SECTION("fails after maximum attempts") {
    g_flaky_calls = 0;
    env.Start("f", "flaky_wf", PackString("always"));
    for (int i = 0; i < 5; ++i) {
      Drain(*w);
      env.clock.Advance(absl::Minutes(1));
    }
    CHECK(g_flaky_calls == 3);
    auto x = env.Describe("f");
    CHECK(x.state() == v1::WORKFLOW_EXECUTION_STATE_FAILED);
    CHECK(w->Stats().activity_retries == 2);  // the third failure is final, not a retry
  }
  SECTION("a non-retryable kind fails at once") {
    g_flaky_calls = 0;
    env.Start("f", "flaky_wf", PackString("declined"));
    Drain(*w);
    CHECK(g_flaky_calls == 1);
    auto x = env.Describe("f");
    CHECK(x.state() == v1::WORKFLOW_EXECUTION_STATE_FAILED);
    CHECK(x.failure().type() == "PaymentDeclined");
    CHECK(w->Stats().activity_retries == 0);
  }
}

TEST_CASE("An activity whose worker vanished times out start-to-close and is retried elsewhere",
          "[integration][workflow]") {
  Env env;
  RegisterRecord(env.registry, env.db.Dsn());
  REQUIRE(env.registry
              .RegisterWorkflow("one",
                                [](WorkflowContext& ctx, const Payload& in) -> Task<Result> {
                                  ActivityOptions o;
                                  o.start_to_close_timeout = absl::Seconds(30);
                                  o.initial_interval = absl::Seconds(1);
                                  co_return co_await ctx.ExecuteActivity("record", in, o);
                                })
              .ok());
  std::string run = env.Start("t", "one", PackString("x"));
  // A worker that never runs activities leases nothing eagerly: simulate a
  // lease taken by a dead worker.
  {
    WorkerOptions o;
    o.task_queues = {"q"};
    o.eager_activities = false;
    Registry only_wf;
    REQUIRE(only_wf
                .RegisterWorkflow("one",
                                  [](WorkflowContext& ctx, const Payload& in) -> Task<Result> {
                                    ActivityOptions ao;
                                    ao.start_to_close_timeout = absl::Seconds(30);
                                    ao.initial_interval = absl::Seconds(1);
                                    co_return co_await ctx.ExecuteActivity("record", in, ao);
                                  })
                .ok());
    auto w = Ok(Worker::Create(*env.pool, only_wf, env.clock, o));
    Drain(*w);
  }
  auto conn = env.db.Connect();
  Ok(
      conn->Exec("UPDATE cantdo.activity_tasks SET lease_id = gen_random_uuid(), attempt = 1,"
                 " attempt_started_at = $1::timestamptz, lease_expires_at = $1::timestamptz + interval '30 seconds'",
                 {pg::TextParam(absl::FormatTime("%Y-%m-%d %H:%M:%E6S+00", env.clock.Now(), absl::UTCTimeZone()))}));
  auto w = env.NewWorker(false);
  Drain(*w);
  CHECK(env.Count("SELECT count(*) FROM public.attempts") == 0);  // lease still valid
  CHECK(w->Stats().lease_expiries == 0);
  env.clock.Advance(absl::Seconds(31));
  Drain(*w);  // expires the lease, schedules the retry after 1 s
  CHECK(w->Stats().lease_expiries == 1);
  CHECK(w->Stats().activity_retries == 1);
  env.clock.Advance(absl::Seconds(1));
  Drain(*w);
  CHECK(env.Describe("t").state() == v1::WORKFLOW_EXECUTION_STATE_COMPLETED);
  CHECK(env.Count("SELECT max(attempt) FROM public.attempts") == 2);
  CHECK(w->Stats().lease_expiries == 1);
}

TEST_CASE("The backlog counts the tasks due and not taken, per queue, and since when the oldest is due",
          "[integration][workflow][metrics]") {
  Env env;
  RegisterRecord(env.registry, env.db.Dsn());
  auto one = [](WorkflowContext& ctx, const Payload& in) -> Task<Result> {
    ActivityOptions o;
    o.start_to_close_timeout = absl::Seconds(30);
    co_return co_await ctx.ExecuteActivity("record", in, o);
  };
  REQUIRE(env.registry.RegisterWorkflow("one", one).ok());
  auto backlog = [&] {
    return Ok(env.Tx([&](pg::Connection& c) { return ReadBacklog(c, {"q", "elsewhere"}, env.clock.Now()); }));
  };
  auto empty = backlog();
  REQUIRE(empty.size() == 2);
  CHECK(empty[0].task_queue == "q");
  CHECK(empty[0].workflow_tasks == 0);
  CHECK_FALSE(empty[0].oldest_workflow_task.has_value());

  const absl::Time started = env.clock.Now();
  env.Start("b1", "one", PackString("x"));
  env.clock.Advance(absl::Seconds(40));
  env.Start("b2", "one", PackString("y"));
  auto waiting = backlog();
  CHECK(waiting[0].workflow_tasks == 2);
  REQUIRE(waiting[0].oldest_workflow_task.has_value());
  CHECK(absl::ToUnixMicros(*waiting[0].oldest_workflow_task) == absl::ToUnixMicros(started));
  CHECK(waiting[0].activity_tasks == 0);
  CHECK(waiting[1].task_queue == "elsewhere");
  CHECK(waiting[1].workflow_tasks == 0);

  // A worker that runs workflow tasks only (nothing leased eagerly): both
  // runs now wait on their activity.
  {
    WorkerOptions o;
    o.task_queues = {"q"};
    o.eager_activities = false;
    Registry only_wf;
    REQUIRE(only_wf.RegisterWorkflow("one", one).ok());
    auto w = Ok(Worker::Create(*env.pool, only_wf, env.clock, o));
    Drain(*w);
  }
  auto activities = backlog();
  CHECK(activities[0].workflow_tasks == 0);
  CHECK(activities[0].activity_tasks == 2);
  REQUIRE(activities[0].oldest_activity_task.has_value());
  CHECK(absl::ToUnixMicros(*activities[0].oldest_activity_task) == absl::ToUnixMicros(env.clock.Now()));
  // A leased activity is no longer waiting.
  auto conn = env.db.Connect();
  Ok(conn->Exec(
      "UPDATE cantdo.activity_tasks SET lease_id = gen_random_uuid(), lease_expires_at = now() + "
      "interval '1 minute' WHERE run_id = (SELECT run_id FROM cantdo.workflow_runs WHERE workflow_id = 'b1')"));
  CHECK(backlog()[0].activity_tasks == 1);
}

TEST_CASE("Cancel: a waiting run ends CANCELLED, a pending run is closed at once", "[integration][workflow]") {
  Env env;
  RegisterRecord(env.registry, env.db.Dsn());
  REQUIRE(env.registry.RegisterWorkflow("park", ParkThenStep).ok());
  env.Start("c", "park");
  auto w = env.NewWorker(true);
  Drain(*w);
  Ok(env.Tx([&](pg::Connection& c) { return env.client.Cancel(c, "c", "", "operator asked", "op"); }));
  Ok(env.Tx([&](pg::Connection& c) { return env.client.Cancel(c, "c", "", "operator asked", "op"); }));
  Drain(*w);
  CHECK(env.Describe("c").state() == v1::WORKFLOW_EXECUTION_STATE_CANCELLED);
  CHECK(env.Count("SELECT count(*) FROM public.side_effects") == 0);
  env.Start("p", "park", {}, true);
  Ok(env.Tx([&](pg::Connection& c) { return env.client.Cancel(c, "p", "", "no", "op"); }));
  CHECK(env.Describe("p").state() == v1::WORKFLOW_EXECUTION_STATE_CANCELLED);
}

TEST_CASE("A cancel that waited for the run's lock sees the task its holder removed, and schedules one",
          "[integration][workflow]") {
  // Under READ COMMITTED a statement that waits for a row lock re-reads the
  // locked row but not the rest: a cancel that read the run's pending task
  // in the locking statement saw the task a worker had just finished and
  // deleted, scheduled none, and the run never saw its cancellation.
  Env env;
  RegisterRecord(env.registry, env.db.Dsn());
  REQUIRE(env.registry.RegisterWorkflow("park", ParkThenStep).ok());
  const std::string run = env.Start("c", "park");
  auto w = env.NewWorker(true);
  Drain(*w);  // parked on its signal, no task
  auto holder = env.db.Connect();
  // A workflow task is pending (committed)...
  Ok(holder->Exec("INSERT INTO cantdo.workflow_tasks (run_id, task_queue, visible_at) VALUES ($1::uuid, 'q', now())",
                  {pg::TextParam(run)}));
  // ...and a worker holds the run while it finishes that task.
  Ok(holder->Exec("BEGIN"));
  Ok(holder->Exec("SELECT 1 FROM cantdo.workflow_runs WHERE run_id = $1::uuid FOR UPDATE", {pg::TextParam(run)}));
  Ok(holder->Exec("DELETE FROM cantdo.workflow_tasks WHERE run_id = $1::uuid", {pg::TextParam(run)}));
  std::atomic<bool> cancelled{false};
  absl::Status cancel;
  std::thread canceller([&] {
    cancel = env.Tx([&](pg::Connection& c) { return env.client.Cancel(c, "c", "", "operator asked", "op"); });
    cancelled = true;
  });
  // The cancel's session waits for the holder's lock (or the cancel is
  // already done, which the check below reports).
  auto monitor = env.db.Connect();
  cantdo::testing::WaitUntil(
      [&] {
        auto r = Ok(monitor->Exec("SELECT count(*) FROM pg_stat_activity WHERE $1 = ANY(pg_blocking_pids(pid))",
                                  {pg::Int64Param(holder->BackendPid())}));
        return cancelled || Ok(r.GetInt64(0, 0)) > 0;
      },
      absl::Seconds(10), absl::Milliseconds(10));
  CHECK_FALSE(cancelled);  // waiting for the run's lock
  Ok(holder->Exec("COMMIT"));
  canceller.join();
  Ok(cancel);
  CHECK(env.Count(absl::StrCat("SELECT count(*) FROM cantdo.workflow_tasks WHERE run_id = '", run, "'")) == 1);
  Drain(*w);
  CHECK(env.Describe("c").state() == v1::WORKFLOW_EXECUTION_STATE_CANCELLED);
}

TEST_CASE("Two workers compete for the same queues: no task runs twice concurrently, all complete",
          "[integration][workflow]") {
  Env env;
  static std::atomic<int> in_flight{0};
  static std::atomic<int> max_same{0};
  static std::mutex mu;
  static std::set<std::string> running;
  static std::atomic<bool> overlap{false};
  REQUIRE(env.registry
              .RegisterActivity("exclusive",
                                [](ActivityContext& ctx, const Payload& in) -> Result {
                                  {
                                    std::lock_guard<std::mutex> l(mu);
                                    if (!running.insert(ctx.idempotency_key()).second) overlap = true;
                                  }
                                  absl::SleepFor(absl::Milliseconds(2));
                                  {
                                    std::lock_guard<std::mutex> l(mu);
                                    running.erase(ctx.idempotency_key());
                                  }
                                  return in;
                                })
              .ok());
  REQUIRE(env.registry
              .RegisterWorkflow("ex3",
                                [](WorkflowContext& ctx, const Payload& in) -> Task<Result> {
                                  Result a = co_await ctx.ExecuteActivity("exclusive", in);
                                  Result b = co_await ctx.ExecuteActivity("exclusive", *a);
                                  co_return co_await ctx.ExecuteActivity("exclusive", *b);
                                })
              .ok());
  constexpr int kRuns = 30;
  for (int i = 0; i < kRuns; ++i) env.Start("r" + std::to_string(i), "ex3");
  auto w1 = env.NewWorker(true, 3, "w1");
  auto w2 = env.NewWorker(false, 3, "w2");
  Ok(w1->Start());
  Ok(w2->Start());
  for (int i = 0; i < kRuns; ++i)
    REQUIRE(env.WaitState("r" + std::to_string(i), v1::WORKFLOW_EXECUTION_STATE_COMPLETED));
  w1->Stop();
  w2->Stop();
  CHECK_FALSE(overlap.load());
  // Every activity was started exactly once (no duplicate Started events).
  CHECK(env.Count("SELECT count(*) FROM cantdo.workflow_events WHERE event_type = 31") == 3 * kRuns);
  CHECK(w1->Stats().workflow_tasks + w2->Stats().workflow_tasks >= 4 * kRuns);
  // And no thread ran anything else: a sticky continuation hands each next
  // activity to its own thread exactly once (no stale or empty leases).
  CHECK(w1->Stats().activities_started + w2->Stats().activities_started == 3 * kRuns);
}

TEST_CASE("Crash safety: a worker process SIGKILLed at random points loses no run and repeats no completed activity",
          "[integration][workflow]") {
  Env env;
  RegisterRecord(env.registry, env.db.Dsn());
  constexpr int kRuns = 12;
  for (int i = 0; i < kRuns; ++i) env.Start("k" + std::to_string(i), "three_steps", PackString("x"));
  std::mt19937 rng(42);
  const std::string dsn = env.db.Dsn();
  env.pool.reset();  // nothing shared with the children
  int kills = 0;
  for (int iteration = 0; iteration < 50; ++iteration) {
    pid_t pid = fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
      // Child: a fresh pool and a real worker with the real clock.
      pg::PoolOptions o;
      o.dsn = dsn;
      o.max_size = 4;
      auto pool = pg::Pool::Create(o);
      if (!pool.ok()) _exit(3);
      WorkerOptions wo;
      wo.task_queues = {"q"};
      wo.concurrency = 2;
      wo.poll_interval = absl::Milliseconds(20);
      wo.identity = "child";
      auto w = Worker::Create(**pool, env.registry, cantdo::SystemClock(), wo);
      if (!w.ok() || !(*w)->Start().ok()) _exit(4);
      absl::SleepFor(absl::Seconds(30));
      _exit(0);
    }
    absl::SleepFor(absl::Milliseconds(std::uniform_int_distribution<int>(5, 120)(rng)));
    kill(pid, SIGKILL);
    int status = 0;
    waitpid(pid, &status, 0);
    kills += WIFSIGNALED(status);
  }
  CHECK(kills == 50);
  // Leases of killed attempts expire (30 s start-to-close by default): move
  // past them with the fake clock and finish with a worker here.
  pg::PoolOptions o;
  o.dsn = dsn;
  env.pool = Ok(pg::Pool::Create(o));
  env.clock.Set(cantdo::SystemClock().Now() + absl::Minutes(5));
  auto w = env.NewWorker(false);
  for (int round = 0; round < 20; ++round) {
    Drain(*w);
    env.clock.Advance(absl::Minutes(5));
  }
  for (int i = 0; i < kRuns; ++i) {
    INFO("run k" << i);
    CHECK(env.Describe("k" + std::to_string(i)).state() == v1::WORKFLOW_EXECUTION_STATE_COMPLETED);
  }
  // Each completed activity has its side effect applied exactly once, and
  // every side effect belongs to an activity that completed.
  CHECK(env.Count("SELECT count(*) FROM cantdo.workflow_events WHERE event_type = 32") == 3 * kRuns);
  CHECK(env.Count("SELECT count(*) FROM public.side_effects") == 3 * kRuns);
  INFO("attempts recorded: " << env.Count("SELECT count(*) FROM public.attempts"));
  CHECK(env.Count("SELECT count(*) FROM public.attempts") >= 3 * kRuns);
}
