#pragma once
// The admission path as deployed, in one process: OffboardingHarness (a
// real authority over mutual TLS logged in as a member of cantdo_authority,
// the worker as a member of cantdo_worker, the demo customer platform in
// its own database) plus a real gateway (GatewayApp, TLS on loopback)
// logged in as a member of cantdo_gateway. The operator calls the gateway
// with its client certificate (spiffe://cantdo/operator); approvers answer
// as the bridge delivers their answers (CompleteApproval with a signed ID
// token the authority verifies). Every service has exactly its role's
// database privileges, so an attack that works here works in production.

#include <catch2/catch.hpp>

#include <fstream>
#include <string>

#include "../../integration/worker/offboarding_harness.hpp"
#include "cantdo/base/status.hpp"
#include "cantdo/gateway/v1/workflow_service.grpc.pb.h"
#include "gateway/gateway_app.hpp"
#include "support/wait.hpp"

namespace cantdo::testing {

namespace gv1 = cantdo::gateway::v1;

class AdmissionStack {
 public:
  explicit AdmissionStack(OffboardingHarness::Options options = {}) : h(options) {
    gateway_login = std::make_unique<LoginRole>(h.db, "cantdo_gateway");
    const std::string callers = h.dir.path() + "/callers.json";
    std::ofstream(callers) << R"({"callers": [{"principal": "spiffe://cantdo/operator", "roles": ["operator"]}]})";
    auto files = h.pki.WriteFiles(h.dir.path(), "gateway");
    auto& c = gateway.config();
    c.authority_address = h.authority_address;
    c.callers_file = callers;
    c.rate_limit = 0;
    c.admission_sweep_interval = absl::Milliseconds(300);
    runtime::CommonConfig common;
    common.listen = "127.0.0.1:0";
    common.tls_cert = files.cert;
    common.tls_key = files.key;
    common.tls_ca = files.ca;
    common.db_dsn = gateway_login->dsn();
    common.db_pool_size = 8;
    common.shutdown_grace = absl::Seconds(1);
    auto started = runtime::StartService(gateway, common, h.clock);
    INFO(started.status().ToString());
    REQUIRE(started.ok());
    gateway_service = *std::move(started);
    operator_channel =
        cantdo::grpc::MakeMtlsChannel("127.0.0.1:" + std::to_string(gateway_service->port()), h.pki.Issue("operator"));
  }
  ~AdmissionStack() {
    if (gateway_service) gateway_service->Shutdown();
  }

  // StartWorkflow(customer_offboarding) as the operator. `parameters_customer`
  // empty: the request carries no parameters.
  absl::StatusOr<gv1::StartWorkflowResponse> Start(const std::string& workflow_id, const std::string& input_customer,
                                                   const std::string& parameters_customer, int64_t refund_cents = 0) {
    gv1::StartWorkflowRequest req;
    req.set_workflow_type("customer_offboarding");
    req.set_workflow_id(workflow_id);
    req.set_request_id("req-" + workflow_id);
    ov1::OffboardingInput in;
    in.set_customer_id(input_customer);
    in.set_refund_amount_cents(refund_cents);
    in.set_reason("customer churned");
    *req.mutable_input() = workflow::Pack(in);
    if (!parameters_customer.empty()) {
      (*req.mutable_parameters()->mutable_fields())["customer_id"].set_string_value(parameters_customer);
    }
    return Call(&gv1::WorkflowService::Stub::StartWorkflow, req);
  }

  absl::StatusOr<gv1::SignalWorkflowResponse> Signal(const gv1::SignalWorkflowRequest& req) {
    return Call(&gv1::WorkflowService::Stub::SignalWorkflow, req);
  }

  absl::Status Cancel(const std::string& workflow_id) {
    gv1::CancelWorkflowRequest req;
    req.set_workflow_id(workflow_id);
    req.set_reason("customer stayed");
    return Call(&gv1::WorkflowService::Stub::CancelWorkflow, req).status();
  }

  absl::StatusOr<gv1::GetWorkflowHistoryResponse> History(const std::string& workflow_id) {
    gv1::GetWorkflowHistoryRequest req;
    req.set_workflow_id(workflow_id);
    req.set_page_size(1000);
    return Call(&gv1::WorkflowService::Stub::GetWorkflowHistory, req);
  }

  // The ops manager approves the run's admission; the gateway admits it.
  void AdmitApproved(const std::string& workflow_id, const std::string& approval_id) {
    h.Approve(approval_id, "ops1", "ops_manager");
    REQUIRE(
        WaitUntil([&] { return h.Describe(workflow_id).state() != wv1::WORKFLOW_EXECUTION_STATE_PENDING_ADMISSION; },
                  absl::Seconds(30)));
  }

  // The customer is as it was: nobody's access revoked, nothing exported,
  // canceled, refunded or erased.
  static bool Untouched(const demo::CustomerSnapshot& before, const demo::CustomerSnapshot& now) {
    return now.users_active == before.users_active && now.sessions == before.sessions &&
           now.api_keys_active == before.api_keys_active && now.subscriptions_active == before.subscriptions_active &&
           now.billing_exports == before.billing_exports && now.refunds == before.refunds &&
           now.erased == before.erased && now.status == before.status;
  }

  // A count from the cantdo database, as its owner.
  int64_t CountCantdo(const std::string& sql, std::initializer_list<pg::Param> params = {}) {
    auto conn = h.db.Connect();
    auto r = conn->Exec(sql, params);
    INFO(sql << ": " << r.status().ToString());
    REQUIRE(r.ok());
    return *r->GetInt64(0, 0);
  }

  OffboardingHarness h;
  std::unique_ptr<LoginRole> gateway_login;
  cantdo::gateway::GatewayApp gateway;
  std::unique_ptr<runtime::RunningService> gateway_service;
  std::shared_ptr<::grpc::Channel> operator_channel;

 private:
  template <typename Req, typename Resp>
  absl::StatusOr<Resp> Call(::grpc::Status (gv1::WorkflowService::Stub::*method)(::grpc::ClientContext*, const Req&,
                                                                                 Resp*),
                            const Req& req) {
    gv1::WorkflowService::Stub stub(operator_channel);
    ::grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
    Resp resp;
    auto st = (stub.*method)(&ctx, req, &resp);
    if (!st.ok()) return cantdo::grpc::FromGrpcStatus(st);
    return resp;
  }
};

}  // namespace cantdo::testing
