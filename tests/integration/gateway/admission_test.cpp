// Admission through the real gateway and authority: no task before the
// workflow.start grant is consumed, signals refused meanwhile, admitted once.

#include "gateway_harness.hpp"

using namespace cantdo::testing;
using cantdo::GetMetadata;
using cantdo::GetReason;

namespace {
constexpr char kTasks[] = "SELECT count(*) FROM cantdo.workflow_tasks WHERE run_id = $1::uuid";
constexpr char kAdmittedEvents[] =
    "SELECT count(*) FROM cantdo.workflow_events WHERE run_id = $1::uuid AND event_type = 7";
}  // namespace

TEST_CASE(
    "A start without the ops manager's approval never gets a task and refuses signals, approved, it is "
    "admitted once even when the approval is delivered twice",
    "[integration][gateway]") {
  GatewayHarness h;
  auto started = h.Start(GatewayHarness::Offboarding("offboard-cus_42", "req-1"));
  INFO(started.status().ToString());
  REQUIRE(started.ok());
  const std::string run_id = started->execution().run_id();
  CHECK(started->created());
  CHECK(started->execution().state() == wv1::WORKFLOW_EXECUTION_STATE_PENDING_ADMISSION);
  CHECK(started->execution().requester() == "cert:spiffe://cantdo/operator");
  CHECK(started->admission_approval().state() == cantdo::common::v1::APPROVAL_STATE_PENDING);
  CHECK(started->admission_approval().required_role() == "ops_manager");
  CHECK(started->admission_approval().principal() == "spiffe://cantdo/gateway");
  CHECK(started->admission_approval().action().action() == "workflow.start");
  CHECK(started->admission_approval().action().run_id() == run_id);
  const std::string approval_id = started->admission_approval_id();

  // Pending: admission sweeps (run here, besides the gateway's loop) look at
  // the run and leave it waiting, no task; signals refused.
  for (int i = 0; i < 2; ++i) {
    auto swept = h.app.admission()->Sweep();
    REQUIRE(swept.ok());
    CHECK(*swept >= 1);
  }
  CHECK(h.Describe("offboard-cus_42").state() == wv1::WORKFLOW_EXECUTION_STATE_PENDING_ADMISSION);
  CHECK(h.Count(kTasks, {run_id}) == 0);
  auto refused = h.Signal("offboard-cus_42", "sig-1");
  CHECK(refused.status().code() == absl::StatusCode::kFailedPrecondition);
  CHECK(GetReason(refused.status()) == "WORKFLOW_NOT_ADMITTED");

  // The ops manager approves; the bridge delivers the result twice.
  auto first = h.Approve(approval_id);
  INFO(first.status().ToString());
  REQUIRE(first.ok());
  auto second = h.Approve(approval_id);
  INFO(second.status().ToString());
  REQUIRE(second.ok());
  CHECK(second->already_recorded());
  const bool admitted =
      WaitUntil([&] { return h.Describe("offboard-cus_42").state() == wv1::WORKFLOW_EXECUTION_STATE_RUNNING; },
                absl::Seconds(10));
  if (!admitted) {
    auto conn = h.authority.db.Connect();
    auto r = conn->Exec("SELECT string_agg(kind || ' ' || detail, E'\n') FROM cantdo.ledger");
    INFO((r.ok() ? *r->GetString(0, 0) : r.status().ToString()));
    auto e = conn->Exec("SELECT string_agg(event_type::text, ',') FROM cantdo.workflow_events");
    INFO(*e->GetString(0, 0));
    auto g = conn->Exec("SELECT step || '/' || action || '/' || workflow_id || '/' || run_id FROM cantdo.grants");
    INFO(*g->GetString(0, 0));
    REQUIRE(admitted);
  }
  // Another replica (or a late notification) processing it again changes nothing.
  REQUIRE(h.app.admission()->Process("offboard-cus_42", run_id, approval_id).ok());
  REQUIRE(h.app.admission()->ProcessApproval(approval_id).ok());
  auto swept = h.app.admission()->Sweep();  // and a sweep: nothing pending any more
  REQUIRE(swept.ok());
  CHECK(*swept == 0);
  CHECK(h.Count(kAdmittedEvents, {run_id}) == 1);
  CHECK(h.Count(kTasks, {run_id}) == 1);
  CHECK(h.Count("SELECT count(*) FROM cantdo.grants WHERE approval_id = $1::uuid AND state = 'CONSUMED'",
                {approval_id}) == 1);
  CHECK(h.authority.LedgerCount("GRANT_CONSUMED") == 1);
  CHECK(h.Describe("offboard-cus_42").admit_time().seconds() > 0);

  auto accepted = h.Signal("offboard-cus_42", "sig-1");
  INFO(accepted.status().ToString());
  CHECK(accepted.ok());
}

TEST_CASE("The grant is consumed and the run admitted in one transaction: no consume for a run that cannot run",
          "[integration][gateway]") {
  GatewayHarness h;
  auto started = h.Start(GatewayHarness::Offboarding("offboard-cancel"));
  REQUIRE(started.ok());
  // Cancelled while pending: closed at once.
  gv1::CancelWorkflowRequest cancel;
  cancel.set_workflow_id("offboard-cancel");
  cancel.set_reason("customer stayed");
  auto cancelled = GatewayHarness::Call(h.CertChannel("operator"), &gv1::WorkflowService::Stub::CancelWorkflow, cancel);
  REQUIRE(cancelled.ok());
  CHECK(cancelled->execution().state() == wv1::WORKFLOW_EXECUTION_STATE_CANCELLED);
  // Approved afterwards: the admission loop has nothing to admit (it
  // revokes the grant), and even the gateway's own claim + consume, racing
  // that revocation, cannot consume it for the closed run: the claim or the
  // consume is refused (GRANT_REVOKED, or WORKFLOW_ALREADY_CLOSED from the
  // consuming transaction), or, revoked before the claim, the run is left
  // closed (OK).
  REQUIRE(h.Approve(started->admission_approval_id()).ok());
  auto& a = *h.app.admission();
  const absl::Status processed =
      a.Process("offboard-cancel", started->execution().run_id(), started->admission_approval_id());
  INFO(processed.ToString());
  CHECK(
      (processed.ok() || GetReason(processed) == "WORKFLOW_ALREADY_CLOSED" || GetReason(processed) == "GRANT_REVOKED"));
  CHECK(h.Describe("offboard-cancel").state() == wv1::WORKFLOW_EXECUTION_STATE_CANCELLED);
  CHECK(h.Count("SELECT count(*) FROM cantdo.grants WHERE state = 'CONSUMED'") == 0);
  CHECK(h.Count(kTasks, {started->execution().run_id()}) == 0);
}

TEST_CASE("A denied admission closes the run REJECTED, signals then find it closed", "[integration][gateway]") {
  GatewayHarness h;
  auto started = h.Start(GatewayHarness::Offboarding("offboard-denied"));
  REQUIRE(started.ok());
  auto denied = h.Deny(started->admission_approval_id());
  INFO(denied.status().ToString());
  REQUIRE(denied.ok());
  REQUIRE(WaitUntil([&] { return h.Describe("offboard-denied").state() == wv1::WORKFLOW_EXECUTION_STATE_REJECTED; },
                    absl::Seconds(10)));
  CHECK(h.Count(kTasks, {started->execution().run_id()}) == 0);
  CHECK(h.Describe("offboard-denied").failure().type() == "APPROVAL_DENIED");
  CHECK(GetReason(h.Signal("offboard-denied", "sig-1").status()) == "WORKFLOW_ALREADY_CLOSED");
}

TEST_CASE("StartWorkflow is idempotent per request id and honours the workflow id reuse policy",
          "[integration][gateway]") {
  GatewayHarness h;
  auto first = h.Start(GatewayHarness::Offboarding("offboard-idem", "req-idem"));
  REQUIRE(first.ok());
  auto again = h.Start(GatewayHarness::Offboarding("offboard-idem", "req-idem"));
  INFO(again.status().ToString());
  REQUIRE(again.ok());
  CHECK_FALSE(again->created());
  CHECK(again->execution().run_id() == first->execution().run_id());
  CHECK(again->admission_approval_id() == first->admission_approval_id());
  // Without a workflow id the request id alone finds it again.
  auto generated = h.Start(GatewayHarness::Offboarding("", "req-gen"));
  REQUIRE(generated.ok());
  auto generated_again = h.Start(GatewayHarness::Offboarding("", "req-gen"));
  REQUIRE(generated_again.ok());
  CHECK(generated_again->execution().run_id() == generated->execution().run_id());
  CHECK(h.Count("SELECT count(*) FROM cantdo.workflow_runs") == 2);
  CHECK(h.Count("SELECT count(*) FROM cantdo.approvals") == 2);

  // The same request id for another start.
  auto reused = h.Start(GatewayHarness::Offboarding("another-id", "req-idem"));
  CHECK(reused.status().code() == absl::StatusCode::kAlreadyExists);
  CHECK(GetReason(reused.status()) == "IDEMPOTENCY_KEY_REUSED");
  // An open run of the workflow id refuses another.
  auto open = h.Start(GatewayHarness::Offboarding("offboard-idem", "req-other"));
  CHECK(GetReason(open.status()) == "WORKFLOW_ALREADY_EXISTS");
  // Closed (rejected), REJECT_DUPLICATE refuses, ALLOW_DUPLICATE starts anew.
  REQUIRE(h.Deny(first->admission_approval_id()).ok());
  REQUIRE(WaitUntil([&] { return h.Describe("offboard-idem").state() == wv1::WORKFLOW_EXECUTION_STATE_REJECTED; },
                    absl::Seconds(10)));
  auto strict = GatewayHarness::Offboarding("offboard-idem", "req-strict");
  strict.set_id_reuse_policy(gv1::WORKFLOW_ID_REUSE_POLICY_REJECT_DUPLICATE);
  CHECK(GetReason(h.Start(strict).status()) == "WORKFLOW_ALREADY_EXISTS");
  auto failed_only = GatewayHarness::Offboarding("offboard-idem", "req-failed-only");
  failed_only.set_id_reuse_policy(gv1::WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE_FAILED_ONLY);
  auto restarted = h.Start(failed_only);
  INFO(restarted.status().ToString());
  REQUIRE(restarted.ok());
  CHECK(restarted->execution().run_id() != first->execution().run_id());

  // A start the workflow type cannot admit: nothing is created.
  auto no_input = GatewayHarness::Offboarding("no-input-1", "req-no-input");
  no_input.clear_input();
  auto refused = h.Start(no_input);
  CHECK(refused.status().code() == absl::StatusCode::kInvalidArgument);
  CHECK(GetMetadata(refused.status())["field"] == "input");
  CHECK(h.Count("SELECT count(*) FROM cantdo.workflow_runs WHERE workflow_id = 'no-input-1'") == 0);
  CHECK(h.Count("SELECT count(*) FROM cantdo.approvals WHERE workflow_id = 'no-input-1'") == 0);
  auto unknown = GatewayHarness::Offboarding("x");
  unknown.set_workflow_type("no_such_type");
  CHECK(GetReason(h.Start(unknown).status()) == "WORKFLOW_TYPE_UNKNOWN");
}
