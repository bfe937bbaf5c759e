// Hostile input at the gateway's edge (issue 18, part 4): a real gateway in
// front of a real authority (both in this process, real gRPC over TLS, a
// real database). A crash of either is this test's crash.

#include <cmath>
#include <limits>

#include "../../integration/gateway/gateway_harness.hpp"
#include "hostile_client.hpp"

using namespace cantdo::testing;
using cantdo::GetMetadata;
using cantdo::GetReason;

namespace {

void CheckInvalidField(const absl::Status& st, const std::string& field) {
  INFO(st.ToString());
  CHECK(st.code() == absl::StatusCode::kInvalidArgument);
  CHECK(GetReason(st) == std::optional<std::string>("INVALID_FIELD"));
  CHECK(GetMetadata(st)["field"] == field);
}

gv1::RequestAuthorizationRequest Erase() {
  gv1::RequestAuthorizationRequest req;
  auto* a = req.mutable_action();
  a->set_action("customer_data.delete");
  a->set_workflow_id("ticket-9");
  a->set_step("erase");
  (*a->mutable_parameters()->mutable_fields())["customer_id"].set_string_value("cust-42");
  req.set_requester("user:https://crm.example#alice");
  return req;
}

template <typename Req, typename Resp>
absl::Status Ledger(GatewayHarness& g,
                    ::grpc::Status (gv1::LedgerService::Stub::*method)(::grpc::ClientContext*, const Req&, Resp*),
                    const Req& req) {
  return GatewayHarness::Call(g.CertChannel("auditor"), method, req).status();
}

}  // namespace

TEST_CASE("through the gateway: a ledger time filter beyond any clock is an invalid field",
          "[security][trust_boundaries]") {
  GatewayHarness g;
  gv1::ListLedgerEntriesRequest req;
  req.mutable_filter()->mutable_start_time()->set_seconds(9200000000000000000);
  CheckInvalidField(Ledger(g, &gv1::LedgerService::Stub::ListLedgerEntries, req), "filter.start_time");
  CHECK(Ledger(g, &gv1::LedgerService::Stub::ListLedgerEntries, gv1::ListLedgerEntriesRequest()).ok());
}

TEST_CASE("through the gateway: an unknown ledger kind is an invalid field, not UNKNOWN",
          "[security][trust_boundaries]") {
  GatewayHarness g;
  gv1::ListLedgerEntriesRequest req;
  req.mutable_filter()->add_kinds(static_cast<cantdo::common::v1::LedgerEventKind>(999));
  CheckInvalidField(Ledger(g, &gv1::LedgerService::Stub::ListLedgerEntries, req), "filter.kinds[0]");
}

TEST_CASE("through the gateway: NaN and infinities in a platform's parameters are refused",
          "[security][trust_boundaries]") {
  GatewayHarness g;
  for (const double v : {std::nan(""), std::numeric_limits<double>::infinity()}) {
    gv1::RequestAuthorizationRequest req = Erase();
    (*req.mutable_action()->mutable_parameters()->mutable_fields())["customer_id"].set_number_value(v);
    auto got =
        GatewayHarness::Call(g.CertChannel("platform"), &gv1::AuthorizationService::Stub::RequestAuthorization, req);
    CheckInvalidField(got.status(), "action.parameters");
  }
  CHECK(g.authority.LedgerCount("DECISION") == 0);
}

TEST_CASE("through the gateway: a request that does not parse is INVALID_ARGUMENT with a reason",
          "[security][trust_boundaries]") {
  GatewayHarness g;
  for (const std::string method :
       {"/cantdo.gateway.v1.AuthorizationService/ClaimGrant", "/cantdo.gateway.v1.LedgerService/VerifyLedger",
        "/cantdo.gateway.v1.WorkflowService/GetWorkflow"}) {
    INFO(method);
    const absl::Status st = RawUnaryCall(g.CertChannel("platform"), method, "\xff\xff\xff\xff\xff\xff");
    INFO(st.ToString());
    CHECK(st.code() == absl::StatusCode::kInvalidArgument);
    CHECK(GetReason(st) == std::optional<std::string>("REQUEST_UNPARSEABLE"));
  }
  // A server-streaming method with a string that is not UTF-8
  // (WatchWorkflowRequest.workflow_id, field 1).
  ::grpc::Slice slice(LengthDelimited(1, "\xc3\x28"));
  ::grpc::ByteBuffer bytes(&slice, 1);
  ::grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
  ::grpc::GenericStub stub(g.CertChannel("auditor"));
  ::grpc::CompletionQueue cq;
  auto call = stub.PrepareCall(&ctx, "/cantdo.gateway.v1.WorkflowService/WatchWorkflow", &cq);
  void* tag = nullptr;
  bool ok = false;
  call->StartCall(reinterpret_cast<void*>(1));
  REQUIRE(cq.Next(&tag, &ok));
  call->WriteLast(bytes, ::grpc::WriteOptions(), reinterpret_cast<void*>(2));
  REQUIRE(cq.Next(&tag, &ok));
  ::grpc::Status status;
  call->Finish(&status, reinterpret_cast<void*>(3));
  REQUIRE(cq.Next(&tag, &ok));
  const absl::Status st = cantdo::grpc::FromGrpcStatus(status);
  INFO(st.ToString());
  CHECK(st.code() == absl::StatusCode::kInvalidArgument);
  CHECK(GetReason(st) == std::optional<std::string>("REQUEST_UNPARSEABLE"));
  cq.Shutdown();
  while (cq.Next(&tag, &ok)) {
  }
}

TEST_CASE("every field of every gateway authorization and ledger request is validated and named when refused",
          "[security][trust_boundaries]") {
  GatewayHarness g;
  const std::string nul("with\0nul", 8);
  const std::string some_id = "7d444840-9dc0-11d1-b245-5ffdce74fad2";
  auto platform = g.CertChannel("platform");
  struct Case {
    std::string field;
    std::function<absl::Status()> call;
  };
  auto authorize = [&](std::function<void(gv1::RequestAuthorizationRequest&)> edit) {
    return [&, edit] {
      gv1::RequestAuthorizationRequest req = Erase();
      edit(req);
      return GatewayHarness::Call(platform, &gv1::AuthorizationService::Stub::RequestAuthorization, req).status();
    };
  };
  std::vector<Case> cases = {
      {"requester", authorize([&](auto& r) { r.set_requester("alice" + nul); })},
      {"approval_timeout", authorize([](auto& r) { r.mutable_approval_timeout()->set_nanos(-1); })},
      {"action.action", authorize([](auto& r) { r.mutable_action()->set_action("erase everything"); })},
      {"action.run_id", authorize([](auto& r) { r.mutable_action()->set_run_id(std::string(65, 'r')); })},
      {"action.resource", authorize([&](auto& r) { r.mutable_action()->set_resource("cust" + nul); })},
      {"wait",
       [&] {
         gv1::GetAuthorizationRequest req;
         req.set_approval_id(some_id);
         req.mutable_wait()->set_seconds(1);
         req.mutable_wait()->set_nanos(-3);
         return GatewayHarness::Call(platform, &gv1::AuthorizationService::Stub::GetAuthorization, req).status();
       }},
      {"action.step",
       [&] {
         gv1::ClaimGrantRequest req;
         req.set_grant_id(some_id);
         *req.mutable_action() = Erase().action();
         req.mutable_action()->set_step("erase\n");
         req.set_idempotency_key("key-1");
         return GatewayHarness::Call(platform, &gv1::AuthorizationService::Stub::ClaimGrant, req).status();
       }},
      {"filter.grant_id",
       [&] {
         gv1::ListLedgerEntriesRequest req;
         req.mutable_filter()->set_grant_id("not-a-uuid");
         return Ledger(g, &gv1::LedgerService::Stub::ListLedgerEntries, req);
       }},
      {"page_token",
       [&] {
         gv1::ListLedgerEntriesRequest req;
         req.set_page_token(std::string(300, '9'));
         return Ledger(g, &gv1::LedgerService::Stub::ListLedgerEntries, req);
       }},
      {"end_sequence",
       [&] {
         gv1::VerifyLedgerRequest req;
         req.set_start_sequence(9);
         req.set_end_sequence(3);
         return Ledger(g, &gv1::LedgerService::Stub::VerifyLedger, req);
       }},
  };
  for (const auto& c : cases) {
    INFO("field " << c.field);
    CheckInvalidField(c.call(), c.field);
  }
}
