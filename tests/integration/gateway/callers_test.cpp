// Caller authentication, roles, rate limits and field validation at the
// gateway's edge, over real TLS.

#include "gateway_harness.hpp"

using namespace cantdo::testing;
using cantdo::GetMetadata;
using cantdo::GetReason;

TEST_CASE("Unauthenticated and wrong-role calls get UNAUTHENTICATED and PERMISSION_DENIED", "[integration][gateway]") {
  GatewayHarness h;
  gv1::ListWorkflowsRequest list;
  // No certificate, no token.
  auto none = GatewayHarness::Call(h.BareChannel(), &gv1::WorkflowService::Stub::ListWorkflows, list);
  CHECK(none.status().code() == absl::StatusCode::kUnauthenticated);
  CHECK(GetReason(none.status()) == "CALLER_UNAUTHENTICATED");
  // A token that does not verify (signed by a stranger).
  TokenSigner stranger{"callers-key", TokenSigner::Alg::kES256};
  const std::string forged = stranger.Sign({{"iss", kGatewayIssuer},
                                            {"aud", kGatewayAudience},
                                            {"sub", "x"},
                                            {"iat", absl::ToUnixSeconds(h.authority.clock.Now())},
                                            {"exp", absl::ToUnixSeconds(h.authority.clock.Now()) + 60}});
  auto bad = GatewayHarness::Call(h.BareChannel(), &gv1::WorkflowService::Stub::ListWorkflows, list, forged);
  CHECK(bad.status().code() == absl::StatusCode::kUnauthenticated);
  CHECK(GetMetadata(bad.status())["problem"] == "bad_signature");
  // A certificate from another CA never gets past the handshake.
  TestPki other;
  auto untrusted = GatewayHarness::Call(cantdo::grpc::MakeMtlsChannel(h.target, other.Issue("operator")),
                                        &gv1::WorkflowService::Stub::ListWorkflows, list);
  CHECK_FALSE(untrusted.ok());

  // Wrong roles.
  auto auditor_start = h.Start(GatewayHarness::Offboarding("wf-auditor"), "auditor");
  CHECK(auditor_start.status().code() == absl::StatusCode::kPermissionDenied);
  CHECK(GetReason(auditor_start.status()) == "CALLER_ROLE_MISMATCH");
  CHECK(GetMetadata(auditor_start.status())["required_role"] == "operator");
  auto platform_list =
      GatewayHarness::Call(h.CertChannel("platform"), &gv1::WorkflowService::Stub::ListWorkflows, list);
  CHECK(GetReason(platform_list.status()) == "CALLER_ROLE_MISMATCH");
  gv1::RequestAuthorizationRequest ra;
  auto operator_ra =
      GatewayHarness::Call(h.CertChannel("operator"), &gv1::AuthorizationService::Stub::RequestAuthorization, ra);
  CHECK(GetReason(operator_ra.status()) == "CALLER_ROLE_MISMATCH");
  gv1::VerifyLedgerRequest verify;
  auto platform_ledger =
      GatewayHarness::Call(h.CertChannel("platform"), &gv1::LedgerService::Stub::VerifyLedger, verify);
  CHECK(GetReason(platform_ledger.status()) == "CALLER_ROLE_MISMATCH");
  auto stranger_cert = GatewayHarness::Call(h.CertChannel("worker"), &gv1::WorkflowService::Stub::ListWorkflows, list);
  CHECK(GetReason(stranger_cert.status()) == "CALLER_ROLE_MISMATCH");

  // Bearer roles: an auditor token may list, not start.
  const std::string auditor = h.Token("audit-tool", {"auditor"});
  CHECK(GatewayHarness::Call(h.BareChannel(), &gv1::WorkflowService::Stub::ListWorkflows, list, auditor).ok());
  auto token_start = GatewayHarness::Call(h.BareChannel(), &gv1::WorkflowService::Stub::StartWorkflow,
                                          GatewayHarness::Offboarding("wf-t"), auditor);
  CHECK(GetReason(token_start.status()) == "CALLER_ROLE_MISMATCH");
}

TEST_CASE("Over its rate limit a caller gets RESOURCE_EXHAUSTED RATE_LIMITED, other callers do not",
          "[integration][gateway]") {
  GatewayHarness h([](cantdo::gateway::GatewayConfig& c) {
    c.rate_limit = 1;
    c.rate_limit_burst = 3;
  });
  gv1::ListWorkflowsRequest list;
  for (int i = 0; i < 3; ++i) {
    CHECK(GatewayHarness::Call(h.CertChannel("operator"), &gv1::WorkflowService::Stub::ListWorkflows, list).ok());
  }
  // The fake clock does not move: no refill.
  auto limited = GatewayHarness::Call(h.CertChannel("operator"), &gv1::WorkflowService::Stub::ListWorkflows, list);
  CHECK(limited.status().code() == absl::StatusCode::kResourceExhausted);
  CHECK(GetReason(limited.status()) == "RATE_LIMITED");
  CHECK(GetMetadata(limited.status())["caller"] == "cert:spiffe://cantdo/operator");
  CHECK(GatewayHarness::Call(h.CertChannel("auditor"), &gv1::WorkflowService::Stub::ListWorkflows, list).ok());
  h.authority.clock.Advance(absl::Seconds(1));
  CHECK(GatewayHarness::Call(h.CertChannel("operator"), &gv1::WorkflowService::Stub::ListWorkflows, list).ok());
}

TEST_CASE("Malformed fields are INVALID_ARGUMENT naming the field", "[integration][gateway]") {
  GatewayHarness h;
  auto field_of = [](const absl::Status& s) {
    INFO(s.ToString());
    CHECK(s.code() == absl::StatusCode::kInvalidArgument);
    CHECK(GetReason(s) == "INVALID_FIELD");
    return GetMetadata(s)["field"];
  };
  auto start = GatewayHarness::Offboarding("bad id");
  CHECK(field_of(h.Start(start).status()) == "workflow_id");
  start = GatewayHarness::Offboarding("ok");
  start.set_workflow_type("");
  CHECK(field_of(h.Start(start).status()) == "workflow_type");
  start = GatewayHarness::Offboarding("ok", std::string(200, 'r'));
  CHECK(field_of(h.Start(start).status()) == "request_id");
  gv1::GetWorkflowRequest get;
  get.set_workflow_id("ok");
  get.set_run_id("not-a-uuid");
  CHECK(field_of(
            GatewayHarness::Call(h.CertChannel("operator"), &gv1::WorkflowService::Stub::GetWorkflow, get).status()) ==
        "run_id");
  gv1::ListWorkflowsRequest list;
  list.set_page_size(-1);
  CHECK(field_of(GatewayHarness::Call(h.CertChannel("operator"), &gv1::WorkflowService::Stub::ListWorkflows, list)
                     .status()) == "page_size");
  list.set_page_size(1);
  list.set_page_token("garbage");
  CHECK(field_of(GatewayHarness::Call(h.CertChannel("operator"), &gv1::WorkflowService::Stub::ListWorkflows, list)
                     .status()) == "page_token");
  gv1::SignalWorkflowRequest signal;
  signal.set_workflow_id("ok");
  signal.set_signal_name("go");
  CHECK(field_of(GatewayHarness::Call(h.CertChannel("operator"), &gv1::WorkflowService::Stub::SignalWorkflow, signal)
                     .status()) == "signal_id");
  gv1::GetAuthorizationRequest ga;
  ga.set_approval_id("x");
  CHECK(field_of(GatewayHarness::Call(h.CertChannel("platform"), &gv1::AuthorizationService::Stub::GetAuthorization, ga)
                     .status()) == "approval_id");
  gv1::ConsumeGrantRequest cg;
  cg.set_grant_id("0b3c9d4e-1f2a-4b5c-8d6e-7f8091a2b3c4");
  cg.set_outcome_digest("ABC");
  CHECK(field_of(GatewayHarness::Call(h.CertChannel("platform"), &gv1::AuthorizationService::Stub::ConsumeGrant, cg)
                     .status()) == "outcome_digest");
}
