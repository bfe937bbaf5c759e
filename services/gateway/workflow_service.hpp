#pragma once
// cantdo.gateway.v1.WorkflowService (proto/cantdo/gateway/v1/workflow_service.proto).
//
// StartWorkflow, in this order, so that the policy can refuse a start
// before anything exists and a retry converges on the same run (first of
// all, a type this deployment does not declare, an input that is not the
// type's, or parameters that disagree with the input are refused):
//   1. a request_id already used returns its run (created = false);
//   2. the run id is chosen now: derived from (workflow_id, request_id)
//      when there is a request_id (so a retry after a crash between the
//      next two steps names the same run), random otherwise;
//   3. the authority is asked for the workflow.start approval of the
//      parameters the workflow type derives from the input (StartParameters;
//      idempotent per gateway, workflow_id, run_id, step, action); a policy
//      refusal, or a policy that would let the start through without an
//      approval, ends the call with nothing created;
//   4. the run is created PENDING_ADMISSION in one transaction (workflow id
//      reuse policy rechecked under the workflow id's lock).
// An approval whose run could not be created (a concurrent start won the
// workflow id) gates nothing: when decided, the admission loop finds no
// pending run for it and its grant expires unused.
//
// CancelWorkflow commits the cancel first, then revokes the run's
// unconsumed grants through the authority (RunGrants). A failure to revoke
// does not undo the cancel: the call fails UNAVAILABLE
// (DEPENDENCY_UNAVAILABLE, metadata cancel_recorded = "true") and a retry,
// which finds the cancel already recorded, revokes what is left.

#include <atomic>
#include <map>
#include <string>

#include "absl/time/time.h"
#include "cantdo/base/clock.hpp"
#include "cantdo/gateway/v1/workflow_service.grpc.pb.h"
#include "cantdo/pg/pool.hpp"
#include "cantdo/workflow/client.hpp"
#include "gateway/admission.hpp"
#include "gateway/authority_client.hpp"
#include "gateway/call_guard.hpp"
#include "gateway/run_grants.hpp"

namespace cantdo::gateway {

struct WorkflowServiceOptions {
  // Registered workflow types and the task queue each defaults to.
  std::map<std::string, std::string> task_queues;
  // A watch stream ends with OK after this long (the client resumes).
  absl::Duration watch_max_lifetime = absl::Minutes(10);
  // Concurrent watch streams (each holds two Postgres connections).
  int max_watches = 64;
};

class WorkflowServiceImpl final : public v1::WorkflowService::Service {
 public:
  // Everything must outlive the service.
  WorkflowServiceImpl(const CallGuard& guard, pg::Pool& pool, const AuthorityClient& authority, Admission& admission,
                      const workflow::WorkflowClient& workflows, WorkflowServiceOptions options)
      : guard_(guard),
        pool_(pool),
        authority_(authority),
        admission_(admission),
        workflows_(workflows),
        options_(std::move(options)) {}

  ::grpc::Status StartWorkflow(::grpc::ServerContext* ctx, const v1::StartWorkflowRequest* req,
                               v1::StartWorkflowResponse* resp) override;
  ::grpc::Status GetWorkflow(::grpc::ServerContext* ctx, const v1::GetWorkflowRequest* req,
                             v1::GetWorkflowResponse* resp) override;
  ::grpc::Status ListWorkflows(::grpc::ServerContext* ctx, const v1::ListWorkflowsRequest* req,
                               v1::ListWorkflowsResponse* resp) override;
  ::grpc::Status GetWorkflowHistory(::grpc::ServerContext* ctx, const v1::GetWorkflowHistoryRequest* req,
                                    v1::GetWorkflowHistoryResponse* resp) override;
  ::grpc::Status WatchWorkflow(::grpc::ServerContext* ctx, const v1::WatchWorkflowRequest* req,
                               ::grpc::ServerWriter<v1::WatchWorkflowResponse>* writer) override;
  ::grpc::Status SignalWorkflow(::grpc::ServerContext* ctx, const v1::SignalWorkflowRequest* req,
                                v1::SignalWorkflowResponse* resp) override;
  ::grpc::Status CancelWorkflow(::grpc::ServerContext* ctx, const v1::CancelWorkflowRequest* req,
                                v1::CancelWorkflowResponse* resp) override;

  // Ends every watch stream with OK within a fraction of a second (server
  // shutdown); new watches are refused UNAVAILABLE.
  void StopWatches() { stopping_ = true; }

 private:
  absl::Status Start(const Caller& caller, const v1::StartWorkflowRequest& req, v1::StartWorkflowResponse* resp);
  absl::Status Watch(::grpc::ServerContext& ctx, const v1::WatchWorkflowRequest& req,
                     ::grpc::ServerWriter<v1::WatchWorkflowResponse>& writer);
  absl::StatusOr<common::v1::Approval> ApprovalOf(const std::string& approval_id) const;

  const CallGuard& guard_;
  pg::Pool& pool_;
  const AuthorityClient& authority_;
  const RunGrants run_grants_{authority_};
  Admission& admission_;
  const workflow::WorkflowClient& workflows_;
  const WorkflowServiceOptions options_;
  std::atomic<int> watches_{0};
  std::atomic<bool> stopping_{false};
};

// Deterministic ids for StartWorkflow retries (exposed for tests).
std::string RunIdFor(const std::string& workflow_id, const std::string& request_id);
std::string WorkflowIdFor(const std::string& request_id);

}  // namespace cantdo::gateway
