// The WorkflowClient queries a service asks instead of reading the engine's
// tables itself (docs/architecture.md, "Layering"): the gateway's start
// path and its admission loop.

#include <catch2/catch.hpp>

#include "cantdo/base/ids.hpp"
#include "cantdo/base/status.hpp"
#include "workflow_env.hpp"

namespace {

using namespace cantdo::workflow;
using namespace cantdo::workflow::test;
namespace pg = cantdo::pg;

// A run PENDING_ADMISSION gated by `approval_id`, started with `request_id`.
std::string StartPending(Env& env, const std::string& workflow_id, const std::string& approval_id,
                         const std::string& request_id = "") {
  StartRequest r;
  r.workflow_id = workflow_id;
  r.workflow_type = "t";
  r.task_queue = "q";
  r.pending_admission = true;
  r.admission_approval_id = approval_id;
  r.request_id = request_id;
  return Ok(env.Tx([&](pg::Connection& c) { return env.client.Start(c, r); })).run_id;
}

}  // namespace

TEST_CASE("FindByRequestId finds the run a request id started under any workflow id, and nothing for another id",
          "[integration][workflow]") {
  Env env;
  const std::string run = StartPending(env, "wf-a", cantdo::NewUuid(), "req-1");
  StartPending(env, "wf-b", cantdo::NewUuid(), "req-2");
  auto conn = env.db.Connect();
  auto found = Ok(env.client.FindByRequestId(*conn, "req-1"));
  REQUIRE(found.has_value());
  CHECK(found->run_id() == run);
  CHECK(found->workflow_id() == "wf-a");
  CHECK(found->workflow_type() == "t");
  CHECK(found->state() == v1::WORKFLOW_EXECUTION_STATE_PENDING_ADMISSION);
  CHECK_FALSE(Ok(env.client.FindByRequestId(*conn, "req-3")).has_value());
}

TEST_CASE(
    "PendingAdmissions lists the runs waiting for their approval, oldest first, up to the limit, and "
    "leaves out admitted and closed runs",
    "[integration][workflow]") {
  Env env;
  const std::string a1 = cantdo::NewUuid(), a2 = cantdo::NewUuid(), a3 = cantdo::NewUuid();
  const std::string first = StartPending(env, "p-1", a1);
  env.clock.Advance(absl::Seconds(1));
  const std::string second = StartPending(env, "p-2", a2);
  env.clock.Advance(absl::Seconds(1));
  StartPending(env, "p-3", a3);
  Ok(env.Tx([&](pg::Connection& c) { return env.client.Cancel(c, "p-3", "", "no longer needed", "test"); }));
  env.Start("running", "t");  // RUNNING at once (the owner may)

  auto conn = env.db.Connect();
  auto pending = Ok(env.client.PendingAdmissions(*conn, 10));
  REQUIRE(pending.size() == 2);
  CHECK(pending[0].run_id == first);
  CHECK(pending[0].workflow_id == "p-1");
  CHECK(pending[0].admission_approval_id == a1);
  CHECK(pending[0].state == v1::WORKFLOW_EXECUTION_STATE_PENDING_ADMISSION);
  CHECK(pending[1].run_id == second);
  auto one = Ok(env.client.PendingAdmissions(*conn, 1));
  REQUIRE(one.size() == 1);
  CHECK(one[0].run_id == first);
}

TEST_CASE("FindByAdmissionApproval finds the run an approval gates only in the states asked for",
          "[integration][workflow]") {
  Env env;
  const std::string approval = cantdo::NewUuid();
  const std::string run = StartPending(env, "gated", approval);
  const std::vector<v1::WorkflowExecutionState> open_or_cancelled = {v1::WORKFLOW_EXECUTION_STATE_PENDING_ADMISSION,
                                                                     v1::WORKFLOW_EXECUTION_STATE_CANCELLED};
  auto conn = env.db.Connect();
  auto found = Ok(env.client.FindByAdmissionApproval(*conn, approval, open_or_cancelled));
  REQUIRE(found.has_value());
  CHECK(found->run_id == run);
  CHECK(found->workflow_id == "gated");
  CHECK(found->state == v1::WORKFLOW_EXECUTION_STATE_PENDING_ADMISSION);
  CHECK_FALSE(Ok(env.client.FindByAdmissionApproval(*conn, cantdo::NewUuid(), open_or_cancelled)).has_value());

  Ok(env.Tx([&](pg::Connection& c) { return env.client.Cancel(c, "gated", run, "withdrawn", "test"); }));
  found = Ok(env.client.FindByAdmissionApproval(*conn, approval, open_or_cancelled));
  REQUIRE(found.has_value());
  CHECK(found->state == v1::WORKFLOW_EXECUTION_STATE_CANCELLED);
  CHECK_FALSE(Ok(env.client.FindByAdmissionApproval(*conn, approval, {v1::WORKFLOW_EXECUTION_STATE_PENDING_ADMISSION}))
                  .has_value());
  CHECK(Ok(env.client.FindByAdmissionApproval(*conn, approval, {})).has_value());  // any state
}

TEST_CASE(
    "LockWorkflowId takes the lock Start takes: a Start of the same workflow id waits for the holder, "
    "another id does not, and outside a transaction it is refused",
    "[integration][workflow]") {
  Env env;
  auto holder = env.db.Connect();
  CHECK(env.client.LockWorkflowId(*holder, "locked").code() == absl::StatusCode::kFailedPrecondition);
  Ok(holder->Exec("BEGIN"));
  Ok(env.client.LockWorkflowId(*holder, "locked"));

  auto starter = env.db.Connect();
  auto start_in_tx = [&](const std::string& workflow_id) -> absl::Status {
    if (absl::Status s = starter->Exec("BEGIN").status(); !s.ok()) return s;
    if (absl::Status s = starter->Exec("SET LOCAL lock_timeout = '200ms'").status(); !s.ok()) return s;
    StartRequest r;
    r.workflow_id = workflow_id;
    r.workflow_type = "t";
    r.task_queue = "q";
    r.pending_admission = true;
    r.admission_approval_id = cantdo::NewUuid();
    absl::Status st = env.client.Start(*starter, r).status();
    if (st.ok()) st = starter->Exec("COMMIT").status();
    if (!st.ok()) (void)starter->Exec("ROLLBACK");
    return st;
  };
  const absl::Status blocked = start_in_tx("locked");
  INFO(blocked.ToString());
  CHECK_FALSE(blocked.ok());  // lock_timeout: the holder's lock is Start's
  Ok(start_in_tx("free"));
  Ok(holder->Exec("COMMIT"));
  Ok(start_in_tx("locked"));
}
