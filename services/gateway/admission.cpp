#include "gateway/admission.hpp"

#include "absl/strings/str_cat.h"
#include "cantdo/base/ids.hpp"
#include "cantdo/base/log.hpp"
#include "cantdo/base/status.hpp"
#include "cantdo/base/trace_context.hpp"
#include "cantdo/pg/listener.hpp"
#include "cantdo/pg/transaction.hpp"

namespace cantdo::gateway {

namespace av1 = authority::v1;
namespace cv1 = common::v1;

namespace {

inline constexpr char kDecidedChannel[] = "cantdo_approval_decided";
constexpr auto kPending = workflow::v1::WORKFLOW_EXECUTION_STATE_PENDING_ADMISSION;
constexpr auto kCancelled = workflow::v1::WORKFLOW_EXECUTION_STATE_CANCELLED;

// What the gateway records as the outcome of consuming an admission grant:
// the same for every replica and every retry, so a repeated consume is the
// idempotent one.
std::string AdmissionDigest(const std::string& run_id) { return Sha256Hex(absl::StrCat("cantdo admission ", run_id)); }

cv1::ErrorReason RejectionReason(const cv1::Approval& a) {
  cv1::ErrorReason r = a.state_reason();
  if (r != cv1::ERROR_REASON_UNSPECIFIED) return r;
  switch (a.state()) {
    case cv1::APPROVAL_STATE_DENIED:
      return cv1::APPROVAL_DENIED;
    case cv1::APPROVAL_STATE_EXPIRED:
      return cv1::APPROVAL_EXPIRED;
    case cv1::APPROVAL_STATE_CANCELLED:
      return cv1::APPROVAL_CANCELLED;
    default:
      return cv1::WORKFLOW_ADMISSION_REJECTED;
  }
}

}  // namespace

absl::StatusOr<google::protobuf::Struct> StartParameters(const workflow::WorkflowType& type,
                                                         const v1::StartWorkflowRequest& request) {
  CANTDO_ASSIGN_OR_RETURN(google::protobuf::Struct derived, workflow::AdmissionParameters(type, request.input()));
  if (request.parameters().fields().empty()) return derived;
  CANTDO_ASSIGN_OR_RETURN(std::string want, workflow::CanonicalParameters(derived));
  auto given = workflow::CanonicalParameters(request.parameters());
  if (!given.ok()) return InvalidArgument("parameters", given.status().message());
  if (*given != want) {
    absl::Status s = WithReason(
        absl::InvalidArgumentError(absl::StrCat("parameters ", *given, " are not what the input asks approval for (",
                                                want, "); omit them, or send exactly these")),
        "WORKFLOW_PARAMETERS_MISMATCH");
    s = WithMetadata(std::move(s), "field", "parameters");
    return WithMetadata(std::move(s), "derived", want);
  }
  return derived;
}

absl::Status Admission::Process(const std::string& workflow_id, const std::string& run_id,
                                const std::string& approval_id) {
  av1::GetApprovalRequest get;
  get.set_approval_id(approval_id);
  CANTDO_ASSIGN_OR_RETURN(av1::GetApprovalResponse got, authority_.GetApproval(get));
  const cv1::Approval& approval = got.approval();
  switch (approval.state()) {
    case cv1::APPROVAL_STATE_PENDING:
    case cv1::APPROVAL_STATE_UNSPECIFIED:
      return absl::OkStatus();
    case cv1::APPROVAL_STATE_APPROVED:
      break;
    default:
      return Reject(workflow_id, run_id, approval_id, RejectionReason(approval),
                    absl::StrCat("admission approval ", cv1::ApprovalState_Name(approval.state()),
                                 approval.state_message().empty() ? "" : ": ", approval.state_message()));
  }
  const cv1::Grant& grant = got.grant();
  // The binding must be this run's admission; anything else is a bug or an
  // attack, never a reason to admit.
  if (approval.action().action() != kAdmissionAction || approval.action().step() != kAdmissionStep ||
      approval.action().workflow_id() != workflow_id || approval.action().run_id() != run_id) {
    return absl::InternalError(absl::StrCat("approval ", approval_id, " does not gate run ", run_id));
  }
  if (grant.state() == cv1::GRANT_STATE_CONSUMED) return absl::OkStatus();  // admitted in that transaction
  av1::ClaimGrantRequest claim;
  claim.set_grant_id(grant.grant_id());
  *claim.mutable_action() = approval.action();
  claim.set_idempotency_key(run_id);
  auto claimed = authority_.ClaimGrant(claim);
  if (!claimed.ok()) {
    const std::string reason = GetReason(claimed.status()).value_or("");
    if (reason == "GRANT_ALREADY_CONSUMED") return absl::OkStatus();  // another replica admitted it
    if (reason == "GRANT_EXPIRED" || reason == "GRANT_REVOKED") {
      return Reject(workflow_id, run_id, approval_id, cv1::WORKFLOW_ADMISSION_REJECTED,
                    absl::StrCat("the admission grant could not be used: ", reason));
    }
    return claimed.status();
  }
  av1::ConsumeGrantRequest consume;
  consume.set_grant_id(grant.grant_id());
  consume.set_outcome_digest(AdmissionDigest(run_id));
  CANTDO_RETURN_IF_ERROR(authority_.ConsumeGrant(consume).status());
  log::Info(
      "run admitted",
      {{"workflow_id", workflow_id}, {"run_id", run_id}, {"approval_id", approval_id}, {"grant_id", grant.grant_id()}});
  return absl::OkStatus();
}

absl::Status Admission::ProcessApproval(const std::string& approval_id) {
  std::optional<workflow::AdmissionRun> run;
  {
    CANTDO_ASSIGN_OR_RETURN(pg::PooledConnection conn, pool_.Acquire(absl::Now() + absl::Seconds(5)));
    CANTDO_ASSIGN_OR_RETURN(run, workflows_.FindByAdmissionApproval(*conn, approval_id, {kPending, kCancelled}));
  }
  if (!run) return absl::OkStatus();  // not an admission, or already handled
  // Admitting continues the trace of the StartWorkflow call.
  trace::ScopedTrace traced(run->traceparent);
  if (run->state == kCancelled) return RevokeLateAdmission(run->run_id, approval_id);
  return Process(run->workflow_id, run->run_id, approval_id);
}

absl::Status Admission::RevokeLateAdmission(const std::string& run_id, const std::string& approval_id) {
  av1::GetApprovalRequest get;
  get.set_approval_id(approval_id);
  CANTDO_ASSIGN_OR_RETURN(av1::GetApprovalResponse got, authority_.GetApproval(get));
  const cv1::GrantState grant = got.grant().state();
  if (got.approval().state() != cv1::APPROVAL_STATE_APPROVED ||
      (grant != cv1::GRANT_STATE_ISSUED && grant != cv1::GRANT_STATE_CLAIMED)) {
    return absl::OkStatus();
  }
  CANTDO_RETURN_IF_ERROR(run_grants_.Revoke(got.grant().grant_id(), "the run was cancelled before admission", ""));
  log::Info("admission grant of a cancelled run revoked",
            {{"run_id", run_id}, {"approval_id", approval_id}, {"grant_id", got.grant().grant_id()}});
  return absl::OkStatus();
}

absl::StatusOr<int> Admission::Sweep(int limit) {
  std::vector<workflow::AdmissionRun> pending;
  {
    CANTDO_ASSIGN_OR_RETURN(pg::PooledConnection conn, pool_.Acquire(absl::Now() + absl::Seconds(5)));
    CANTDO_ASSIGN_OR_RETURN(pending, workflows_.PendingAdmissions(*conn, limit));
  }
  for (const workflow::AdmissionRun& run : pending) {
    trace::ScopedTrace traced(run.traceparent);
    if (absl::Status st = Process(run.workflow_id, run.run_id, run.admission_approval_id); !st.ok()) {
      log::Warn("admission failed",
                {{"run_id", run.run_id}, {"approval_id", run.admission_approval_id}, {"error", st.ToString()}});
    }
  }
  return static_cast<int>(pending.size());
}

absl::Status Admission::Reject(const std::string& workflow_id, const std::string& run_id,
                               const std::string& approval_id, cv1::ErrorReason reason, const std::string& message) {
  absl::Status st = pg::RunInTransaction(pool_, {}, [&](pg::Connection& tx) {
    return workflows_.RejectAdmission(tx, workflow_id, run_id, reason, approval_id, message);
  });
  // Closed meanwhile (cancelled): nothing left to reject.
  if (GetReason(st) == "WORKFLOW_ALREADY_CLOSED") return absl::OkStatus();
  if (st.ok()) {
    log::Info("run rejected", {{"workflow_id", workflow_id},
                               {"run_id", run_id},
                               {"approval_id", approval_id},
                               {"reason", cv1::ErrorReason_Name(reason)}});
  }
  return st;
}

AdmissionLoop::AdmissionLoop(Admission& admission, std::string dsn, absl::Duration sweep_interval)
    : admission_(admission), dsn_(std::move(dsn)), sweep_interval_(sweep_interval) {
  thread_ = std::thread([this] { Run(); });
}

AdmissionLoop::~AdmissionLoop() { Stop(); }

void AdmissionLoop::Stop() {
  if (!stop_.HasBeenNotified()) stop_.Notify();
  if (thread_.joinable()) thread_.join();
}

void AdmissionLoop::Run() {
  std::unique_ptr<pg::Listener> listener;
  absl::Time next_sweep = absl::InfinitePast();
  while (!stop_.HasBeenNotified()) {
    if (listener == nullptr) {
      auto created = pg::Listener::Create(dsn_);
      if (created.ok() && (*created)->Listen(kDecidedChannel).ok()) {
        listener = *std::move(created);
        next_sweep = absl::InfinitePast();  // catch up on whatever was missed
      } else {
        log::Warn("admission listener unavailable", {{"error", created.status().ToString()}});
        stop_.WaitForNotificationWithTimeout(absl::Seconds(1));
        continue;
      }
    }
    if (absl::Now() >= next_sweep) {
      if (auto n = admission_.Sweep(); !n.ok()) log::Warn("admission sweep failed", {{"error", n.status().ToString()}});
      next_sweep = absl::Now() + sweep_interval_;
    }
    // Short waits so Stop() is honoured promptly.
    auto n = listener->Wait(std::min(next_sweep, absl::Now() + absl::Milliseconds(250)));
    if (!n.ok()) {
      listener.reset();
      continue;
    }
    if (!n->has_value()) continue;
    if ((*n)->gap) {
      next_sweep = absl::InfinitePast();
      continue;
    }
    if (absl::Status st = admission_.ProcessApproval((*n)->payload); !st.ok()) {
      log::Warn("admission failed", {{"approval_id", (*n)->payload}, {"error", st.ToString()}});
    }
  }
}

}  // namespace cantdo::gateway
