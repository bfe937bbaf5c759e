#pragma once
// Where a decided approval is announced, inside the deciding transaction
// (so the announcement commits with the decision or not at all).

#include "absl/status/status.h"
#include "cantdo/base/clock.hpp"
#include "cantdo/common/v1/authorization.pb.h"
#include "cantdo/pg/connection.hpp"

namespace cantdo::authority {

class DecisionSink {
 public:
  virtual ~DecisionSink() = default;
  virtual absl::Status ApprovalDecided(pg::Connection& tx, const common::v1::Approval& approval) = 0;
};

// NOTIFY cantdo_approval_decided, payload the approval id.
class NotifyDecisionSink final : public DecisionSink {
 public:
  absl::Status ApprovalDecided(pg::Connection& tx, const common::v1::Approval& approval) override;
};

// For an approval the worker asked for (principal spiffe://cantdo/worker;
// no other principal's approval ever signals a run), signals the run that
// asked (workflow_id/run_id of the approval) with
// signal "cantdo.approval_decided", signal_id = approval id, payload a
// cantdo.common.v1.ApprovalDecidedSignal, through the engine's signal path
// (cantdo.workflow_signal, in the deciding transaction), and NOTIFYs
// cantdo_approval_decided. A run that is gone, closed or still pending
// admission (the gateway admits those itself) is logged, not an error:
// the decision stands either way.
class WorkflowSignalSink final : public DecisionSink {
 public:
  explicit WorkflowSignalSink(Clock& clock) : clock_(clock) {}
  absl::Status ApprovalDecided(pg::Connection& tx, const common::v1::Approval& approval) override;

 private:
  Clock& clock_;
  NotifyDecisionSink notify_;
};

}  // namespace cantdo::authority
