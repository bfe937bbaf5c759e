#include "cantdo/workflow/registry.hpp"

namespace cantdo::workflow {

absl::Status Registry::RegisterWorkflow(absl::string_view type, WorkflowFunction fn) {
  if (type.empty() || !fn) return absl::InvalidArgumentError("workflow type and function are required");
  if (!workflows_.emplace(std::string(type), std::move(fn)).second) {
    return absl::AlreadyExistsError("workflow type registered twice: " + std::string(type));
  }
  return absl::OkStatus();
}

absl::Status Registry::RegisterActivity(absl::string_view type, ActivityFunction fn) {
  if (type.empty() || !fn) return absl::InvalidArgumentError("activity type and function are required");
  if (!activities_.emplace(std::string(type), std::move(fn)).second) {
    return absl::AlreadyExistsError("activity type registered twice: " + std::string(type));
  }
  return absl::OkStatus();
}

const WorkflowFunction* Registry::FindWorkflow(absl::string_view type) const {
  auto it = workflows_.find(type);
  return it == workflows_.end() ? nullptr : &it->second;
}

const ActivityFunction* Registry::FindActivity(absl::string_view type) const {
  auto it = activities_.find(type);
  return it == activities_.end() ? nullptr : &it->second;
}

}  // namespace cantdo::workflow
