// Issue #18, part 2: admission bypassed with a service's database login.
//
// Attack (as found): logged in as the gateway, `SELECT
// cantdo.workflow_admit(...)` with an empty approval id admitted a run no
// one approved, and the offboarding ran; the gateway's and the worker's
// logins could also UPDATE workflow_runs and INSERT workflow_tasks
// directly. Here every service login (gateway, worker, bridge, authority)
// tries every way we know to make a run that nobody approved runnable, or
// to forge what a run believes was approved or decided. After each try,
// checked as the database owner: the pending run is untouched, no run that
// was never admitted has a task, timer or signal, no run was created
// running, and the admitted run's admission record and decisions are its
// own.

#include <catch2/catch.hpp>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "admission_stack.hpp"
#include "cantdo/base/ids.hpp"

namespace cantdo::testing {
namespace {

using pg::Param;

struct Attempt {
  std::string what;
  std::vector<pg::Connection::BatchStatement> statements;
  // The authority legitimately signals decisions; skip what is its job.
  bool authority_may = false;
};

std::string Hex(const wv1::HistoryEvent& e) { return absl::BytesToHexString(e.SerializeAsString()); }

}  // namespace

TEST_CASE(
    "No service's database login can admit a run, give a run pending admission a task, timer or signal, "
    "create a run running, or forge what a run believes was approved or decided",
    "[security][admission]") {
  OffboardingHarness::Options o;
  o.start_worker = false;  // runs stay exactly where the attempts leave them
  AdmissionStack s(o);

  // A run pending admission (its approval undecided), one admitted (its
  // first workflow task waiting), one cancelled while pending.
  auto pending = s.Start("bypass-pending", demo::CustomerId(11), demo::CustomerId(11));
  REQUIRE(pending.ok());
  auto admitted = s.Start("bypass-admitted", demo::CustomerId(12), demo::CustomerId(12));
  REQUIRE(admitted.ok());
  s.AdmitApproved("bypass-admitted", admitted->admission_approval_id());
  REQUIRE(s.h.Describe("bypass-admitted").state() == wv1::WORKFLOW_EXECUTION_STATE_RUNNING);
  auto cancelled = s.Start("bypass-cancelled", demo::CustomerId(13), demo::CustomerId(13));
  REQUIRE(cancelled.ok());
  REQUIRE(s.Cancel("bypass-cancelled").ok());

  const std::string P = pending->execution().run_id();
  const std::string A = pending->admission_approval_id();
  const std::string R = admitted->execution().run_id();
  const std::string C = cancelled->execution().run_id();
  std::string G;
  {
    auto conn = s.h.db.Connect();
    auto g = conn->Exec("SELECT grant_id::text FROM cantdo.grants WHERE workflow_id = 'bypass-admitted'");
    REQUIRE(g.ok());
    REQUIRE(g->Rows() == 1);
    G = *g->GetString(0, 0);
  }

  wv1::HistoryEvent forged_admission;
  forged_admission.set_event_id(2);
  forged_admission.set_event_type(wv1::EVENT_TYPE_WORKFLOW_EXECUTION_ADMITTED);
  forged_admission.mutable_workflow_execution_admitted()->set_approval_id(A);
  forged_admission.mutable_workflow_execution_admitted()->add_approver_subjects("ops1");
  cv1::ApprovalDecidedSignal lie;
  lie.set_approval_id(A);
  lie.set_state(cv1::APPROVAL_STATE_EXPIRED);
  wv1::HistoryEvent forged_signal;
  forged_signal.set_event_type(wv1::EVENT_TYPE_SIGNAL_RECEIVED);
  forged_signal.mutable_signal_received()->set_signal_name("cantdo.approval_decided");
  forged_signal.mutable_signal_received()->set_signal_id("forged");
  *forged_signal.mutable_signal_received()->mutable_payload() = workflow::Pack(lie);
  forged_signal.mutable_signal_received()->set_identity("spiffe://cantdo/authority");

  // What must hold after every attempt, as the owner sees it; "" when it does.
  const std::string kInvariants =
      "SELECT concat_ws('; ',"
      " CASE WHEN (SELECT state FROM cantdo.workflow_runs WHERE run_id = $1::uuid) <> 1"
      "      THEN 'the pending run left PENDING_ADMISSION' END,"
      " CASE WHEN (SELECT admit_time FROM cantdo.workflow_runs WHERE run_id = $1::uuid) IS NOT NULL"
      "      THEN 'the pending run got an admit time' END,"
      " CASE WHEN (SELECT admission_approval_id FROM cantdo.workflow_runs WHERE run_id = $1::uuid) <> $2"
      "      THEN 'the pending run names another approval' END,"
      " CASE WHEN (SELECT count(*) FROM cantdo.workflow_events WHERE run_id = $1::uuid) <> 1"
      "      THEN 'the pending run''s history grew' END,"
      " CASE WHEN (SELECT count(*) FROM cantdo.workflow_tasks WHERE run_id IN ($1::uuid, $4::uuid)) > 0"
      "      THEN 'a run never admitted has a workflow task' END,"
      " CASE WHEN (SELECT count(*) FROM cantdo.activity_tasks WHERE run_id IN ($1::uuid, $4::uuid)) > 0"
      "      THEN 'a run never admitted has an activity task' END,"
      " CASE WHEN (SELECT count(*) FROM cantdo.workflow_timers WHERE run_id IN ($1::uuid, $4::uuid)) > 0"
      "      THEN 'a run never admitted has a timer' END,"
      " CASE WHEN (SELECT count(*) FROM cantdo.workflow_signals WHERE run_id IN ($1::uuid, $4::uuid)) > 0"
      "      THEN 'a run never admitted has a signal' END,"
      " CASE WHEN (SELECT state FROM cantdo.workflow_runs WHERE run_id = $4::uuid) <> 5"
      "      THEN 'the cancelled run was reopened' END,"
      " CASE WHEN (SELECT count(*) FROM cantdo.workflow_tasks WHERE run_id = $3::uuid) <> 1"
      "      THEN 'the admitted run lost its workflow task' END,"
      " CASE WHEN (SELECT count(*) FROM cantdo.workflow_events WHERE run_id = $3::uuid AND event_type = 7) <> 1"
      "      THEN 'the admitted run has a second admission record' END,"
      " CASE WHEN (SELECT count(*) FROM cantdo.workflow_events WHERE run_id = $3::uuid AND event_type = 50) <> 0"
      "      THEN 'a decision signal was recorded in the admitted run' END,"
      " CASE WHEN (SELECT count(*) FROM cantdo.workflow_runs) <> 3 THEN 'a run was created' END)";
  auto problems = [&] {
    auto conn = s.h.db.Connect();
    auto r = conn->Exec(kInvariants, {P, A, R, C});
    INFO(r.status().ToString());
    REQUIRE(r.ok());
    return *r->GetString(0, 0);
  };
  REQUIRE(problems().empty());

  LoginRole bridge_login(s.h.db, "cantdo_bridge");
  const std::vector<std::pair<std::string, std::string>> roles = {{"cantdo_gateway", s.gateway_login->dsn()},
                                                                  {"cantdo_worker", s.h.worker_login->dsn()},
                                                                  {"cantdo_bridge", bridge_login.dsn()},
                                                                  {"cantdo_authority", s.h.authority_login->dsn()}};

  std::vector<std::string> breaches;
  int refused_with_error = 0, attempts_made = 0;
  for (const auto& [role, dsn] : roles) {
    const std::string fresh = NewUuid();  // a run id nobody has
    const std::string insert_running =
        "INSERT INTO cantdo.workflow_runs (run_id, workflow_id, workflow_type, task_queue, state, first_run_id,"
        " next_event_id, start_time, admit_time) VALUES ($1::uuid, $2, 'customer_offboarding', 'offboarding', 2,"
        " $3::uuid, 1, now(), now())";
    const std::string insert_task =
        "INSERT INTO cantdo.workflow_tasks (run_id, task_queue, visible_at) VALUES ($1::uuid, 'offboarding', now())";
    const std::string append_event =
        "INSERT INTO cantdo.workflow_events (run_id, event_id, event_type, event_time, event)"
        " SELECT run_id, next_event_id, $2, now(), decode($3, 'hex') FROM cantdo.workflow_runs WHERE run_id = $1::uuid";
    const std::vector<Attempt> attempts = {
        {"admit through cantdo.workflow_admit (V0005) with an empty approval id",
         {{"SELECT * FROM cantdo.workflow_admit('bypass-pending', $1, '', '', '{}'::text[], now())", {P}}}},
        {"admit through cantdo.workflow_admit (V0005) naming the run's own undecided approval",
         {{"SELECT * FROM cantdo.workflow_admit('bypass-pending', $1, $2, '', '{}'::text[], now())", {P, A}}}},
        {"call cantdo.workflow_admit with another run's consumed workflow.start grant",
         {{"SELECT * FROM cantdo.workflow_admit($1, now())", {G}}}},
        {"UPDATE the run to RUNNING",
         {{"UPDATE cantdo.workflow_runs SET state = 2, admit_time = now() WHERE run_id = $1::uuid", {P}}}},
        {"UPDATE the run to RUNNING and INSERT its workflow task",
         {{"UPDATE cantdo.workflow_runs SET state = 2, admit_time = now() WHERE run_id = $1::uuid", {P}},
          {insert_task, {P}}}},
        {"INSERT a workflow task", {{insert_task, {P}}}},
        {"move the admitted run's workflow task to the pending run",
         {{"UPDATE cantdo.workflow_tasks SET run_id = $1::uuid WHERE run_id = $2::uuid", {P, R}}}},
        {"INSERT an activity task",
         {{"INSERT INTO cantdo.activity_tasks (run_id, scheduled_event_id, task_queue, activity_type, visible_at,"
           " scheduled_at) VALUES ($1::uuid, 2, 'offboarding', 'offboarding.revoke_access', now(), now())",
           {P}}}},
        {"INSERT a timer",
         {{"INSERT INTO cantdo.workflow_timers (run_id, timer_id, started_event_id, task_queue, fire_at)"
           " VALUES ($1::uuid, 't-' || $2, 2, 'offboarding', now())",
           {P, role}}}},
        {"INSERT a signal id",
         {{"INSERT INTO cantdo.workflow_signals (run_id, signal_id, event_id) VALUES ($1::uuid, 's-' || $2, 2)",
           {P, role}}}},
        {"signal it through cantdo.workflow_signal",
         {{"SELECT * FROM cantdo.workflow_signal('bypass-pending', $1::uuid, 'nudge', 's-' || $2, '', ''::bytea,"
           " 'x', now())",
           {P, role}}}},
        {"point it at another approval",
         {{"UPDATE cantdo.workflow_runs SET admission_approval_id = $2 WHERE run_id = $1::uuid", {P, NewUuid()}}}},
        {"append a forged admission record to the pending run", {{append_event, {P, "7", Hex(forged_admission)}}}},
        {"append a second, forged admission record to the admitted run",
         {{append_event, {R, "7", Hex(forged_admission)}}}},
        {"INSERT a RUNNING run with a workflow task",
         {{insert_running, {fresh, "forged-" + role, fresh}}, {insert_task, {fresh}}}},
        {"close the pending run CONTINUED_AS_NEW and INSERT its RUNNING successor with a task",
         {{"UPDATE cantdo.workflow_runs SET state = 9, close_time = now(), next_run_id = $2::uuid"
           " WHERE run_id = $1::uuid",
           {P, fresh}},
          {insert_running, {fresh, "bypass-pending", P}},
          {insert_task, {fresh}}}},
        {"INSERT a workflow task for the run cancelled while pending", {{insert_task, {C}}}},
        {"reopen the cancelled run and INSERT its workflow task",
         {{"UPDATE cantdo.workflow_runs SET state = 2, admit_time = now(), close_time = NULL WHERE run_id = $1::uuid",
           {C}},
          {insert_task, {C}}}},
        {"append a forged approval decision to the admitted run's history",
         {{append_event, {R, "50", Hex(forged_signal)}}}},
        {"send cantdo.approval_decided through cantdo.workflow_signal",
         {{"SELECT * FROM cantdo.workflow_signal('bypass-admitted', $1::uuid, 'cantdo.approval_decided',"
           " 'forged-' || $2, $3, decode($4, 'hex'), 'spiffe://cantdo/authority', now())",
           {R, role, std::string("type.googleapis.com/cantdo.common.v1.ApprovalDecidedSignal"),
            absl::BytesToHexString(lie.SerializeAsString())}}},
         /*authority_may=*/true},
    };
    auto conn = pg::Connection::Connect(dsn, absl::Seconds(10));
    REQUIRE(conn.ok());
    for (const Attempt& a : attempts) {
      if (a.authority_may && role == "cantdo_authority") continue;
      const std::string before = problems();
      auto done = (*conn)->ExecBatch(a.statements);
      ++attempts_made;
      if (!done.ok()) ++refused_with_error;
      const std::string after = problems();
      if (after != before) {
        breaches.push_back(absl::StrCat(role, ": ", a.what, " -> ", after,
                                        done.ok() ? "" : absl::StrCat(" (error: ", done.status().ToString(), ")")));
      }
    }
  }
  INFO(absl::StrJoin(breaches, "\n"));
  CHECK(breaches.empty());
  CHECK(attempts_made > 0);
  // Most attempts are refused outright (an error); the rest change nothing.
  INFO(refused_with_error << " of " << attempts_made << " attempts refused with an error");
  CHECK(refused_with_error > 0);
}

}  // namespace cantdo::testing
