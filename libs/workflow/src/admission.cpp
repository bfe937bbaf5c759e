#include "cantdo/workflow/admission.hpp"

#include <google/protobuf/util/json_util.h>

#include <nlohmann/json.hpp>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "cantdo/base/canonical_json.hpp"
#include "cantdo/base/ids.hpp"
#include "cantdo/base/status.hpp"

namespace cantdo::workflow {
namespace {

constexpr char kNotApproved[] = "WORKFLOW_INPUT_NOT_APPROVED";

absl::Status NotApproved(absl::string_view why) {
  return FailedPrecondition(kNotApproved, absl::StrCat("the run's input is not what its admission approved: ", why));
}

}  // namespace

absl::StatusOr<google::protobuf::Struct> AdmissionParameters(const WorkflowType& type, const Payload& input) {
  if (!absl::EndsWith(input.type_url(), absl::StrCat("/", type.input_type))) {
    return InvalidArgument("input", absl::StrCat("a ", type.name, " run takes a ", type.input_type, ", not ",
                                                 input.type_url().empty() ? "nothing" : input.type_url()));
  }
  auto derived = type.derive(input);
  if (!derived.ok() && GetReason(derived.status()) != "INVALID_FIELD") {
    return InvalidArgument("input", derived.status().message());
  }
  return derived;
}

absl::StatusOr<std::string> CanonicalParameters(const google::protobuf::Struct& parameters) {
  std::string json;
  if (!google::protobuf::util::MessageToJsonString(parameters, &json).ok()) {
    return absl::InvalidArgumentError("parameters cannot be rendered as JSON");
  }
  nlohmann::json doc = nlohmann::json::parse(json, nullptr, false);
  if (doc.is_discarded()) return absl::InvalidArgumentError("parameters cannot be rendered as JSON");
  return CanonicalJson(doc);
}

absl::StatusOr<google::protobuf::Struct> ApprovedParameters(
    const WorkflowType& type, const Payload& input, const v1::WorkflowExecutionAdmittedEventAttributes* admission) {
  if (admission == nullptr || admission->parameters_hash().empty()) {
    return NotApproved("the run has no admission record of approved parameters");
  }
  if (admission->action() != kAdmissionAction || admission->resource() != type.name) {
    return NotApproved(absl::StrCat("it was admitted for ", admission->action(), " of ", admission->resource()));
  }
  if (Sha256Hex(admission->parameters_json()) != admission->parameters_hash()) {
    return NotApproved("the admission record's parameters do not match their hash");
  }
  google::protobuf::Struct approved;
  if (!google::protobuf::util::JsonStringToMessage(admission->parameters_json(), &approved).ok()) {
    return NotApproved("the admission record's parameters do not parse");
  }
  auto derived = AdmissionParameters(type, input);
  if (!derived.ok()) return NotApproved(derived.status().message());
  auto canonical = CanonicalParameters(*derived);
  if (!canonical.ok()) return NotApproved(canonical.status().message());
  if (*canonical != admission->parameters_json()) {
    return WithMetadata(WithMetadata(NotApproved(absl::StrCat("approved ", admission->parameters_json(),
                                                              ", the input says ", *canonical)),
                                     "approved", admission->parameters_json()),
                        "derived", *canonical);
  }
  return approved;
}

}  // namespace cantdo::workflow
