// A run acts on what its admission approved: the declaration of a workflow
// type derives the approval's parameters from the input, and
// ApprovedParameters refuses a run whose input or admission record says
// anything else.

#include <catch2/catch.hpp>

#include "cantdo/base/ids.hpp"
#include "cantdo/base/status.hpp"
#include "cantdo/offboarding/v1/offboarding.pb.h"
#include "cantdo/workflow/admission.hpp"
#include "cantdo/workflow/payload.hpp"
#include "cantdo/workflow_types/catalog.hpp"

namespace {

using namespace cantdo::workflow;
using cantdo::GetMetadata;
using cantdo::GetReason;
using cantdo::workflow_types::CustomerOffboarding;

Payload Input(const std::string& customer_id, int64_t refund_cents = 0) {
  cantdo::offboarding::v1::OffboardingInput in;
  in.set_customer_id(customer_id);
  in.set_refund_amount_cents(refund_cents);
  return Pack(in);
}

v1::WorkflowExecutionAdmittedEventAttributes Admitted(const std::string& parameters_json) {
  v1::WorkflowExecutionAdmittedEventAttributes a;
  a.set_approval_id("a-1");
  a.set_grant_id("g-1");
  a.set_action("workflow.start");
  a.set_resource("customer_offboarding");
  a.set_parameters_json(parameters_json);
  a.set_parameters_hash(cantdo::Sha256Hex(parameters_json));
  return a;
}

}  // namespace

TEST_CASE("customer_offboarding asks approval for the input's customer, and nothing else", "[unit][workflow]") {
  auto p = AdmissionParameters(CustomerOffboarding(), Input("cus_000042", 1500));
  REQUIRE(p.ok());
  CHECK(*CanonicalParameters(*p) == R"({"customer_id":"cus_000042"})");

  auto empty = AdmissionParameters(CustomerOffboarding(), Input(""));
  CHECK(GetReason(empty.status()) == "INVALID_FIELD");
  CHECK(GetMetadata(empty.status())["field"] == "input.customer_id");
  auto control = AdmissionParameters(CustomerOffboarding(), Input("cus\n1"));
  CHECK(GetMetadata(control.status())["field"] == "input.customer_id");
  // Not the type's input message at all.
  for (const Payload& wrong : {Payload(), PackString("cus_000042")}) {
    auto r = AdmissionParameters(CustomerOffboarding(), wrong);
    CHECK(r.status().code() == absl::StatusCode::kInvalidArgument);
    CHECK(GetMetadata(r.status())["field"] == "input");
  }
  Payload garbage = Input("cus_1");
  garbage.set_value("\xff\xff\xff");
  CHECK(GetMetadata(AdmissionParameters(CustomerOffboarding(), garbage).status())["field"] == "input");
}

TEST_CASE("A run's approved parameters come from its admission record, and only when its input agrees",
          "[unit][workflow]") {
  const auto record = Admitted(R"({"customer_id":"cus_000001"})");
  auto ok = ApprovedParameters(CustomerOffboarding(), Input("cus_000001", 99), &record);
  REQUIRE(ok.ok());
  CHECK(ok->fields().at("customer_id").string_value() == "cus_000001");

  auto refused = [](const absl::StatusOr<google::protobuf::Struct>& r) {
    return r.status().code() == absl::StatusCode::kFailedPrecondition &&
           GetReason(r.status()) == "WORKFLOW_INPUT_NOT_APPROVED";
  };
  // Approved cus_000001, the input says cus_000077.
  auto other = ApprovedParameters(CustomerOffboarding(), Input("cus_000077"), &record);
  CHECK(refused(other));
  CHECK(GetMetadata(other.status())["approved"] == R"({"customer_id":"cus_000001"})");
  CHECK(GetMetadata(other.status())["derived"] == R"({"customer_id":"cus_000077"})");
  // No record (admitted before V0008, or never admitted with parameters).
  CHECK(refused(ApprovedParameters(CustomerOffboarding(), Input("cus_000001"), nullptr)));
  v1::WorkflowExecutionAdmittedEventAttributes old;
  old.set_approval_id("a-1");
  CHECK(refused(ApprovedParameters(CustomerOffboarding(), Input("cus_000001"), &old)));
  // A record that does not hash to itself, or admits another type or action.
  auto tampered = record;
  tampered.set_parameters_json(R"({"customer_id":"cus_000077"})");
  CHECK(refused(ApprovedParameters(CustomerOffboarding(), Input("cus_000077"), &tampered)));
  auto other_type = record;
  other_type.set_resource("something_else");
  CHECK(refused(ApprovedParameters(CustomerOffboarding(), Input("cus_000001"), &other_type)));
  auto other_action = record;
  other_action.set_action("refund.issue");
  CHECK(refused(ApprovedParameters(CustomerOffboarding(), Input("cus_000001"), &other_action)));
  // An input that is not the type's.
  CHECK(refused(ApprovedParameters(CustomerOffboarding(), PackString("cus_000001"), &record)));
}
