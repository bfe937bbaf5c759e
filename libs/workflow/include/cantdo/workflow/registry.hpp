#pragma once
// Registry: maps workflow type and activity type names to code. A worker
// runs only the types its registry knows; fill it before starting workers
// and do not change it afterwards (reads are not synchronized).

#include <map>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "cantdo/workflow/activity_context.hpp"
#include "cantdo/workflow/workflow_context.hpp"

namespace cantdo::workflow {

class Registry {
 public:
  // ALREADY_EXISTS if the name is taken, INVALID_ARGUMENT if empty.
  absl::Status RegisterWorkflow(absl::string_view type, WorkflowFunction fn);
  absl::Status RegisterActivity(absl::string_view type, ActivityFunction fn);

  // nullptr if unknown.
  const WorkflowFunction* FindWorkflow(absl::string_view type) const;
  const ActivityFunction* FindActivity(absl::string_view type) const;

 private:
  std::map<std::string, WorkflowFunction, std::less<>> workflows_;
  std::map<std::string, ActivityFunction, std::less<>> activities_;
};

}  // namespace cantdo::workflow
