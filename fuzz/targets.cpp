#include "targets.hpp"

#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>

#include <google/protobuf/descriptor.h>
#include <google/protobuf/message.h>
#include <google/protobuf/text_format.h>

#include "absl/strings/str_cat.h"
#include "cantdo/base/status.hpp"

namespace cantdo::fuzz {

const std::vector<Target>& AllTargets() {
  static const std::vector<Target> kTargets = {
      {"authority_request_approval", AuthorityRequestApproval, "cantdo.authority.v1.RequestApprovalRequest"},
      {"authority_get_approval", AuthorityGetApproval, "cantdo.authority.v1.GetApprovalRequest"},
      {"authority_complete_approval", AuthorityCompleteApproval, "cantdo.authority.v1.CompleteApprovalRequest"},
      {"authority_claim_grant", AuthorityClaimGrant, "cantdo.authority.v1.ClaimGrantRequest"},
      {"authority_consume_grant", AuthorityConsumeGrant, "cantdo.authority.v1.ConsumeGrantRequest"},
      {"authority_revoke_grant", AuthorityRevokeGrant, "cantdo.authority.v1.RevokeGrantRequest"},
      {"authority_list_ledger_entries", AuthorityListLedgerEntries, "cantdo.authority.v1.ListLedgerEntriesRequest"},
      {"authority_verify_ledger", AuthorityVerifyLedger, "cantdo.authority.v1.VerifyLedgerRequest"},
      {"authority_get_policy", AuthorityGetPolicy, "cantdo.authority.v1.GetPolicyRequest"},
      {"gateway_request_authorization", GatewayRequestAuthorization, "cantdo.gateway.v1.RequestAuthorizationRequest"},
      {"gateway_get_authorization", GatewayGetAuthorization, "cantdo.gateway.v1.GetAuthorizationRequest"},
      {"gateway_claim_grant", GatewayClaimGrant, "cantdo.gateway.v1.ClaimGrantRequest"},
      {"gateway_consume_grant", GatewayConsumeGrant, "cantdo.gateway.v1.ConsumeGrantRequest"},
      {"gateway_list_ledger_entries", GatewayListLedgerEntries, "cantdo.gateway.v1.ListLedgerEntriesRequest"},
      {"gateway_verify_ledger", GatewayVerifyLedger, "cantdo.gateway.v1.VerifyLedgerRequest"},
      {"gateway_start_workflow", GatewayStartWorkflow, "cantdo.gateway.v1.StartWorkflowRequest"},
      {"gateway_get_workflow", GatewayGetWorkflow, "cantdo.gateway.v1.GetWorkflowRequest"},
      {"gateway_list_workflows", GatewayListWorkflows, "cantdo.gateway.v1.ListWorkflowsRequest"},
      {"gateway_get_workflow_history", GatewayGetWorkflowHistory, "cantdo.gateway.v1.GetWorkflowHistoryRequest"},
      {"gateway_watch_workflow", GatewayWatchWorkflow, "cantdo.gateway.v1.WatchWorkflowRequest"},
      {"gateway_signal_workflow", GatewaySignalWorkflow, "cantdo.gateway.v1.SignalWorkflowRequest"},
      {"gateway_cancel_workflow", GatewayCancelWorkflow, "cantdo.gateway.v1.CancelWorkflowRequest"},
      {"auth_jwks", AuthJwks, ""},
      {"auth_jwt", AuthJwt, ""},
      {"base_canonical_json", BaseCanonicalJson, ""},
  };
  return kTargets;
}

const Target* FindTarget(std::string_view name) {
  for (const Target& t : AllTargets()) {
    if (name == t.name) return &t;
  }
  return nullptr;
}

absl::StatusOr<std::string> EncodeSeed(const Target& target, std::string_view file_contents) {
  if (target.message[0] == '\0') return std::string(file_contents);
  const google::protobuf::Descriptor* type =
      google::protobuf::DescriptorPool::generated_pool()->FindMessageTypeByName(target.message);
  if (type == nullptr) return absl::NotFoundError(absl::StrCat("no message type ", target.message));
  std::unique_ptr<google::protobuf::Message> message(
      google::protobuf::MessageFactory::generated_factory()->GetPrototype(type)->New());
  if (!google::protobuf::TextFormat::ParseFromString(std::string(file_contents), message.get())) {
    return absl::InvalidArgumentError(absl::StrCat("not a ", target.message, " in text format"));
  }
  return message->SerializeAsString();
}

void Fail(std::string_view what, const absl::Status& status) {
  std::fprintf(stderr, "fuzz finding: %.*s: %s\n", static_cast<int>(what.size()), what.data(),
               status.ToString().c_str());
  std::abort();
}

void CheckRefusal(const absl::Status& status) {
  if (status.ok()) return;
  if (status.code() != absl::StatusCode::kInvalidArgument && status.code() != absl::StatusCode::kPermissionDenied) {
    Fail("a refusal at the edge is neither INVALID_ARGUMENT nor PERMISSION_DENIED", status);
  }
  const auto reason = GetReason(status);
  if (!reason) Fail("a refusal at the edge has no reason", status);
  if (*reason == "INVALID_FIELD" && GetMetadata(status)["field"].empty()) Fail("INVALID_FIELD without a field", status);
}

}  // namespace cantdo::fuzz
