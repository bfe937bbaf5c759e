// Hostile input at the authority's edge (issue 18, part 4), against the real
// binary: every malformed request is INVALID_ARGUMENT with a reason (naming
// the field where there is one), never a crash, never UNKNOWN or INTERNAL.
// A sanitizer report in the authority's log fails these tests too.

#include <cmath>
#include <limits>

#include "hostile_client.hpp"

using namespace cantdo::testing;
namespace av1 = cantdo::authority::v1;
namespace cv1 = cantdo::common::v1;
using Stub = av1::AuthorityService::Stub;
using cantdo::GetMetadata;
using cantdo::GetReason;

namespace {

constexpr char kService[] = "/cantdo.authority.v1.AuthorityService/";

void CheckInvalidField(const absl::Status& st, const std::string& field) {
  INFO(st.ToString());
  CHECK(st.code() == absl::StatusCode::kInvalidArgument);
  CHECK(GetReason(st) == std::optional<std::string>("INVALID_FIELD"));
  CHECK(GetMetadata(st)["field"] == field);
}

void CheckUnparseable(const absl::Status& st) {
  INFO(st.ToString());
  CHECK(st.code() == absl::StatusCode::kInvalidArgument);
  CHECK(GetReason(st) == std::optional<std::string>("REQUEST_UNPARSEABLE"));
}

// The worker's request for an irreversible action without constraints.
av1::RequestApprovalRequest Erase(const std::string& step) {
  av1::RequestApprovalRequest req;
  auto* a = req.mutable_action();
  a->set_action("customer_data.delete");
  a->set_workflow_id("offboard-cust-42");
  a->set_run_id("9b2e7c1a-5d4f-4e3b-8a6c-0f1e2d3c4b5a");
  a->set_step(step);
  (*a->mutable_parameters()->mutable_fields())["customer_id"].set_string_value("cust-42");
  req.set_requester("cert:spiffe://cantdo/operator");
  return req;
}

}  // namespace

TEST_CASE("a ledger time filter beyond any clock is an invalid field, and the authority lives on",
          "[security][trust_boundaries]") {
  AuthorityProcess a;
  for (const int64_t seconds : {int64_t{9200000000000000000}, std::numeric_limits<int64_t>::min()}) {
    av1::ListLedgerEntriesRequest start;
    start.mutable_filter()->mutable_start_time()->set_seconds(seconds);
    CheckInvalidField(a.Call("admin", &Stub::ListLedgerEntries, start), "filter.start_time");
    av1::ListLedgerEntriesRequest end;
    end.mutable_filter()->mutable_end_time()->set_seconds(seconds);
    CheckInvalidField(a.Call("admin", &Stub::ListLedgerEntries, end), "filter.end_time");
  }
  av1::ListLedgerEntriesRequest nanos;
  nanos.mutable_filter()->mutable_start_time()->set_nanos(-1);
  CheckInvalidField(a.Call("admin", &Stub::ListLedgerEntries, nanos), "filter.start_time");
  const absl::Status alive = a.Call("admin", &Stub::ListLedgerEntries, av1::ListLedgerEntriesRequest());
  INFO(alive.ToString());
  CHECK(alive.ok());
}

TEST_CASE("a ledger kind filter with a kind that does not exist is an invalid field, not UNKNOWN",
          "[security][trust_boundaries]") {
  AuthorityProcess a;
  for (const int kind : {999, -1, 0}) {
    INFO("kind " << kind);
    av1::ListLedgerEntriesRequest req;
    req.mutable_filter()->add_kinds(cv1::LEDGER_EVENT_KIND_DECISION);
    req.mutable_filter()->add_kinds(static_cast<cv1::LedgerEventKind>(kind));
    CheckInvalidField(a.Call("admin", &Stub::ListLedgerEntries, req), "filter.kinds[1]");
  }
}

TEST_CASE("a request that does not parse is the caller's fault: INVALID_ARGUMENT with a reason",
          "[security][trust_boundaries]") {
  AuthorityProcess a;
  SECTION("garbage bytes") {
    CheckUnparseable(
        RawUnaryCall(a.Channel("admin"), std::string(kService) + "VerifyLedger", "\xff\xff\xff\xff\xff\xff"));
  }
  SECTION("invalid UTF-8 in a string field") {
    // GetApprovalRequest.approval_id (field 1), a proto3 string.
    CheckUnparseable(RawUnaryCall(a.Channel("worker"), std::string(kService) + "GetApproval",
                                  LengthDelimited(1, "\xc3\x28\xa0\xa1")));
  }
  SECTION("parameters nested beyond protobuf's recursion limit") {
    // RequestApprovalRequest.action (1) -> ActionRef.parameters (3).
    const std::string req = LengthDelimited(1, LengthDelimited(3, NestedStruct(100)));
    CheckUnparseable(RawUnaryCall(a.Channel("worker"), std::string(kService) + "RequestApproval", req));
  }
  // A well-formed request still works after all that.
  CHECK(a.Call("admin", &Stub::VerifyLedger, av1::VerifyLedgerRequest()).ok());
}

TEST_CASE("NaN and infinities in parameters are refused, not hashed as the strings \"NaN\" and \"Infinity\"",
          "[security][trust_boundaries]") {
  AuthorityProcess a;
  const double kNonFinite[] = {std::nan(""), std::numeric_limits<double>::infinity(),
                               -std::numeric_limits<double>::infinity()};
  int step = 0;
  for (const double v : kNonFinite) {
    INFO("value " << v);
    av1::RequestApprovalRequest top = Erase("erase-" + std::to_string(++step));
    (*top.mutable_action()->mutable_parameters()->mutable_fields())["customer_id"].set_number_value(v);
    const absl::Status st = a.Call("worker", &Stub::RequestApproval, top);
    CheckInvalidField(st, "action.parameters");
    CHECK(GetMetadata(st)["parameter"] == "/customer_id");
    // Deep inside a list too.
    av1::RequestApprovalRequest nested = Erase("erase-" + std::to_string(++step));
    auto* list = (*nested.mutable_action()->mutable_parameters()->mutable_fields())["batches"].mutable_list_value();
    list->add_values()->set_number_value(1);
    list->add_values()->mutable_struct_value()->mutable_fields()->insert({"x", {}});
    (*list->mutable_values(1)->mutable_struct_value()->mutable_fields())["x"].set_number_value(v);
    const absl::Status deep = a.Call("worker", &Stub::RequestApproval, nested);
    CheckInvalidField(deep, "action.parameters");
    CHECK(GetMetadata(deep)["parameter"] == "/batches/1/x");
  }
  // The string "NaN" is an ordinary string (in a parameter the policy does
  // not constrain; customer_id must look like a customer id).
  av1::RequestApprovalRequest text = Erase("erase-text");
  (*text.mutable_action()->mutable_parameters()->mutable_fields())["customer_id"].set_string_value("cus_000042");
  (*text.mutable_action()->mutable_parameters()->mutable_fields())["note"].set_string_value("NaN");
  const absl::Status ok = a.Call("worker", &Stub::RequestApproval, text);
  INFO(ok.ToString());
  CHECK(ok.ok());
}

TEST_CASE("every field of every authority request is validated at the edge and named when refused",
          "[security][trust_boundaries]") {
  AuthorityProcess a;
  const std::string nul("with\0nul", 8);
  struct Case {
    std::string field;
    std::function<absl::Status()> call;
  };
  auto request = [&](std::function<void(av1::RequestApprovalRequest&)> edit) {
    return [&a, edit] {
      av1::RequestApprovalRequest req = Erase("erase");
      edit(req);
      return a.Call("worker", &Stub::RequestApproval, req);
    };
  };
  const std::string grant_id = "7d444840-9dc0-11d1-b245-5ffdce74fad2";
  std::vector<Case> cases = {
      {"requester", request([&](auto& r) { r.set_requester("cert:spiffe://cantdo/operator" + nul); })},
      {"requester", request([&](auto& r) { r.set_requester("ops\n"); })},
      {"approval_timeout", request([](auto& r) {
         r.mutable_approval_timeout()->set_seconds(3600);
         r.mutable_approval_timeout()->set_nanos(-5);
       })},
      {"approval_timeout", request([](auto& r) { r.mutable_approval_timeout()->set_nanos(2000000000); })},
      {"action.action", request([](auto& r) { r.mutable_action()->set_action("customer_data.delete\n"); })},
      {"action.action", request([](auto& r) { r.mutable_action()->set_action("Customer Data Delete"); })},
      {"action.resource", request([&](auto& r) { r.mutable_action()->set_resource(nul); })},
      {"action.workflow_id", request([](auto& r) { r.mutable_action()->set_workflow_id("offboard\tcust-42"); })},
      {"action.run_id", request([](auto& r) { r.mutable_action()->set_run_id(std::string(65, 'r')); })},
      {"action.step", request([](auto& r) { r.mutable_action()->set_step("erase\x7f"); })},
      {"action.parameters", request([](auto& r) {
         auto* f = r.mutable_action()->mutable_parameters()->mutable_fields();
         (*f)["blob"].set_string_value(std::string(70 * 1024, 'x'));
       })},
      {"provider_error",
       [&] {
         av1::CompleteApprovalRequest req;
         req.set_approval_id(grant_id);
         req.set_auth_req_id("areq-1");
         req.set_outcome(av1::CIBA_OUTCOME_DENIED);
         req.set_provider_error("access_denied" + nul);
         return a.Call("ciba-bridge", &Stub::CompleteApproval, req);
       }},
      {"receive_time",
       [&] {
         av1::CompleteApprovalRequest req;
         req.set_approval_id(grant_id);
         req.set_auth_req_id("areq-1");
         req.set_outcome(av1::CIBA_OUTCOME_DENIED);
         req.mutable_receive_time()->set_seconds(std::numeric_limits<int64_t>::max());
         return a.Call("ciba-bridge", &Stub::CompleteApproval, req);
       }},
      {"outcome",
       [&] {
         av1::CompleteApprovalRequest req;
         req.set_approval_id(grant_id);
         req.set_auth_req_id("areq-1");
         req.set_outcome(static_cast<av1::CibaOutcome>(77));
         return a.Call("ciba-bridge", &Stub::CompleteApproval, req);
       }},
      {"auth_req_id",
       [&] {
         av1::CompleteApprovalRequest req;
         req.set_approval_id(grant_id);
         req.set_auth_req_id("areq\n1");
         req.set_outcome(av1::CIBA_OUTCOME_DENIED);
         return a.Call("ciba-bridge", &Stub::CompleteApproval, req);
       }},
      {"reason",
       [&] {
         av1::RevokeGrantRequest req;
         req.set_grant_id(grant_id);
         req.set_reason("stop" + nul);
         return a.Call("admin", &Stub::RevokeGrant, req);
       }},
      {"start_sequence",
       [&] {
         av1::ListLedgerEntriesRequest req;
         req.set_start_sequence(-5);
         return a.Call("admin", &Stub::ListLedgerEntries, req);
       }},
      {"filter.grant_id",
       [&] {
         av1::ListLedgerEntriesRequest req;
         req.mutable_filter()->set_grant_id("'; DROP TABLE cantdo.ledger; --");
         return a.Call("admin", &Stub::ListLedgerEntries, req);
       }},
      {"filter.approval_id",
       [&] {
         av1::ListLedgerEntriesRequest req;
         req.mutable_filter()->set_approval_id("not-a-uuid");
         return a.Call("admin", &Stub::ListLedgerEntries, req);
       }},
      {"filter.workflow_id",
       [&] {
         av1::ListLedgerEntriesRequest req;
         req.mutable_filter()->set_workflow_id(std::string(300, 'w'));
         return a.Call("admin", &Stub::ListLedgerEntries, req);
       }},
      {"filter.end_time",
       [&] {
         av1::ListLedgerEntriesRequest req;
         req.mutable_filter()->mutable_start_time()->set_seconds(2000000000);
         req.mutable_filter()->mutable_end_time()->set_seconds(1000000000);
         return a.Call("admin", &Stub::ListLedgerEntries, req);
       }},
      {"end_sequence",
       [&] {
         av1::VerifyLedgerRequest req;
         req.set_start_sequence(5);
         req.set_end_sequence(2);
         return a.Call("admin", &Stub::VerifyLedger, req);
       }},
      {"action.parameters",
       [&] {
         av1::ClaimGrantRequest req;
         req.set_grant_id(grant_id);
         req.mutable_action()->set_action("customer_data.delete");
         (*req.mutable_action()->mutable_parameters()->mutable_fields())["n"].set_number_value(std::nan(""));
         req.set_idempotency_key("key-1");
         return a.Call("worker", &Stub::ClaimGrant, req);
       }},
  };
  for (const auto& c : cases) {
    INFO("field " << c.field);
    CheckInvalidField(c.call(), c.field);
  }
}
