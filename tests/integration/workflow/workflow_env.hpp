#pragma once
// Shared fixture of the workflow engine integration tests: a migrated
// database, a pool, a fake clock, a registry of test workflows and
// activities, and helpers to start runs and wait for their end.

#include <atomic>
#include <memory>
#include <string>

#include <catch2/catch.hpp>

#include "cantdo/base/clock.hpp"
#include "cantdo/base/ids.hpp"
#include "cantdo/pg/pool.hpp"
#include "cantdo/pg/transaction.hpp"
#include "cantdo/workflow/client.hpp"
#include "cantdo/workflow/payload.hpp"
#include "cantdo/workflow/registry.hpp"
#include "cantdo/workflow/worker.hpp"
#include "support/test_database.hpp"

namespace cantdo::workflow::test {

template <typename T>
T Ok(absl::StatusOr<T> r) {
  INFO(r.status().ToString());
  REQUIRE(r.ok());
  return *std::move(r);
}
inline void Ok(const absl::Status& s) {
  INFO(s.ToString());
  REQUIRE(s.ok());
}

// Activity "record": applies its side effect once per idempotency key and
// counts attempts, so tests can see exactly-once application.
inline const char* kSideEffectsDdl =
    "CREATE TABLE public.side_effects (idempotency_key text PRIMARY KEY, applied int NOT NULL);"
    "CREATE TABLE public.attempts (idempotency_key text NOT NULL, attempt int NOT NULL);";

struct Env {
  testing::TestDatabase db{testing::TestDatabase::kMigrated};
  std::unique_ptr<pg::Pool> pool;
  FakeClock clock;
  Registry registry;
  WorkflowClient client{clock};

  Env() {
    pg::PoolOptions o;
    o.dsn = db.Dsn();
    o.max_size = 12;
    pool = Ok(pg::Pool::Create(o));
    auto conn = db.Connect();
    Ok(conn->ExecScript(kSideEffectsDdl));
  }

  template <typename Fn>
  auto Tx(Fn&& fn) {
    return pg::RunInTransaction(*pool, pg::TxOptions{}, std::forward<Fn>(fn));
  }

  // `pending`: PENDING_ADMISSION, gated by a fresh approval id (Admit()
  // admits it); otherwise RUNNING at once, which the database allows only
  // to the owner of the engine's tables: this test, as the superuser that
  // migrated the database.
  std::string Start(const std::string& workflow_id, const std::string& type, Payload input = {}, bool pending = false) {
    StartRequest r;
    r.workflow_id = workflow_id;
    r.workflow_type = type;
    r.task_queue = "q";
    r.input = std::move(input);
    r.pending_admission = pending;
    if (pending) r.admission_approval_id = NewUuid();
    return Ok(Tx([&](pg::Connection& c) { return client.Start(c, r); })).run_id;
  }

  // The run's workflow.start grant, CONSUMED, and its approval of
  // `parameters_json` (canonical JSON), written as the superuser: a
  // test-only stand-in for the authority, the one role that writes them.
  std::string ConsumedAdmissionGrant(const std::string& run_id, const std::string& parameters_json = "{}") {
    auto conn = db.Connect();
    auto run =
        Ok(conn->Exec("SELECT workflow_id, workflow_type, admission_approval_id FROM cantdo.workflow_runs"
                      " WHERE run_id = $1::uuid",
                      {run_id}));
    REQUIRE(run.Rows() == 1);
    const std::string workflow_id = Ok(run.GetString(0, 0)), type = Ok(run.GetString(0, 1));
    const std::string approval_id = Ok(run.GetString(0, 2)), grant_id = NewUuid();
    Ok(
        conn->Exec("INSERT INTO cantdo.approvals (approval_id, principal, requester, workflow_id, run_id, step, action,"
                   " resource, parameters, parameters_hash, state, required_role, approver_subject, binding_message,"
                   " policy_version, policy_hash, create_time, expire_time, grant_id)"
                   " VALUES ($1::uuid, 'spiffe://cantdo/gateway', 'test', $2, $3, 'admission', 'workflow.start', $4,"
                   " $5, encode(sha256(convert_to($5, 'UTF8')), 'hex'), 'APPROVED', 'ops_manager', 'ops1', 'test',"
                   " 'test', 'test', now(), now() + interval '1 hour', $6::uuid)",
                   {approval_id, workflow_id, run_id, type, parameters_json, grant_id}));
    Ok(conn->Exec(
        "INSERT INTO cantdo.grants (grant_id, approval_id, state, workflow_id, run_id, step, action, resource,"
        " parameters_hash, approver_subjects, policy_version, policy_hash, principal, issue_time,"
        " expire_time, consume_time) SELECT $1::uuid, approval_id, 'CONSUMED', workflow_id, run_id, step,"
        " action, resource, parameters_hash, ARRAY['ops1'], 'test', 'test', principal, now(),"
        " now() + interval '15 minutes', now() FROM cantdo.approvals WHERE approval_id = $2::uuid",
        {grant_id, approval_id}));
    return grant_id;
  }

  // cantdo.workflow_admit with `grant_id`, as the authority calls it; its
  // outcome (ADMITTED, ALREADY_ADMITTED, GRANT_NOT_CONSUMED, ...).
  std::string AdmitWith(const std::string& grant_id) {
    auto conn = db.Connect();
    auto r = Ok(conn->Exec("SELECT outcome FROM cantdo.workflow_admit($1, $2::timestamptz)",
                           {grant_id, absl::FormatTime("%Y-%m-%d %H:%M:%E6S+00", clock.Now(), absl::UTCTimeZone())}));
    return Ok(r.GetString(0, 0));
  }

  v1::WorkflowExecution Describe(const std::string& workflow_id) {
    return Ok(Tx([&](pg::Connection& c) { return client.Describe(c, workflow_id, ""); }));
  }

  std::vector<v1::HistoryEvent> History(const std::string& run_id) {
    return Ok(Tx([&](pg::Connection& c) { return client.History(c, run_id, 1, 100000); })).events;
  }

  absl::StatusOr<SignalResult> Signal(const std::string& workflow_id, const std::string& name,
                                      const std::string& signal_id, Payload payload = {}) {
    SignalRequest s;
    s.workflow_id = workflow_id;
    s.signal_name = name;
    s.signal_id = signal_id;
    s.payload = std::move(payload);
    return Tx([&](pg::Connection& c) { return client.Signal(c, s); });
  }

  std::unique_ptr<Worker> NewWorker(bool sticky, int concurrency = 2, std::string identity = "w") {
    WorkerOptions o;
    o.task_queues = {"q"};
    o.concurrency = concurrency;
    o.sticky_cache = sticky;
    o.identity = std::move(identity);
    o.poll_interval = absl::Milliseconds(50);
    return Ok(Worker::Create(*pool, registry, clock, o));
  }

  // Waits (real time) until the workflow's newest run is in `state`.
  bool WaitState(const std::string& workflow_id, v1::WorkflowExecutionState state,
                 absl::Duration timeout = absl::Seconds(30)) {
    absl::Time end = absl::Now() + timeout;
    while (absl::Now() < end) {
      if (Describe(workflow_id).state() == state) return true;
      absl::SleepFor(absl::Milliseconds(20));
    }
    return false;
  }

  int64_t Count(const std::string& sql) {
    auto conn = db.Connect();
    auto r = Ok(conn->Exec(sql));
    return Ok(r.GetInt64(0, 0));
  }
};

// Three sequential activities; each "record" applies its side effect.
inline Task<Result> ThreeSteps(WorkflowContext& ctx, const Payload& input) {
  ActivityOptions o;
  o.initial_interval = absl::Milliseconds(10);
  Result a = co_await ctx.ExecuteActivity("record", input, o);
  if (!a.ok()) co_return a;
  Result b = co_await ctx.ExecuteActivity("record", *a, o);
  if (!b.ok()) co_return b;
  co_return co_await ctx.ExecuteActivity("record", *b, o);
}

inline void RegisterRecord(Registry& registry, const std::string& dsn) {
  REQUIRE(registry
              .RegisterActivity("record",
                                [dsn](ActivityContext& ctx, const Payload& in) -> Result {
                                  auto conn = pg::Connection::Connect(dsn, absl::Seconds(5));
                                  if (!conn.ok()) return conn.status();
                                  auto a = (*conn)->Exec(
                                      "INSERT INTO public.attempts VALUES ($1, $2)",
                                      {pg::TextParam(ctx.idempotency_key()), pg::Int64Param(ctx.attempt())});
                                  if (!a.ok()) return a.status();
                                  auto r = (*conn)->Exec(
                                      "INSERT INTO public.side_effects VALUES ($1, 1)"
                                      " ON CONFLICT (idempotency_key) DO NOTHING",
                                      {pg::TextParam(ctx.idempotency_key())});
                                  if (!r.ok()) return r.status();
                                  return in;
                                })
              .ok());
  REQUIRE(registry.RegisterWorkflow("three_steps", ThreeSteps).ok());
}

}  // namespace cantdo::workflow::test
