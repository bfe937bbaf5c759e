#include "authority/decision_sink.hpp"

#include <regex>

#include "authority/caller.hpp"
#include "cantdo/base/log.hpp"
#include "cantdo/base/status.hpp"
#include "cantdo/workflow/client.hpp"
#include "cantdo/workflow/payload.hpp"

namespace cantdo::authority {

absl::Status NotifyDecisionSink::ApprovalDecided(pg::Connection& tx, const common::v1::Approval& approval) {
  return tx.Exec("SELECT pg_notify('cantdo_approval_decided', $1)", {approval.approval_id()}).status();
}

absl::Status WorkflowSignalSink::ApprovalDecided(pg::Connection& tx, const common::v1::Approval& approval) {
  CANTDO_RETURN_IF_ERROR(notify_.ApprovalDecided(tx, approval));
  // Only the engine's own requests signal engine runs: an approval the
  // worker opened for a step of its run. The gateway's approvals only
  // notify: admission (the gateway admits those runs itself) and agent
  // platforms, whose workflow_id and run_id are their own references and
  // may name any run.
  if (approval.principal() != kWorkerId) return absl::OkStatus();
  // Engine run ids are UUIDs; anything else names no run of ours (an agent
  // platform's own reference), so there is nothing to signal.
  const std::string& run_id = approval.action().run_id();
  static const std::regex kUuid("^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$");
  if (approval.action().workflow_id().empty() || !std::regex_match(run_id, kUuid)) return absl::OkStatus();
  common::v1::ApprovalDecidedSignal body;
  body.set_approval_id(approval.approval_id());
  body.set_state(approval.state());
  body.set_state_reason(approval.state_reason());
  body.set_step(approval.action().step());
  body.set_grant_id(approval.grant_id());
  workflow::SignalRequest req;
  req.workflow_id = approval.action().workflow_id();
  req.run_id = approval.action().run_id();
  req.signal_name = "cantdo.approval_decided";
  req.signal_id = approval.approval_id();
  req.payload = workflow::Pack(body);
  req.identity = "spiffe://cantdo/authority";
  auto sent = workflow::WorkflowClient(clock_).Signal(tx, req);
  if (!sent.ok()) {
    if (sent.status().code() == absl::StatusCode::kNotFound ||
        sent.status().code() == absl::StatusCode::kFailedPrecondition ||
        sent.status().code() == absl::StatusCode::kInvalidArgument) {
      log::Info("approval decided; no running workflow to signal", {{"approval_id", approval.approval_id()},
                                                                    {"workflow_id", req.workflow_id},
                                                                    {"reason", GetReason(sent.status()).value_or("")}});
      return absl::OkStatus();
    }
    return sent.status();
  }
  return absl::OkStatus();
}

}  // namespace cantdo::authority
