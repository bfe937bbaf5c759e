#include <catch2/catch.hpp>

#include "cantdo/base/status.hpp"
#include "gateway/gateway_app.hpp"
#include "gateway/validation.hpp"
#include "gateway/workflow_service.hpp"

using namespace cantdo::gateway;
using cantdo::GetMetadata;
using cantdo::GetReason;

namespace {
std::string FieldOf(const absl::Status& s) {
  REQUIRE(s.code() == absl::StatusCode::kInvalidArgument);
  REQUIRE(GetReason(s) == "INVALID_FIELD");
  return GetMetadata(s)["field"];
}
}  // namespace

TEST_CASE("Field checks name the field that is wrong", "[unit][gateway]") {
  CHECK(ValidateWorkflowId("offboard-cus_42:x/y.z", "workflow_id", true).ok());
  CHECK(FieldOf(ValidateWorkflowId("", "workflow_id", true)) == "workflow_id");
  CHECK(ValidateWorkflowId("", "workflow_id", false).ok());
  CHECK(FieldOf(ValidateWorkflowId("a b", "workflow_id", true)) == "workflow_id");
  CHECK(FieldOf(ValidateWorkflowId(std::string(256, 'a'), "workflow_id", true)) == "workflow_id");
  CHECK(ValidateRunId("0b3c9d4e-1f2a-4b5c-8d6e-7f8091a2b3c4", "run_id", true).ok());
  CHECK(FieldOf(ValidateRunId("run-1", "run_id", false)) == "run_id");
  CHECK(ValidateWorkflowType("customer_offboarding", "workflow_type").ok());
  CHECK(FieldOf(ValidateWorkflowType("Customer", "workflow_type")) == "workflow_type");
  CHECK(FieldOf(ValidateName("a/b", "signal_name", true)) == "signal_name");
  CHECK(FieldOf(ValidateKey("tab\there", "request_id", false)) == "request_id");
  CHECK(FieldOf(ValidateKey(std::string(129, 'k'), "request_id", false)) == "request_id");
  CHECK(*PageSize(0, "page_size", 50) == 50);
  CHECK(*PageSize(5000, "page_size", 50) == 1000);
  CHECK(FieldOf(PageSize(-1, "page_size", 50).status()) == "page_size");
  google::protobuf::Duration d;
  CHECK(FieldOf(ValidatePositiveDuration(d, "execution_timeout")) == "execution_timeout");
  google::protobuf::Struct big;
  (*big.mutable_fields())["x"].set_string_value(std::string(17 * 1024, 'x'));
  CHECK(FieldOf(ValidateStructSize(big, "parameters", 16 * 1024)) == "parameters");
  cantdo::common::v1::ActionRef a;
  a.set_action("refund.issue");
  a.set_workflow_id("ticket-7");
  CHECK(FieldOf(ValidatePlatformAction(a, "action")) == "action.step");
}

TEST_CASE("Retried starts name the same run, workflow types parse as type=queue", "[unit][gateway]") {
  CHECK(RunIdFor("wf", "req-1") == RunIdFor("wf", "req-1"));
  CHECK(RunIdFor("wf", "req-1") != RunIdFor("wf", "req-2"));
  CHECK(RunIdFor("wf", "req-1") != RunIdFor("wf2", "req-1"));
  CHECK(ValidateRunId(RunIdFor("wf", "req-1"), "run_id", true).ok());
  CHECK(WorkflowIdFor("req-1") == WorkflowIdFor("req-1"));
  auto types = ParseWorkflowTypes("customer_offboarding=offboarding, b=q-2");
  REQUIRE(types.ok());
  CHECK(types->at("customer_offboarding") == "offboarding");
  CHECK(types->at("b") == "q-2");
  CHECK_FALSE(ParseWorkflowTypes("Bad=q").ok());
  CHECK_FALSE(ParseWorkflowTypes("a").ok());
}
