#pragma once
// Admission binds a run to what its approver saw.
//
// A workflow type declares the input message it takes and how the
// parameters of its admission approval (the workflow.start approval an ops
// manager sees, e.g. "Start offboarding of cus_000042") derive from that
// input. The gateway computes those parameters itself from the input it
// starts the run with, and asks for their approval; the authority admits
// the run only with the consumed grant of that approval
// (cantdo.workflow_admit, V0008), which records the approved parameters in
// the run's WorkflowExecutionAdmitted event; workflow code takes the values
// it acts on from that record (ApprovedParameters), and a run whose input
// would derive anything else fails instead of acting. The gateway and the
// worker use the same declaration (libs/workflow/types holds this
// deployment's), so the two sides cannot drift apart.

#include <functional>
#include <string>

#include <google/protobuf/struct.pb.h>

#include "absl/status/statusor.h"
#include "cantdo/workflow/coroutine.hpp"
#include "cantdo/workflow/v1/history.pb.h"

namespace cantdo::workflow {

// The action and step of every admission approval and grant.
inline constexpr char kAdmissionAction[] = "workflow.start";
inline constexpr char kAdmissionStep[] = "admission";

struct WorkflowType {
  // The registered type, e.g. "customer_offboarding"; also the admission
  // approval's resource.
  std::string name;
  // Full name of the input message, e.g. "cantdo.offboarding.v1.OffboardingInput".
  std::string input_type;
  // The admission parameters of an input holding an `input_type`. Must be a
  // pure function of the input: workflow code calls it on every replay.
  // INVALID_ARGUMENT (INVALID_FIELD, field "input.<name>") for an input that
  // cannot be admitted.
  std::function<absl::StatusOr<google::protobuf::Struct>(const Payload& input)> derive;
};

// A WorkflowType whose input is an `Input` message and whose admission
// parameters are `derive(input)`.
template <typename Input>
WorkflowType DeclareWorkflowType(std::string name, absl::StatusOr<google::protobuf::Struct> (*derive)(const Input&)) {
  return WorkflowType{std::move(name), std::string(Input::descriptor()->full_name()),
                      [derive](const Payload& input) -> absl::StatusOr<google::protobuf::Struct> {
                        Input message;
                        if (!input.UnpackTo(&message)) return absl::InvalidArgumentError("input does not parse");
                        return derive(message);
                      }};
}

// The admission parameters of `input` for a run of `type`: INVALID_ARGUMENT
// (INVALID_FIELD, field "input") unless `input` holds a `type.input_type`
// that parses; otherwise `type.derive(input)`.
absl::StatusOr<google::protobuf::Struct> AdmissionParameters(const WorkflowType& type, const Payload& input);

// RFC 8785 canonical JSON of `parameters`, the text the authority hashes
// into parameters_hash. INVALID_ARGUMENT for values JSON cannot carry.
absl::StatusOr<std::string> CanonicalParameters(const google::protobuf::Struct& parameters);

// What a run of `type` with `input` was admitted for, from its admission
// record (WorkflowContext::admission(); nullptr when it has none), or
// FAILED_PRECONDITION with reason WORKFLOW_INPUT_NOT_APPROVED when:
//   - there is no record, or it carries no parameters (a run admitted before
//     V0008, or started directly by the owner of the engine's tables);
//   - the record admits another action or workflow type;
//   - its parameters do not hash to its parameters_hash;
//   - `input` derives other parameters than it approved.
// Returns the approved parameters.
absl::StatusOr<google::protobuf::Struct> ApprovedParameters(
    const WorkflowType& type, const Payload& input, const v1::WorkflowExecutionAdmittedEventAttributes* admission);

}  // namespace cantdo::workflow
