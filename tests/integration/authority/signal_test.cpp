// A decision resumes the workflow that waits for it: the authority appends
// "cantdo.approval_decided" to the run's history through the engine's
// signal path, in the same transaction that records the decision.
#include "authority_harness.hpp"
#include "cantdo/workflow/client.hpp"
#include "cantdo/workflow/payload.hpp"
#include "cantdo/pg/transaction.hpp"

using namespace cantdo::testing;
namespace wf = cantdo::workflow;

TEST_CASE("an approval decision signals the waiting workflow run once", "[integration][authority]") {
  AuthorityHarness h;
  wf::WorkflowClient client(h.clock);
  auto conn = h.db.Connect();
  wf::StartRequest start;
  start.workflow_id = "offboard-cust-42";
  start.workflow_type = "customer_offboarding";
  start.task_queue = "offboarding";
  auto started =
      cantdo::pg::RunInTransaction(*conn, {}, [&](cantdo::pg::Connection& tx) { return client.Start(tx, start); });
  REQUIRE(started.ok());

  auto req = AuthorityHarness::RefundRequest("refund");
  req.mutable_action()->set_workflow_id(start.workflow_id);
  req.mutable_action()->set_run_id(started->run_id);
  auto r = h.Request(req);
  REQUIRE(r.ok());
  const std::string id = r->approval().approval_id();
  REQUIRE(h.Complete(id, h.idp.Sign(h.Claims("cfo1", id))).ok());
  REQUIRE(h.Complete(id, h.idp.Sign(h.Claims("cfo1", id))).ok());  // re-delivery: no second signal

  auto history = client.History(*conn, started->run_id, 1, 100);
  REQUIRE(history.ok());
  int signals = 0;
  for (const auto& e : history->events) {
    if (!e.has_signal_received()) continue;
    ++signals;
    CHECK(e.signal_received().signal_name() == "cantdo.approval_decided");
    auto body = wf::Unpack<cv1::ApprovalDecidedSignal>(e.signal_received().payload());
    REQUIRE(body.ok());
    CHECK(body->approval_id() == id);
    CHECK(body->state() == cv1::APPROVAL_STATE_APPROVED);
    CHECK(!body->grant_id().empty());
    CHECK(body->step() == "refund");
  }
  CHECK(signals == 1);
}

TEST_CASE("a decision for a run that is gone still stands", "[integration][authority]") {
  AuthorityHarness h;
  auto req = AuthorityHarness::RefundRequest("refund");
  req.mutable_action()->set_run_id("5f0c6a52-7d1e-4a43-9d27-2b8f7d0c1e11");  // no such run
  auto r = h.Request(req);
  REQUIRE(r.ok());
  const std::string id = r->approval().approval_id();
  auto c = h.Complete(id, h.idp.Sign(h.Claims("cfo1", id)));
  REQUIRE(c.ok());
  CHECK(c->grant().state() == cv1::GRANT_STATE_ISSUED);
}
