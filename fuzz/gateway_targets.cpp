// The gateway's request types. AuthorizationService and LedgerService: the
// edge checks (gateway/validation.hpp) and, for a request they accept, the
// request they forward to the authority, which the authority's own edge
// must accept too (a field the gateway lets through and the authority
// refuses would reach platforms as the authority's error). WorkflowService:
// the field checks its handlers make (services/gateway/workflow_service.cpp)
// in the same order; keep them in step with that file.

#include "authority/request_validation.hpp"
#include "cantdo/gateway/v1/workflow_service.pb.h"
#include "gateway/validation.hpp"
#include "proto_input.hpp"
#include "targets.hpp"

namespace cantdo::fuzz {
namespace {

namespace av1 = authority::v1;
namespace gv1 = gateway::v1;

// What a platform that authenticated with a token is forwarded as.
constexpr char kPlatform[] = "platform:fuzz";

void CheckForwardAccepted(const absl::Status& st) {
  if (!st.ok()) Fail("the authority refuses what the gateway accepted and forwards", st);
}

}  // namespace

void GatewayRequestAuthorization(std::string_view input) {
  auto req = Parse<gv1::RequestAuthorizationRequest>(input);
  if (!req) return;
  const absl::Status st = gateway::ValidateRequestAuthorization(*req);
  CheckRefusal(st);
  if (!st.ok()) return;
  av1::RequestApprovalRequest fwd;
  *fwd.mutable_action() = req->action();
  fwd.set_requester(req->requester());
  fwd.set_on_behalf_of(kPlatform);
  if (req->has_approval_timeout()) *fwd.mutable_approval_timeout() = req->approval_timeout();
  CheckForwardAccepted(authority::ValidateRequestApproval(fwd, fields::ActionBinding::kOptional));
}

void GatewayGetAuthorization(std::string_view input) {
  auto req = Parse<gv1::GetAuthorizationRequest>(input);
  if (!req) return;
  absl::StatusOr<absl::Duration> wait = gateway::ValidateGetAuthorization(*req);
  CheckRefusal(wait.status());
  if (!wait.ok()) return;
  if (*wait < absl::ZeroDuration() || *wait > gateway::kMaxAuthorizationWait) Fail("a valid wait is out of range");
  av1::GetApprovalRequest fwd;
  fwd.set_approval_id(req->approval_id());
  fwd.set_on_behalf_of(kPlatform);
  CheckForwardAccepted(authority::ValidateGetApproval(fwd));
}

void GatewayClaimGrant(std::string_view input) {
  auto req = Parse<gv1::ClaimGrantRequest>(input);
  if (!req) return;
  const absl::Status st = gateway::ValidateClaimGrant(*req);
  CheckRefusal(st);
  if (!st.ok()) return;
  av1::ClaimGrantRequest fwd;
  fwd.set_grant_id(req->grant_id());
  *fwd.mutable_action() = req->action();
  fwd.set_idempotency_key(req->idempotency_key());
  fwd.set_on_behalf_of(kPlatform);
  CheckForwardAccepted(authority::ValidateClaimGrant(fwd));
}

void GatewayConsumeGrant(std::string_view input) {
  auto req = Parse<gv1::ConsumeGrantRequest>(input);
  if (!req) return;
  const absl::Status st = gateway::ValidateConsumeGrant(*req);
  CheckRefusal(st);
  if (!st.ok()) return;
  av1::ConsumeGrantRequest fwd;
  fwd.set_grant_id(req->grant_id());
  fwd.set_outcome_digest(req->outcome_digest());
  fwd.set_on_behalf_of(kPlatform);
  CheckForwardAccepted(authority::ValidateConsumeGrant(fwd));
}

void GatewayListLedgerEntries(std::string_view input) {
  auto req = Parse<gv1::ListLedgerEntriesRequest>(input);
  if (!req) return;
  const absl::Status st = gateway::ValidateListLedgerEntries(*req);
  CheckRefusal(st);
  if (!st.ok()) return;
  // The page token is the authority's, opaque to the gateway: forwarded
  // without it, the rest must pass.
  av1::ListLedgerEntriesRequest fwd;
  fwd.set_page_size(req->page_size());
  *fwd.mutable_filter() = req->filter();
  fwd.set_start_sequence(req->start_sequence());
  CheckForwardAccepted(authority::ValidateListLedgerEntries(fwd).status());
}

void GatewayVerifyLedger(std::string_view input) {
  auto req = Parse<gv1::VerifyLedgerRequest>(input);
  if (!req) return;
  const absl::Status st = gateway::ValidateVerifyLedger(*req);
  CheckRefusal(st);
  if (!st.ok()) return;
  av1::VerifyLedgerRequest fwd;
  fwd.set_start_sequence(req->start_sequence());
  fwd.set_end_sequence(req->end_sequence());
  CheckForwardAccepted(authority::ValidateVerifyLedger(fwd));
}

// ---- WorkflowService: the handlers' checks, in their order ----

void GatewayStartWorkflow(std::string_view input) {
  auto req = Parse<gv1::StartWorkflowRequest>(input);
  if (!req) return;
  CheckRefusal(gateway::ValidateWorkflowType(req->workflow_type(), "workflow_type"));
  CheckRefusal(gateway::ValidateWorkflowId(req->workflow_id(), "workflow_id", false));
  CheckRefusal(gateway::ValidateKey(req->request_id(), "request_id", false));
  CheckRefusal(gateway::ValidateName(req->task_queue(), "task_queue", false));
  CheckRefusal(gateway::ValidateAnySize(req->input(), "input", 1024 * 1024));
  CheckRefusal(gateway::ValidateStructSize(req->parameters(), "parameters", 16 * 1024));
  CheckRefusal(gateway::ValidateStructSize(req->memo(), "memo", 16 * 1024));
  if (req->has_execution_timeout()) {
    CheckRefusal(gateway::ValidatePositiveDuration(req->execution_timeout(), "execution_timeout"));
  }
}

void GatewayGetWorkflow(std::string_view input) {
  auto req = Parse<gv1::GetWorkflowRequest>(input);
  if (!req) return;
  CheckRefusal(gateway::ValidateWorkflowId(req->workflow_id(), "workflow_id", true));
  CheckRefusal(gateway::ValidateRunId(req->run_id(), "run_id", false));
}

void GatewayListWorkflows(std::string_view input) {
  auto req = Parse<gv1::ListWorkflowsRequest>(input);
  if (!req) return;
  CheckRefusal(gateway::PageSize(req->page_size(), "page_size", 50).status());
  if (!req->workflow_type().empty()) CheckRefusal(gateway::ValidateWorkflowType(req->workflow_type(), "workflow_type"));
  CheckRefusal(gateway::ValidateWorkflowId(req->workflow_id(), "workflow_id", false));
}

void GatewayGetWorkflowHistory(std::string_view input) {
  auto req = Parse<gv1::GetWorkflowHistoryRequest>(input);
  if (!req) return;
  CheckRefusal(gateway::ValidateWorkflowId(req->workflow_id(), "workflow_id", true));
  CheckRefusal(gateway::ValidateRunId(req->run_id(), "run_id", false));
  CheckRefusal(gateway::PageSize(req->page_size(), "page_size", 100).status());
}

void GatewayWatchWorkflow(std::string_view input) {
  auto req = Parse<gv1::WatchWorkflowRequest>(input);
  if (!req) return;
  CheckRefusal(gateway::ValidateWorkflowId(req->workflow_id(), "workflow_id", true));
  CheckRefusal(gateway::ValidateRunId(req->run_id(), "run_id", false));
}

void GatewaySignalWorkflow(std::string_view input) {
  auto req = Parse<gv1::SignalWorkflowRequest>(input);
  if (!req) return;
  CheckRefusal(gateway::ValidateWorkflowId(req->workflow_id(), "workflow_id", true));
  CheckRefusal(gateway::ValidateRunId(req->run_id(), "run_id", false));
  CheckRefusal(gateway::ValidateName(req->signal_name(), "signal_name", true));
  CheckRefusal(gateway::ValidateKey(req->signal_id(), "signal_id", true));
  CheckRefusal(gateway::ValidateAnySize(req->payload(), "payload", 1024 * 1024));
}

void GatewayCancelWorkflow(std::string_view input) {
  auto req = Parse<gv1::CancelWorkflowRequest>(input);
  if (!req) return;
  CheckRefusal(gateway::ValidateWorkflowId(req->workflow_id(), "workflow_id", true));
  CheckRefusal(gateway::ValidateRunId(req->run_id(), "run_id", false));
  CheckRefusal(gateway::ValidateText(req->reason(), "reason", true, 1024));
  CheckRefusal(gateway::ValidateKey(req->request_id(), "request_id", false));
}

}  // namespace cantdo::fuzz
