#pragma once
// The workflow types this deployment runs, each declared once
// (cantdo/workflow/admission.hpp): its input message and the parameters its
// admission approval binds. The gateway starts only these types and asks
// approval for exactly these parameters; the worker's workflow code checks
// its run against them and acts on the approved values.

#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "cantdo/workflow/admission.hpp"

namespace cantdo::workflow_types {

inline constexpr char kCustomerOffboarding[] = "customer_offboarding";

// customer_offboarding: input cantdo.offboarding.v1.OffboardingInput;
// admission parameters {"customer_id": input.customer_id} (what the
// policy's binding message shows: "Start offboarding of {customer_id}").
// The refund amount is not part of it: the CFO approves that separately.
const workflow::WorkflowType& CustomerOffboarding();

// The declaration of `name`; nullptr for a type this deployment does not run.
const workflow::WorkflowType* FindWorkflowType(absl::string_view name);

// Every declared type's name, sorted.
std::vector<std::string> WorkflowTypeNames();

}  // namespace cantdo::workflow_types
