// CancelWorkflow through the real gateway revokes the run's unconsumed
// grants at the real authority, so a cancelled run's worker cannot act.

#include "gateway_harness.hpp"

using namespace cantdo::testing;
using cantdo::GetMetadata;
using cantdo::GetReason;
namespace av1 = cantdo::authority::v1;
namespace cv1 = cantdo::common::v1;

namespace {

// Starts workflow_id and has the ops manager admit it; returns its run id.
std::string StartRunning(GatewayHarness& h, const std::string& workflow_id) {
  auto started = h.Start(GatewayHarness::Offboarding(workflow_id));
  INFO(started.status().ToString());
  REQUIRE(started.ok());
  REQUIRE(h.Approve(started->admission_approval_id()).ok());
  REQUIRE(WaitUntil([&] { return h.Describe(workflow_id).state() == wv1::WORKFLOW_EXECUTION_STATE_RUNNING; },
                    absl::Seconds(10)));
  return started->execution().run_id();
}

av1::RequestApprovalRequest DeleteData(const std::string& workflow_id, const std::string& run_id,
                                       const std::string& step) {
  av1::RequestApprovalRequest req;
  auto* a = req.mutable_action();
  a->set_action("customer_data.delete");
  a->set_workflow_id(workflow_id);
  a->set_run_id(run_id);
  a->set_step(step);
  (*a->mutable_parameters()->mutable_fields())["customer_id"].set_string_value("cus_42");
  req.set_requester("spiffe://cantdo/operator");
  return req;
}

// The worker's customer_data.delete grant for `step` of the run, approved
// by the DPO: ISSUED.
cv1::Grant IssuedGrant(GatewayHarness& h, const std::string& workflow_id, const std::string& run_id,
                       const std::string& step) {
  auto asked = h.authority.Request(DeleteData(workflow_id, run_id, step));
  INFO(asked.status().ToString());
  REQUIRE(asked.ok());
  const std::string approval_id = asked->approval().approval_id();
  auto done = h.authority.Complete(approval_id, h.authority.idp.Sign(h.authority.Claims("dpo1", approval_id, {"dpo"})));
  INFO(done.status().ToString());
  REQUIRE(done.ok());
  REQUIRE(done->grant().state() == cv1::GRANT_STATE_ISSUED);
  return done->grant();
}

av1::ClaimGrantRequest ClaimFor(const cv1::Grant& g, const std::string& workflow_id, const std::string& run_id,
                                const std::string& step) {
  av1::ClaimGrantRequest claim;
  claim.set_grant_id(g.grant_id());
  *claim.mutable_action() = DeleteData(workflow_id, run_id, step).action();
  claim.set_idempotency_key("key-" + step);
  return claim;
}

std::string GrantState(GatewayHarness& h, const std::string& grant_id) {
  auto conn = h.authority.db.Connect();
  auto r = conn->Exec("SELECT state FROM cantdo.grants WHERE grant_id = $1::uuid", {grant_id});
  REQUIRE(r.ok());
  REQUIRE(r->Rows() == 1);
  return *r->GetString(0, 0);
}

absl::StatusOr<gv1::CancelWorkflowResponse> Cancel(GatewayHarness& h, const std::string& workflow_id) {
  gv1::CancelWorkflowRequest cancel;
  cancel.set_workflow_id(workflow_id);
  cancel.set_reason("customer stayed");
  return GatewayHarness::Call(h.CertChannel("operator"), &gv1::WorkflowService::Stub::CancelWorkflow, cancel);
}

}  // namespace

TEST_CASE("Cancelling a running workflow revokes its unconsumed grants: the worker's claim is refused GRANT_REVOKED",
          "[integration][gateway]") {
  GatewayHarness h;
  const std::string run_id = StartRunning(h, "offboard-revoke");
  const cv1::Grant issued = IssuedGrant(h, "offboard-revoke", run_id, "delete-data");
  const cv1::Grant claimed = IssuedGrant(h, "offboard-revoke", run_id, "delete-backups");
  REQUIRE(h.authority.Claim(ClaimFor(claimed, "offboard-revoke", run_id, "delete-backups")).ok());
  // Another run's grant is none of this cancel's business.
  const std::string other_run = StartRunning(h, "offboard-other");
  const cv1::Grant other = IssuedGrant(h, "offboard-other", other_run, "delete-data");

  auto cancelled = Cancel(h, "offboard-revoke");
  INFO(cancelled.status().ToString());
  REQUIRE(cancelled.ok());
  CHECK(cancelled->execution().state() == wv1::WORKFLOW_EXECUTION_STATE_RUNNING);  // its code winds it down

  CHECK(GrantState(h, issued.grant_id()) == "REVOKED");
  CHECK(GrantState(h, claimed.grant_id()) == "REVOKED");
  CHECK(GrantState(h, other.grant_id()) == "ISSUED");
  // The admission grant was consumed long ago and stays so.
  CHECK(h.Count("SELECT count(*) FROM cantdo.grants WHERE action = 'workflow.start' AND state = 'CONSUMED'") == 2);

  auto refused = h.authority.Claim(ClaimFor(issued, "offboard-revoke", run_id, "delete-data"));
  CHECK(refused.status().code() == absl::StatusCode::kPermissionDenied);
  CHECK(GetReason(refused.status()) == "GRANT_REVOKED");
  CHECK(h.authority.LedgerCount("GRANT_REVOKED") == 2);
  {
    auto conn = h.authority.db.Connect();
    auto r = conn->Exec(
        "SELECT count(*) FROM cantdo.grants WHERE state = 'REVOKED' AND revoke_reason = "
        "'workflow run cancelled: customer stayed'");
    REQUIRE(r.ok());
    CHECK(*r->GetInt64(0, 0) == 2);
  }

  // A retry is OK and revokes nothing twice.
  auto again = Cancel(h, "offboard-revoke");
  INFO(again.status().ToString());
  CHECK(again.ok());
  CHECK(h.authority.LedgerCount("GRANT_REVOKED") == 2);
}

TEST_CASE("A cancel whose revocation fails is kept, and the failure is reported as retryable",
          "[integration][gateway]") {
  GatewayHarness h;
  const std::string run_id = StartRunning(h, "offboard-retry");
  const cv1::Grant issued = IssuedGrant(h, "offboard-retry", run_id, "delete-data");
  // The authority is gone when the operator cancels.
  h.authority.service->Shutdown();
  auto cancelled = Cancel(h, "offboard-retry");
  CHECK(cancelled.status().code() == absl::StatusCode::kUnavailable);
  CHECK(GetReason(cancelled.status()) == "DEPENDENCY_UNAVAILABLE");
  CHECK(GetMetadata(cancelled.status())["cancel_recorded"] == "true");
  // The cancel itself is committed.
  CHECK(h.Count("SELECT count(*) FROM cantdo.workflow_events WHERE run_id = $1::uuid AND event_type = 52", {run_id}) ==
        1);
  CHECK(GrantState(h, issued.grant_id()) == "ISSUED");
}

TEST_CASE(
    "A workflow cancelled while pending admission: an approval arriving later has its grant revoked and admits "
    "nothing",
    "[integration][gateway]") {
  GatewayHarness h;
  auto started = h.Start(GatewayHarness::Offboarding("offboard-late"));
  REQUIRE(started.ok());
  auto cancelled = Cancel(h, "offboard-late");
  INFO(cancelled.status().ToString());
  REQUIRE(cancelled.ok());
  CHECK(cancelled->execution().state() == wv1::WORKFLOW_EXECUTION_STATE_CANCELLED);
  auto approved = h.Approve(started->admission_approval_id());
  REQUIRE(approved.ok());
  const std::string grant_id = approved->grant().grant_id();
  REQUIRE_FALSE(grant_id.empty());
  CHECK(WaitUntil([&] { return GrantState(h, grant_id) == "REVOKED"; }, absl::Seconds(10)));
  CHECK(h.Describe("offboard-late").state() == wv1::WORKFLOW_EXECUTION_STATE_CANCELLED);
  CHECK(h.Count("SELECT count(*) FROM cantdo.workflow_tasks WHERE run_id = $1::uuid",
                {started->execution().run_id()}) == 0);
}
