// StartWorkflow's admission approval asks for what the input derives; given
// parameters must agree with it exactly.

#include <catch2/catch.hpp>

#include "cantdo/base/status.hpp"
#include "cantdo/offboarding/v1/offboarding.pb.h"
#include "cantdo/workflow_types/catalog.hpp"
#include "gateway/admission.hpp"

namespace {

using cantdo::GetMetadata;
using cantdo::GetReason;
using cantdo::gateway::StartParameters;
using cantdo::workflow_types::CustomerOffboarding;

cantdo::gateway::v1::StartWorkflowRequest Request(const std::string& input_customer) {
  cantdo::gateway::v1::StartWorkflowRequest req;
  req.set_workflow_type("customer_offboarding");
  cantdo::offboarding::v1::OffboardingInput in;
  in.set_customer_id(input_customer);
  req.mutable_input()->PackFrom(in);
  return req;
}

}  // namespace

TEST_CASE("StartParameters: derived from the input, and given parameters must be exactly those", "[unit][gateway]") {
  auto derived = StartParameters(CustomerOffboarding(), Request("cus_000077"));
  REQUIRE(derived.ok());
  CHECK(derived->fields().at("customer_id").string_value() == "cus_000077");

  auto agree = Request("cus_000077");
  (*agree.mutable_parameters()->mutable_fields())["customer_id"].set_string_value("cus_000077");
  CHECK(StartParameters(CustomerOffboarding(), agree).ok());

  auto shown_other = Request("cus_000077");
  (*shown_other.mutable_parameters()->mutable_fields())["customer_id"].set_string_value("cus_000001");
  auto refused = StartParameters(CustomerOffboarding(), shown_other);
  CHECK(refused.status().code() == absl::StatusCode::kInvalidArgument);
  CHECK(GetReason(refused.status()) == "WORKFLOW_PARAMETERS_MISMATCH");
  CHECK(GetMetadata(refused.status())["derived"] == R"({"customer_id":"cus_000077"})");

  // More than the input derives is a disagreement too.
  auto extra = Request("cus_000077");
  (*extra.mutable_parameters()->mutable_fields())["customer_id"].set_string_value("cus_000077");
  (*extra.mutable_parameters()->mutable_fields())["amount_cents"].set_number_value(1);
  CHECK(GetReason(StartParameters(CustomerOffboarding(), extra).status()) == "WORKFLOW_PARAMETERS_MISMATCH");

  auto no_input = Request("x");
  no_input.clear_input();
  CHECK(GetMetadata(StartParameters(CustomerOffboarding(), no_input).status())["field"] == "input");
}
