#pragma once
// A real gateway (in-process, TLS on loopback) in front of a real authority
// (AuthorityHarness: mTLS, its own database, a stand-in bridge), sharing the
// database as in production. Callers: client certificates of the test PKI
// (operator, auditor, platform; roles from a callers file) or bearer tokens
// signed by `issuer` (a TokenSigner whose JWKS the gateway reads from disk).
// Approvals are delivered as the bridge would: CompleteApproval with an ID
// token of the ops manager signed by the authority's identity provider.

#include <catch2/catch.hpp>

#include <grpcpp/client_context.h>

#include <fstream>
#include <functional>

#include "../authority/authority_harness.hpp"
#include "cantdo/gateway/v1/authorization_service.grpc.pb.h"
#include "cantdo/gateway/v1/ledger_service.grpc.pb.h"
#include "cantdo/gateway/v1/workflow_service.grpc.pb.h"
#include "cantdo/offboarding/v1/offboarding.pb.h"
#include "gateway/gateway_app.hpp"
#include "support/dev_idp.hpp"

namespace cantdo::testing {

namespace gv1 = cantdo::gateway::v1;
namespace wv1 = cantdo::workflow::v1;

inline constexpr char kGatewayIssuer[] = "https://callers-idp.test";
inline constexpr char kGatewayAudience[] = "https://gateway.cantdo.dev";

class GatewayHarness {
 public:
  explicit GatewayHarness(std::function<void(cantdo::gateway::GatewayConfig&)> tweak = {}) {
    std::ofstream(authority.dir.path() + "/callers.json") << R"({"callers": [
        {"principal": "spiffe://cantdo/operator", "roles": ["operator"]},
        {"principal": "spiffe://cantdo/auditor", "roles": ["auditor"]},
        {"principal": "spiffe://cantdo/platform", "roles": ["agent_platform"]}]})";
    std::ofstream(authority.dir.path() + "/callers-jwks.json") << issuer.Jwks();
    auto files = authority.pki.WriteFiles(authority.dir.path(), "gateway");
    auto& c = app.config();
    c.authority_address = authority.target;
    c.oidc_issuer = kGatewayIssuer;
    c.oidc_audience = kGatewayAudience;
    c.oidc_jwks_uri = authority.dir.path() + "/callers-jwks.json";
    c.callers_file = authority.dir.path() + "/callers.json";
    c.workflow_types = "customer_offboarding=offboarding";
    c.rate_limit = 100000;
    c.rate_limit_burst = 100000;
    c.admission_sweep_interval = absl::Milliseconds(300);
    if (tweak) tweak(c);
    Start();
  }
  ~GatewayHarness() {
    if (service) service->Shutdown();
  }

  void Start() {
    runtime::CommonConfig common;
    common.listen = "127.0.0.1:0";
    common.tls_cert = authority.dir.path() + "/gateway.pem";
    common.tls_key = authority.dir.path() + "/gateway.key";
    common.tls_ca = authority.dir.path() + "/ca.pem";
    common.db_dsn = authority.db.Dsn();
    common.db_pool_size = 16;
    common.shutdown_grace = absl::Seconds(1);
    auto started = runtime::StartService(app, common, authority.clock);
    INFO(started.status().ToString());
    REQUIRE(started.ok());
    service = *std::move(started);
    target = "127.0.0.1:" + std::to_string(service->port());
  }

  std::shared_ptr<::grpc::Channel> CertChannel(const std::string& identity) {
    return cantdo::grpc::MakeMtlsChannel(target, authority.pki.Issue(identity));
  }
  std::shared_ptr<::grpc::Channel> BareChannel() {
    return cantdo::grpc::MakeTlsChannel(target, authority.pki.ca_pem());
  }

  // A bearer token the gateway accepts (issuer/audience/key as configured).
  std::string Token(const std::string& client_id, std::vector<std::string> roles) const {
    const int64_t now = absl::ToUnixSeconds(authority.clock.Now());
    return issuer.Sign({{"iss", kGatewayIssuer},
                        {"aud", kGatewayAudience},
                        {"sub", client_id},
                        {"client_id", client_id},
                        {"iat", now},
                        {"exp", now + 600},
                        {"https://cantdo.dev/roles", roles}},
                       {{"typ", "at+jwt"}});
  }

  // One unary call: `stub_method` of a stub made from `channel`, with an
  // optional bearer token.
  template <typename Stub, typename Req, typename Resp>
  static absl::StatusOr<Resp> Call(const std::shared_ptr<::grpc::Channel>& channel,
                                   ::grpc::Status (Stub::*method)(::grpc::ClientContext*, const Req&, Resp*),
                                   const Req& req, const std::string& token = "") {
    Stub stub(channel);
    ::grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
    if (!token.empty()) ctx.AddMetadata("authorization", "Bearer " + token);
    Resp resp;
    auto st = (stub.*method)(&ctx, req, &resp);
    if (!st.ok()) return cantdo::grpc::FromGrpcStatus(st);
    return resp;
  }

  absl::StatusOr<gv1::StartWorkflowResponse> Start(const gv1::StartWorkflowRequest& req,
                                                   const std::string& identity = "operator") {
    return Call(CertChannel(identity), &gv1::WorkflowService::Stub::StartWorkflow, req);
  }
  static gv1::StartWorkflowRequest Offboarding(const std::string& workflow_id, const std::string& request_id = "") {
    gv1::StartWorkflowRequest req;
    req.set_workflow_type("customer_offboarding");
    req.set_workflow_id(workflow_id);
    req.set_request_id(request_id);
    cantdo::offboarding::v1::OffboardingInput input;
    input.set_customer_id("cus_42");
    req.mutable_input()->PackFrom(input);
    (*req.mutable_parameters()->mutable_fields())["customer_id"].set_string_value("cus_42");
    return req;
  }
  absl::StatusOr<gv1::SignalWorkflowResponse> Signal(const std::string& workflow_id, const std::string& signal_id) {
    gv1::SignalWorkflowRequest req;
    req.set_workflow_id(workflow_id);
    req.set_signal_name("nudge");
    req.set_signal_id(signal_id);
    return Call(CertChannel("operator"), &gv1::WorkflowService::Stub::SignalWorkflow, req);
  }
  wv1::WorkflowExecution Describe(const std::string& workflow_id) {
    gv1::GetWorkflowRequest req;
    req.set_workflow_id(workflow_id);
    auto got = Call(CertChannel("auditor"), &gv1::WorkflowService::Stub::GetWorkflow, req);
    INFO(got.status().ToString());
    REQUIRE(got.ok());
    return got->execution();
  }

  // The ops manager's answer, as the bridge delivers it.
  absl::StatusOr<cantdo::authority::v1::CompleteApprovalResponse> Approve(const std::string& approval_id) {
    return authority.Complete(approval_id, authority.idp.Sign(authority.Claims("ops1", approval_id, {"ops_manager"})));
  }
  absl::StatusOr<cantdo::authority::v1::CompleteApprovalResponse> Deny(const std::string& approval_id) {
    return authority.Complete(approval_id, "", cantdo::authority::v1::CIBA_OUTCOME_DENIED);
  }

  int64_t Count(const std::string& sql, const std::vector<std::string>& params = {}) {
    auto conn = authority.db.Connect();
    std::vector<pg::Param> ps(params.begin(), params.end());
    auto r = conn->Exec(sql, ps);
    INFO(r.status().ToString());
    REQUIRE(r.ok());
    return *r->GetInt64(0, 0);
  }

  AuthorityHarness authority;
  TokenSigner issuer{"callers-key", TokenSigner::Alg::kES256};
  cantdo::gateway::GatewayApp app;
  std::unique_ptr<runtime::RunningService> service;
  std::string target;
};

}  // namespace cantdo::testing
