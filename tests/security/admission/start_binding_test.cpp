// Issue #17, part 1: admission approves `parameters`, the run acts on `input`.
//
// Attack (as found): the ops manager's phone showed "Start offboarding of
// cus_000001", the approval was given, and the run then offboarded
// cus_000077: StartWorkflow asked for approval of its `parameters` and
// started the run with its `input`, and nothing tied the two.

#include <catch2/catch.hpp>

#include "admission_stack.hpp"
#include "cantdo/base/ids.hpp"

namespace cantdo::testing {
namespace {

int64_t CountForWorkflow(AdmissionStack& s, const std::string& table, const std::string& workflow_id) {
  return s.CountCantdo("SELECT count(*) FROM cantdo." + table + " WHERE workflow_id = $1", {workflow_id});
}

}  // namespace

TEST_CASE(
    "A start whose parameters disagree with its input is refused and leaves nothing, and without parameters the "
    "ops manager is asked about the input's customer and the run acts on that customer only",
    "[security][admission]") {
  AdmissionStack s;
  const std::string shown = demo::CustomerId(1);  // what the approver's phone would show
  const std::string acted = demo::CustomerId(7);  // what the run would act on
  const demo::CustomerSnapshot shown_before = s.h.Snapshot(shown);
  const demo::CustomerSnapshot acted_before = s.h.Snapshot(acted);

  auto forged = s.Start("offboard-mismatch", acted, shown);
  INFO(forged.status().ToString());
  CHECK(forged.status().code() == absl::StatusCode::kInvalidArgument);
  CHECK(GetReason(forged.status()) == "WORKFLOW_PARAMETERS_MISMATCH");
  // Nothing exists afterwards: no run, no approval request, no ledger entry.
  CHECK(CountForWorkflow(s, "workflow_runs", "offboard-mismatch") == 0);
  CHECK(CountForWorkflow(s, "approvals", "offboard-mismatch") == 0);
  CHECK(CountForWorkflow(s, "ledger", "offboard-mismatch") == 0);

  // The same start without parameters: the gateway derives them from the
  // input, so the approver sees the customer the run will act on.
  auto started = s.Start("offboard-derived", acted, "", /*refund_cents=*/1500);
  INFO(started.status().ToString());
  REQUIRE(started.ok());
  const auto& asked = started->admission_approval();
  const auto& fields = asked.action().parameters().fields();
  CHECK(fields.size() == 1);
  CHECK((fields.count("customer_id") == 1 && fields.at("customer_id").string_value() == acted));
  // The policy's message about the input's customer, and the approval's code.
  CHECK(asked.binding_message() == "Start offboarding of " + acted + " #" + asked.binding_code());
  s.AdmitApproved("offboard-derived", started->admission_approval_id());
  s.h.WaitApproval("offboard-derived", "issue_refund");  // the low-risk steps are done
  CHECK(s.h.Snapshot(acted).users_active == 0);
  CHECK(s.h.Snapshot(acted).subscriptions_active == 0);
  CHECK(AdmissionStack::Untouched(shown_before, s.h.Snapshot(shown)));
  CHECK(acted_before.users_active > 0);
  CHECK(s.CountCantdo("SELECT count(*) FROM cantdo.ledger WHERE workflow_id = 'offboard-derived' AND resource = $1",
                      {"customer/" + acted}) > 0);
  CHECK(s.CountCantdo("SELECT count(*) FROM cantdo.ledger WHERE workflow_id = 'offboard-derived' AND resource = $1",
                      {"customer/" + shown}) == 0);
}

TEST_CASE(
    "A run whose input disagrees with what its admission approved fails before acting, even when the "
    "gateway's start checks are bypassed",
    "[security][admission]") {
  AdmissionStack s;
  const std::string shown = demo::CustomerId(2);
  const std::string acted = demo::CustomerId(8);
  const demo::CustomerSnapshot shown_before = s.h.Snapshot(shown);
  const demo::CustomerSnapshot acted_before = s.h.Snapshot(acted);

  // With the gateway's own certificate and database login, but not through
  // its StartWorkflow: the admission approval names `shown`, the run's
  // input `acted` (what a gateway bug, or a stolen gateway login and
  // certificate, could do).
  const std::string workflow_id = "offboard-split";
  const std::string run_id = NewUuid();
  av1::RequestApprovalRequest ask;
  auto* a = ask.mutable_action();
  a->set_action("workflow.start");
  a->set_resource("customer_offboarding");
  a->set_workflow_id(workflow_id);
  a->set_run_id(run_id);
  a->set_step("admission");
  (*a->mutable_parameters()->mutable_fields())["customer_id"].set_string_value(shown);
  ask.set_requester("spiffe://cantdo/operator");
  auto gateway_stub =
      av1::AuthorityService::NewStub(cantdo::grpc::MakeMtlsChannel(s.h.authority_address, s.h.pki.Issue("gateway")));
  ::grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
  av1::RequestApprovalResponse asked;
  auto st = gateway_stub->RequestApproval(&ctx, ask, &asked);
  INFO(st.error_message());
  REQUIRE(st.ok());
  {
    pg::PoolOptions po;
    po.dsn = s.gateway_login->dsn();
    po.max_size = 1;
    auto pool = pg::Pool::Create(po);
    REQUIRE(pool.ok());
    ov1::OffboardingInput in;
    in.set_customer_id(acted);
    in.set_refund_amount_cents(1500);
    workflow::StartRequest r;
    r.workflow_id = workflow_id;
    r.run_id = run_id;
    r.workflow_type = "customer_offboarding";
    r.task_queue = "offboarding";
    r.input = workflow::Pack(in);
    r.requester = "spiffe://cantdo/operator";
    r.admission_approval_id = asked.approval().approval_id();
    r.pending_admission = true;
    auto created = pg::RunInTransaction(**pool, {}, [&](pg::Connection& c) { return s.h.client.Start(c, r); });
    INFO(created.status().ToString());
    REQUIRE(created.ok());
  }
  s.AdmitApproved(workflow_id, asked.approval().approval_id());

  // The worker runs it, or tries to: it must fail before any step.
  REQUIRE(WaitUntil(
      [&] {
        return OffboardingHarness::Closed(s.h.Describe(workflow_id).state()) ||
               CountForWorkflow(s, "approvals", workflow_id) > 1;  // reached the refund: it acted
      },
      absl::Seconds(60)));
  const wv1::WorkflowExecution run = s.h.Describe(workflow_id);
  INFO(run.DebugString());
  CHECK(run.state() == wv1::WORKFLOW_EXECUTION_STATE_FAILED);
  CHECK(run.failure().type() == "WORKFLOW_INPUT_NOT_APPROVED");
  CHECK(s.h.Ledger(workflow_id, "access.revoke").empty());
  CHECK(AdmissionStack::Untouched(acted_before, s.h.Snapshot(acted)));
  CHECK(AdmissionStack::Untouched(shown_before, s.h.Snapshot(shown)));
}

TEST_CASE("A policy that ALLOWs workflow.start admits nothing: a run always needs an ops manager's approval",
          "[security][admission]") {
  OffboardingHarness::Options o;
  o.policy = [](nlohmann::json& policy) {
    for (auto& rule : policy["rules"]) {
      if (rule["action"] == "workflow.start") {
        rule = {{"action", "workflow.start"}, {"resource", "customer_offboarding"}, {"decision", "ALLOW"}};
      }
    }
  };
  AdmissionStack s(o);
  const std::string customer = demo::CustomerId(9);
  auto started = s.Start("offboard-allowed", customer, "");
  INFO(started.status().ToString());
  CHECK(started.status().code() == absl::StatusCode::kFailedPrecondition);
  CHECK(GetReason(started.status()) == "WORKFLOW_ADMISSION_REQUIRES_APPROVAL");
  CHECK(CountForWorkflow(s, "workflow_runs", "offboard-allowed") == 0);
  CHECK(s.CountCantdo("SELECT count(*) FROM cantdo.workflow_tasks") == 0);
}

}  // namespace cantdo::testing
