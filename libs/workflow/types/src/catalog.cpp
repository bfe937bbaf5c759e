#include "cantdo/workflow_types/catalog.hpp"

#include "absl/strings/str_cat.h"
#include "cantdo/base/status.hpp"
#include "cantdo/offboarding/v1/offboarding.pb.h"

namespace cantdo::workflow_types {
namespace {

// Customer ids as the customer platform writes them, with room to spare.
constexpr std::size_t kMaxCustomerId = 128;

bool PrintableAscii(const std::string& s) {
  for (char c : s) {
    if (c < 0x20 || c > 0x7e) return false;
  }
  return true;
}

absl::StatusOr<google::protobuf::Struct> OffboardingParameters(const offboarding::v1::OffboardingInput& in) {
  if (in.customer_id().empty()) return InvalidArgument("input.customer_id", "input.customer_id is required");
  if (in.customer_id().size() > kMaxCustomerId || !PrintableAscii(in.customer_id())) {
    return InvalidArgument("input.customer_id", absl::StrCat("input.customer_id must be at most ", kMaxCustomerId,
                                                             " printable ASCII characters"));
  }
  google::protobuf::Struct parameters;
  (*parameters.mutable_fields())["customer_id"].set_string_value(in.customer_id());
  return parameters;
}

}  // namespace

const workflow::WorkflowType& CustomerOffboarding() {
  static const workflow::WorkflowType kType =
      workflow::DeclareWorkflowType<offboarding::v1::OffboardingInput>(kCustomerOffboarding, &OffboardingParameters);
  return kType;
}

const workflow::WorkflowType* FindWorkflowType(absl::string_view name) {
  if (name == kCustomerOffboarding) return &CustomerOffboarding();
  return nullptr;
}

std::vector<std::string> WorkflowTypeNames() { return {kCustomerOffboarding}; }

}  // namespace cantdo::workflow_types
