#pragma once
// Converting between absl::Status (what code sees) and
// cantdo.workflow.v1.Failure (what history records).

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "cantdo/workflow/v1/history.pb.h"

namespace cantdo::workflow {

// type = the status's reason if it has one, else its code name
// ("DEADLINE_EXCEEDED"); metadata["code"] keeps the numeric code.
v1::Failure FailureFromStatus(const absl::Status& status, absl::string_view source);
// Inverse of FailureFromStatus (code, message, and the reason when type is
// not a code name). An unset code becomes UNKNOWN.
absl::Status StatusFromFailure(const v1::Failure& failure);
// The failure type that retry policies match: the reason, else the code name.
std::string FailureType(const absl::Status& status);

}  // namespace cantdo::workflow
