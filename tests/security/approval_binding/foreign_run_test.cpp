// Issue 17, attack 5: an approval names the run it belongs to, and only
// that run's own worker may have its approvals signal it. An agent
// platform's RequestAuthorization may name any workflow_id and run_id (they
// are its own references); its decision must never be injected into an
// engine run's history.
#include "absl/strings/str_cat.h"
#include "cantdo/gateway/v1/authorization_service.grpc.pb.h"
#include "support/e2e_stack.hpp"

using namespace cantdo::e2e;

TEST_CASE("security: an approval an agent platform opens naming an engine run never signals that run",
          "[security][approval_binding]") {
  Stack s;
  const std::string cus = demo::CustomerId(55);
  const std::string wf = s.StartOffboarding(cus).execution().workflow_id();
  s.Approve(kOpsManager);
  s.Pending(kCfo);  // the run now waits for the CFO's refund decision
  const wv1::WorkflowExecution run = s.WaitState(wf, wv1::WORKFLOW_EXECUTION_STATE_RUNNING);

  // The platform asks for a refund "in" that run.
  auto platform = gv1::AuthorizationService::NewStub(s.Channel(*s.gateway, "platform"));
  gv1::RequestAuthorizationRequest req;
  auto* action = req.mutable_action();
  action->set_action("refund.issue");
  action->set_workflow_id(run.workflow_id());
  action->set_run_id(run.run_id());
  action->set_step("issue_refund");
  (*action->mutable_parameters()->mutable_fields())["customer_id"].set_string_value(cus);
  (*action->mutable_parameters()->mutable_fields())["amount_cents"].set_number_value(777);
  req.set_requester("agent:support-bot");
  gv1::RequestAuthorizationResponse requested;
  {
    ::grpc::ClientContext ctx;
    auto st = platform->RequestAuthorization(Stack::Ctx(&ctx), req, &requested);
    INFO(st.error_message() << "\n" << s.Logs());
    REQUIRE(st.ok());
  }
  const std::string foreign = requested.approval().approval_id();

  // The CFO declines the platform's request (the one naming 777 cents).
  std::string device_id;
  WaitUntil(
      [&] {
        for (const auto& r : s.idp->Device("GET", std::string("/requests?subject=") + kCfo)) {
          if (r.value("binding_message", "").find("777") != std::string::npos) {
            device_id = r.at("auth_req_id").get<std::string>();
          }
        }
        return !device_id.empty();
      },
      absl::Seconds(30));
  REQUIRE(!device_id.empty());
  s.idp->Device("POST", "/requests/" + device_id + "/deny");
  gv1::GetAuthorizationResponse decided;
  REQUIRE(WaitUntil(
      [&] {
        gv1::GetAuthorizationRequest g;
        g.set_approval_id(foreign);
        ::grpc::ClientContext ctx;
        return platform->GetAuthorization(Stack::Ctx(&ctx), g, &decided).ok() &&
               decided.approval().state() == cv1::APPROVAL_STATE_DENIED;
      },
      absl::Seconds(30)));

  // Nothing of it reached the run's history.
  gv1::GetWorkflowHistoryRequest h;
  h.set_workflow_id(run.workflow_id());
  h.set_run_id(run.run_id());
  h.set_page_size(1000);
  ::grpc::ClientContext ctx;
  gv1::GetWorkflowHistoryResponse history;
  REQUIRE(s.Operator()->GetWorkflowHistory(Stack::Ctx(&ctx), h, &history).ok());
  int foreign_signals = 0;
  for (const auto& e : history.events()) {
    if (e.has_signal_received() && e.signal_received().signal_id() == foreign) ++foreign_signals;
  }
  CHECK(foreign_signals == 0);

  // The run itself is unaffected: the CFO approves its own refund, the DPO
  // its erasure, and it completes.
  s.Approve(kCfo);
  s.Approve(kDpo);
  s.WaitState(wf, wv1::WORKFLOW_EXECUTION_STATE_COMPLETED);
}
