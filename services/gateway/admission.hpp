#pragma once
// Admission: asks for a start's workflow.start approval of exactly what
// the run will act on (StartParameters), and moves runs out of
// PENDING_ADMISSION once the authority has decided that approval.
//
// The gateway is the principal of every admission approval (it requested
// it as spiffe://cantdo/gateway). For an APPROVED approval it claims the
// grant (idempotency key = run id) and consumes it; the authority admits
// the run inside the consuming transaction (cantdo.workflow_admit, V0008:
// only the authority's database role may, and only with that consumed
// grant), so the run's first task exists if and only if the grant is
// CONSUMED. The gateway's own database login cannot admit a run. A DENIED,
// EXPIRED, INVALID or CANCELLED approval (or a grant that expired or was
// revoked before it could be claimed) closes the run REJECTED.
//
// A run cancelled while pending admission is closed at once; the authority
// has no way to withdraw its approval request, so when that approval is
// approved anyway, ProcessApproval revokes the grant it produced (and even
// unrevoked it could admit nothing: the authority refuses to consume an
// admission grant for a closed run). A missed notification leaves such a
// grant ISSUED until it expires; the sweep looks at pending runs only.
//
// Every step is safe to repeat and to run concurrently from several gateway
// replicas: the claim is conditional and re-claimable with the same key,
// the consume is idempotent for the same outcome digest, admission and
// rejection are idempotent. So a decision delivered twice, a missed
// notification or a restart changes nothing but timing.
//
// AdmissionLoop drives it: LISTEN cantdo_approval_decided (payload: the
// approval id; the authority notifies in the deciding transaction) plus a
// periodic sweep of all PENDING_ADMISSION runs.

#include <atomic>
#include <memory>
#include <string>
#include <thread>

#include <google/protobuf/struct.pb.h>

#include "absl/status/statusor.h"
#include "absl/synchronization/notification.h"
#include "cantdo/base/clock.hpp"
#include "cantdo/gateway/v1/workflow_service.pb.h"
#include "cantdo/pg/pool.hpp"
#include "cantdo/workflow/admission.hpp"
#include "cantdo/workflow/client.hpp"
#include "gateway/authority_client.hpp"
#include "gateway/run_grants.hpp"

namespace cantdo::gateway {

using workflow::kAdmissionAction;
using workflow::kAdmissionStep;

// The parameters a start's admission approval asks for: what `type`
// derives from the request's input (INVALID_FIELD "input..." when the
// input is not the type's message or cannot be admitted). A request that
// names parameters too must name exactly these, compared as canonical
// JSON: INVALID_ARGUMENT, reason WORKFLOW_PARAMETERS_MISMATCH (metadata
// `derived`), otherwise. So what the approver is shown is what the run
// will act on, whatever the caller sends.
absl::StatusOr<google::protobuf::Struct> StartParameters(const workflow::WorkflowType& type,
                                                         const v1::StartWorkflowRequest& request);

class Admission {
 public:
  // All must outlive the Admission.
  Admission(pg::Pool& pool, const AuthorityClient& authority, const workflow::WorkflowClient& workflows)
      : pool_(pool), authority_(authority), workflows_(workflows) {}

  // Brings the run (pending admission, gated by approval_id) in line with
  // the approval's state. OK when there is nothing to do yet.
  absl::Status Process(const std::string& workflow_id, const std::string& run_id, const std::string& approval_id);

  // The same for the pending run gated by `approval_id`, if any; for a run
  // cancelled while pending, revokes the approval's grant if one was issued.
  absl::Status ProcessApproval(const std::string& approval_id);

  // Process() for up to `limit` pending runs, oldest first. Returns how
  // many were looked at; failures are logged and do not stop the sweep.
  absl::StatusOr<int> Sweep(int limit = 200);

 private:
  absl::Status RevokeLateAdmission(const std::string& run_id, const std::string& approval_id);
  absl::Status Reject(const std::string& workflow_id, const std::string& run_id, const std::string& approval_id,
                      common::v1::ErrorReason reason, const std::string& message);

  pg::Pool& pool_;
  const AuthorityClient& authority_;
  const RunGrants run_grants_{authority_};
  const workflow::WorkflowClient& workflows_;
};

class AdmissionLoop {
 public:
  // Starts the thread. `admission` must outlive the loop.
  AdmissionLoop(Admission& admission, std::string dsn, absl::Duration sweep_interval);
  ~AdmissionLoop();  // Stop()
  void Stop();

 private:
  void Run();

  Admission& admission_;
  const std::string dsn_;
  const absl::Duration sweep_interval_;
  absl::Notification stop_;
  std::thread thread_;
};

}  // namespace cantdo::gateway
