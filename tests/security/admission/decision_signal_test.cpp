// Issue #17, part 4: decision signals can be forged.
//
// Attack (as found): an operator sent SignalWorkflow with signal name
// `cantdo.approval_decided`, the CFO approval's id as signal_id and state
// EXPIRED; the worker believed it and asked the CFO again, and the genuine
// decision was later dropped as a duplicate.

#include <catch2/catch.hpp>

#include "admission_stack.hpp"

namespace cantdo::testing {
namespace {

// An offboarding run admitted through the gateway and parked waiting for
// the CFO's refund approval, whose id is returned.
std::string RunUntilCfoAsked(AdmissionStack& s, const std::string& workflow_id, const std::string& customer) {
  auto started = s.Start(workflow_id, customer, customer, /*refund_cents=*/1500);
  INFO(started.status().ToString());
  REQUIRE(started.ok());
  s.AdmitApproved(workflow_id, started->admission_approval_id());
  const std::string cfo = s.h.WaitApproval(workflow_id, "issue_refund");
  s.h.WaitParked(workflow_id);
  return cfo;
}

cv1::ApprovalDecidedSignal Expired(const std::string& approval_id) {
  cv1::ApprovalDecidedSignal lie;
  lie.set_approval_id(approval_id);
  lie.set_state(cv1::APPROVAL_STATE_EXPIRED);
  lie.set_state_reason(cv1::APPROVAL_EXPIRED);
  lie.set_step("issue_refund");
  return lie;
}

int64_t AskedAgain(AdmissionStack& s, const std::string& workflow_id) {
  return s.CountCantdo("SELECT count(*) FROM cantdo.approvals WHERE workflow_id = $1 AND step LIKE 'issue_refund.%'",
                       {workflow_id});
}

// The CFO and the DPO approve for real; the run completes with one refund
// asked for once.
void FinishGenuinely(AdmissionStack& s, const std::string& workflow_id, const std::string& customer,
                     const std::string& cfo) {
  s.h.Approve(cfo, "cfo1", "cfo");
  s.h.Approve(s.h.WaitApproval(workflow_id, "delete_customer_data"), "dpo1", "dpo");
  const wv1::WorkflowExecution closed = s.h.WaitClosed(workflow_id);
  INFO(closed.DebugString());
  REQUIRE(closed.state() == wv1::WORKFLOW_EXECUTION_STATE_COMPLETED);
  const ov1::OffboardingResult result = s.h.Result(closed.run_id());
  bool refunded = false;
  for (const auto& step : result.steps()) {
    if (step.step() != "issue_refund") continue;
    refunded = true;
    CHECK(step.outcome() == ov1::STEP_OUTCOME_APPROVED_DONE);
    CHECK(step.approval_requests() == 1);
    CHECK(step.approval_id() == cfo);
  }
  CHECK(refunded);
  CHECK(s.h.Snapshot(customer).refunds == 1);
}

}  // namespace

TEST_CASE(
    "An operator cannot send a cantdo.* signal: a forged decision is refused and the run keeps waiting for "
    "the real one",
    "[security][admission]") {
  AdmissionStack s;
  const std::string workflow_id = "offboard-forged-decision";
  const std::string customer = demo::CustomerId(3);
  const std::string cfo = RunUntilCfoAsked(s, workflow_id, customer);

  gv1::SignalWorkflowRequest forged;
  forged.set_workflow_id(workflow_id);
  forged.set_signal_name("cantdo.approval_decided");
  forged.set_signal_id(cfo);
  *forged.mutable_payload() = workflow::Pack(Expired(cfo));
  auto sent = s.Signal(forged);
  INFO(sent.status().ToString());
  CHECK(sent.status().code() == absl::StatusCode::kInvalidArgument);
  CHECK(GetReason(sent.status()) == "SIGNAL_NAME_RESERVED");
  CHECK(s.CountCantdo("SELECT count(*) FROM cantdo.workflow_events e JOIN cantdo.workflow_runs r USING (run_id)"
                      " WHERE r.workflow_id = $1 AND e.event_type = 50",
                      {workflow_id}) == 0);
  s.h.WaitParked(workflow_id);
  REQUIRE(AskedAgain(s, workflow_id) == 0);
  FinishGenuinely(s, workflow_id, customer, cfo);
}

TEST_CASE(
    "A decision signal is only a wake-up: a lying one, even delivered by the authority's own login, makes the "
    "workflow ask the authority, which says the approval is still pending",
    "[security][admission]") {
  AdmissionStack s;
  const std::string workflow_id = "offboard-lying-decision";
  const std::string customer = demo::CustomerId(4);
  const std::string cfo = RunUntilCfoAsked(s, workflow_id, customer);

  // Through the engine's own signal path, with the only database login
  // allowed to send decisions: what a bug or a compromise of the sender
  // could do at worst.
  auto conn = pg::Connection::Connect(s.h.authority_login->dsn(), absl::Seconds(10));
  REQUIRE(conn.ok());
  workflow::SignalRequest lie;
  lie.workflow_id = workflow_id;
  lie.signal_name = "cantdo.approval_decided";
  lie.signal_id = "lie-" + cfo;
  lie.payload = workflow::Pack(Expired(cfo));
  lie.identity = "spiffe://cantdo/authority";
  auto delivered = pg::RunInTransaction(**conn, {}, [&](pg::Connection& tx) { return s.h.client.Signal(tx, lie); });
  INFO(delivered.status().ToString());
  REQUIRE(delivered.ok());
  REQUIRE_FALSE(delivered->duplicate);
  s.h.WaitParked(workflow_id);
  REQUIRE(AskedAgain(s, workflow_id) == 0);
  FinishGenuinely(s, workflow_id, customer, cfo);
}

}  // namespace cantdo::testing
