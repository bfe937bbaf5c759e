#include "gateway/workflow_service.hpp"

#include <algorithm>

#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "cantdo/base/ids.hpp"
#include "cantdo/base/log.hpp"
#include "cantdo/base/status.hpp"
#include "cantdo/grpc/status.hpp"
#include "cantdo/pg/transaction.hpp"
#include "cantdo/workflow_types/catalog.hpp"
#include "gateway/validation.hpp"

namespace cantdo::gateway {

namespace av1 = authority::v1;
namespace cv1 = common::v1;
namespace wv1 = workflow::v1;
using cantdo::grpc::Handle;

namespace {

constexpr absl::Duration kDbWait = absl::Seconds(5);

std::string UuidFromHex(const std::string& hex) {
  std::string h = hex.substr(0, 32);
  h[12] = '5';                                                        // version 5 (name-based, SHA)
  h[16] = "89ab"[std::stoi(std::string(1, h[16]), nullptr, 16) & 3];  // RFC 4122 variant
  return absl::StrCat(h.substr(0, 8), "-", h.substr(8, 4), "-", h.substr(12, 4), "-", h.substr(16, 4), "-",
                      h.substr(20, 12));
}

absl::Status AlreadyExists(const std::string& workflow_id, const std::string& run_id, const std::string& why) {
  absl::Status s = WithReason(absl::AlreadyExistsError(absl::StrCat("workflow ", workflow_id, ": ", why)),
                              "WORKFLOW_ALREADY_EXISTS");
  s = WithMetadata(std::move(s), "workflow_id", workflow_id);
  return WithMetadata(std::move(s), "run_id", run_id);
}

absl::Status KeyReused(const std::string& existing) {
  absl::Status s =
      WithReason(absl::AlreadyExistsError("request_id was used for a different start"), "IDEMPOTENCY_KEY_REUSED");
  s = WithMetadata(std::move(s), "key", "request_id");
  return WithMetadata(std::move(s), "existing_id", existing);
}

// The workflow id reuse policy against the open run of `workflow_id`, else
// its newest.
absl::Status CheckReuse(const workflow::WorkflowClient& workflows, pg::Connection& conn, const std::string& workflow_id,
                        v1::WorkflowIdReusePolicy policy) {
  absl::StatusOr<wv1::WorkflowExecution> run = workflows.Describe(conn, workflow_id, "");
  if (GetReason(run.status()) == "WORKFLOW_NOT_FOUND") return absl::OkStatus();  // the first run
  CANTDO_RETURN_IF_ERROR(run.status());
  const wv1::WorkflowExecutionState state = run->state();
  if (state == wv1::WORKFLOW_EXECUTION_STATE_PENDING_ADMISSION || state == wv1::WORKFLOW_EXECUTION_STATE_RUNNING) {
    return AlreadyExists(workflow_id, run->run_id(), "a run is open");
  }
  if (policy == v1::WORKFLOW_ID_REUSE_POLICY_REJECT_DUPLICATE) {
    return AlreadyExists(workflow_id, run->run_id(), "the reuse policy forbids another run");
  }
  if (policy == v1::WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE_FAILED_ONLY &&
      (state == wv1::WORKFLOW_EXECUTION_STATE_COMPLETED || state == wv1::WORKFLOW_EXECUTION_STATE_CONTINUED_AS_NEW)) {
    return AlreadyExists(workflow_id, run->run_id(), "the previous run completed and the reuse policy is FAILED_ONLY");
  }
  return absl::OkStatus();
}

std::string Encode(const std::string& s) { return absl::WebSafeBase64Escape(s); }
std::optional<std::string> Decode(const std::string& s) {
  std::string out;
  if (!absl::WebSafeBase64Unescape(s, &out)) return std::nullopt;
  return out;
}

std::string ListFilterHash(const v1::ListWorkflowsRequest& req) {
  std::vector<std::string> states;
  for (int s : req.states()) states.push_back(absl::StrCat(s));
  return Sha256Hex(absl::StrCat(req.workflow_type(), "\n", absl::StrJoin(states, ","), "\n", req.workflow_id()))
      .substr(0, 16);
}

}  // namespace

std::string RunIdFor(const std::string& workflow_id, const std::string& request_id) {
  return UuidFromHex(Sha256Hex(absl::StrCat("cantdo run\n", workflow_id, "\n", request_id)));
}

std::string WorkflowIdFor(const std::string& request_id) {
  return absl::StrCat("wf-", Sha256Hex(absl::StrCat("cantdo workflow\n", request_id)).substr(0, 32));
}

absl::StatusOr<cv1::Approval> WorkflowServiceImpl::ApprovalOf(const std::string& approval_id) const {
  av1::GetApprovalRequest get;
  get.set_approval_id(approval_id);
  CANTDO_ASSIGN_OR_RETURN(av1::GetApprovalResponse got, authority_.GetApproval(get));
  return got.approval();
}

::grpc::Status WorkflowServiceImpl::StartWorkflow(::grpc::ServerContext* ctx, const v1::StartWorkflowRequest* req,
                                                  v1::StartWorkflowResponse* resp) {
  return Handle([&]() -> absl::Status {
    CANTDO_ASSIGN_OR_RETURN(Caller caller, guard_.Admit(*ctx, {Role::kOperator}));
    CANTDO_RETURN_IF_ERROR(ValidateWorkflowType(req->workflow_type(), "workflow_type"));
    CANTDO_RETURN_IF_ERROR(ValidateWorkflowId(req->workflow_id(), "workflow_id", false));
    CANTDO_RETURN_IF_ERROR(ValidateKey(req->request_id(), "request_id", false));
    if (!v1::WorkflowIdReusePolicy_IsValid(req->id_reuse_policy())) {
      return InvalidArgument("id_reuse_policy", "id_reuse_policy is not a known value");
    }
    CANTDO_RETURN_IF_ERROR(ValidateName(req->task_queue(), "task_queue", false));
    CANTDO_RETURN_IF_ERROR(ValidateAnySize(req->input(), "input", 1024 * 1024));
    CANTDO_RETURN_IF_ERROR(ValidateStructSize(req->parameters(), "parameters", 16 * 1024));
    CANTDO_RETURN_IF_ERROR(ValidateStructSize(req->memo(), "memo", 16 * 1024));
    if (req->has_execution_timeout()) {
      CANTDO_RETURN_IF_ERROR(ValidatePositiveDuration(req->execution_timeout(), "execution_timeout"));
    }
    return Start(caller, *req, resp);
  });
}

absl::Status WorkflowServiceImpl::Start(const Caller& caller, const v1::StartWorkflowRequest& req,
                                        v1::StartWorkflowResponse* resp) {
  auto queue = options_.task_queues.find(req.workflow_type());
  const workflow::WorkflowType* type = workflow_types::FindWorkflowType(req.workflow_type());
  if (queue == options_.task_queues.end() || type == nullptr) {
    absl::Status s =
        WithReason(absl::InvalidArgumentError(absl::StrCat("no worker registers workflow type ", req.workflow_type())),
                   "WORKFLOW_TYPE_UNKNOWN");
    return WithMetadata(std::move(s), "workflow_type", req.workflow_type());
  }
  const std::string task_queue = req.task_queue().empty() ? queue->second : req.task_queue();
  // What the approver will be shown is what the run will act on: derived
  // from the input, before anything exists.
  CANTDO_ASSIGN_OR_RETURN(const google::protobuf::Struct parameters, StartParameters(*type, req));

  // 1. A request id already used: its run, if the request is the same.
  std::string workflow_id = req.workflow_id();
  {
    CANTDO_ASSIGN_OR_RETURN(pg::PooledConnection conn, pool_.Acquire(absl::Now() + kDbWait));
    if (!req.request_id().empty()) {
      CANTDO_ASSIGN_OR_RETURN(auto existing, workflows_.FindByRequestId(*conn, req.request_id()));
      if (existing) {
        if (existing->workflow_type() != req.workflow_type() ||
            (!workflow_id.empty() && existing->workflow_id() != workflow_id)) {
          return KeyReused(existing->run_id());
        }
        *resp->mutable_execution() = *std::move(existing);
        resp->set_admission_approval_id(resp->execution().admission_approval_id());
        resp->set_created(false);
        if (!resp->admission_approval_id().empty()) {
          auto approval = ApprovalOf(resp->admission_approval_id());
          if (approval.ok()) *resp->mutable_admission_approval() = *std::move(approval);
        }
        return absl::OkStatus();
      }
    }
    if (workflow_id.empty())
      workflow_id = req.request_id().empty() ? "wf-" + NewUuid() : WorkflowIdFor(req.request_id());
    // Refuse early what the reuse policy forbids, before asking anyone to
    // approve a run that cannot exist (rechecked under the lock below).
    CANTDO_RETURN_IF_ERROR(CheckReuse(workflows_, *conn, workflow_id, req.id_reuse_policy()));
  }

  // 2 + 3. Name the run, then ask for its admission approval.
  const std::string run_id = req.request_id().empty() ? NewUuid() : RunIdFor(workflow_id, req.request_id());
  av1::RequestApprovalRequest ask;
  auto* action = ask.mutable_action();
  action->set_action(kAdmissionAction);
  action->set_resource(req.workflow_type());
  action->set_workflow_id(workflow_id);
  action->set_run_id(run_id);
  action->set_step(kAdmissionStep);
  *action->mutable_parameters() = parameters;
  ask.set_requester(caller.principal);
  CANTDO_ASSIGN_OR_RETURN(av1::RequestApprovalResponse asked, authority_.RequestApproval(ask));
  if (asked.decision() != cv1::DECISION_REQUIRE_APPROVAL) {
    // Only an approval's consumed grant admits a run (V0008): a policy that
    // lets a start through without one is a misconfiguration, not a pass.
    absl::Status s = FailedPrecondition(
        "WORKFLOW_ADMISSION_REQUIRES_APPROVAL",
        absl::StrCat("the policy answered ", cv1::Decision_Name(asked.decision()), " for workflow.start of ",
                     req.workflow_type(), "; every run needs an approval: make the rule REQUIRE_APPROVAL"));
    s = WithMetadata(std::move(s), "workflow_type", req.workflow_type());
    return WithMetadata(std::move(s), "decision", cv1::Decision_Name(asked.decision()));
  }
  const std::string approval_id = asked.approval().approval_id();

  // 4. Create the run, pending admission.
  workflow::StartRequest start;
  start.workflow_id = workflow_id;
  start.run_id = run_id;
  start.workflow_type = req.workflow_type();
  start.task_queue = task_queue;
  start.input = req.input();
  start.request_id = req.request_id();
  start.requester = caller.principal;
  start.admission_approval_id = approval_id;
  start.pending_admission = true;
  start.parameters = parameters;
  start.memo = req.memo();
  workflow::StartResult started;
  CANTDO_RETURN_IF_ERROR(pg::RunInTransaction(pool_, {}, [&](pg::Connection& tx) -> absl::Status {
    CANTDO_RETURN_IF_ERROR(workflows_.LockWorkflowId(tx, workflow_id));
    if (!req.request_id().empty()) {
      CANTDO_ASSIGN_OR_RETURN(auto existing, workflows_.FindByRequestId(tx, req.request_id()));
      if (existing && existing->run_id() != run_id) return KeyReused(existing->run_id());
    }
    // A concurrent identical retry may have created this very run.
    const bool exists = workflows_.Describe(tx, workflow_id, run_id).ok();
    if (!exists) CANTDO_RETURN_IF_ERROR(CheckReuse(workflows_, tx, workflow_id, req.id_reuse_policy()));
    CANTDO_ASSIGN_OR_RETURN(started, workflows_.Start(tx, start));
    CANTDO_ASSIGN_OR_RETURN(*resp->mutable_execution(), workflows_.Describe(tx, workflow_id, run_id));
    return absl::OkStatus();
  }));
  resp->set_admission_approval_id(approval_id);
  *resp->mutable_admission_approval() = asked.approval();
  resp->set_created(started.created);
  log::Info("workflow started", {{"workflow_id", workflow_id},
                                 {"run_id", run_id},
                                 {"approval_id", approval_id},
                                 {"requester", caller.principal},
                                 {"created", started.created}});
  // Decided before the run existed (a retry, or a very fast approver): the
  // notification found nothing to admit, so do it now (the sweep would too).
  if (asked.approval().state() != cv1::APPROVAL_STATE_PENDING) {
    if (absl::Status st = admission_.Process(workflow_id, run_id, approval_id); !st.ok()) {
      log::Warn("admission after start failed", {{"run_id", run_id}, {"error", st.ToString()}});
    }
  }
  return absl::OkStatus();
}

::grpc::Status WorkflowServiceImpl::GetWorkflow(::grpc::ServerContext* ctx, const v1::GetWorkflowRequest* req,
                                                v1::GetWorkflowResponse* resp) {
  return Handle([&]() -> absl::Status {
    CANTDO_RETURN_IF_ERROR(guard_.Admit(*ctx, {Role::kOperator, Role::kAuditor}).status());
    CANTDO_RETURN_IF_ERROR(ValidateWorkflowId(req->workflow_id(), "workflow_id", true));
    CANTDO_RETURN_IF_ERROR(ValidateRunId(req->run_id(), "run_id", false));
    {
      CANTDO_ASSIGN_OR_RETURN(pg::PooledConnection conn, pool_.Acquire(absl::Now() + kDbWait));
      CANTDO_ASSIGN_OR_RETURN(*resp->mutable_execution(),
                              workflows_.Describe(*conn, req->workflow_id(), req->run_id()));
    }
    const std::string& approval_id = resp->execution().admission_approval_id();
    if (!approval_id.empty()) {
      auto approval = ApprovalOf(approval_id);
      if (approval.ok()) {
        *resp->mutable_admission_approval() = *std::move(approval);
      } else if (approval.status().code() != absl::StatusCode::kNotFound) {
        return approval.status();
      }
    }
    return absl::OkStatus();
  });
}

::grpc::Status WorkflowServiceImpl::ListWorkflows(::grpc::ServerContext* ctx, const v1::ListWorkflowsRequest* req,
                                                  v1::ListWorkflowsResponse* resp) {
  return Handle([&]() -> absl::Status {
    CANTDO_RETURN_IF_ERROR(guard_.Admit(*ctx, {Role::kOperator, Role::kAuditor}).status());
    CANTDO_ASSIGN_OR_RETURN(int size, PageSize(req->page_size(), "page_size", 50));
    if (!req->workflow_type().empty())
      CANTDO_RETURN_IF_ERROR(ValidateWorkflowType(req->workflow_type(), "workflow_type"));
    CANTDO_RETURN_IF_ERROR(ValidateWorkflowId(req->workflow_id(), "workflow_id", false));
    workflow::ListRequest list;
    list.workflow_type = req->workflow_type();
    list.workflow_id = req->workflow_id();
    list.page_size = size;
    for (int i = 0; i < req->states_size(); ++i) {
      const int s = req->states(i);
      if (!wv1::WorkflowExecutionState_IsValid(s) || s == wv1::WORKFLOW_EXECUTION_STATE_UNSPECIFIED) {
        return InvalidArgument(absl::StrCat("states[", i, "]"), "not a workflow execution state");
      }
      list.states.push_back(static_cast<wv1::WorkflowExecutionState>(s));
    }
    const std::string filters = ListFilterHash(*req);
    if (!req->page_token().empty()) {
      auto token = Decode(req->page_token());
      std::vector<std::string> parts;
      if (token) parts = absl::StrSplit(*token, absl::MaxSplits('|', 2));
      if (parts.size() != 3 || parts[0] != "l1" || parts[1] != filters) {
        return InvalidArgument("page_token", "page_token was not issued for these filters");
      }
      list.page_token = parts[2];
    }
    CANTDO_ASSIGN_OR_RETURN(pg::PooledConnection conn, pool_.Acquire(absl::Now() + kDbWait));
    CANTDO_ASSIGN_OR_RETURN(workflow::ListPage page, workflows_.List(*conn, list));
    for (auto& run : page.runs) *resp->add_executions() = std::move(run);
    if (!page.next_page_token.empty()) {
      resp->set_next_page_token(Encode(absl::StrCat("l1|", filters, "|", page.next_page_token)));
    }
    return absl::OkStatus();
  });
}

::grpc::Status WorkflowServiceImpl::GetWorkflowHistory(::grpc::ServerContext* ctx,
                                                       const v1::GetWorkflowHistoryRequest* req,
                                                       v1::GetWorkflowHistoryResponse* resp) {
  return Handle([&]() -> absl::Status {
    CANTDO_RETURN_IF_ERROR(guard_.Admit(*ctx, {Role::kOperator, Role::kAuditor}).status());
    CANTDO_RETURN_IF_ERROR(ValidateWorkflowId(req->workflow_id(), "workflow_id", true));
    CANTDO_RETURN_IF_ERROR(ValidateRunId(req->run_id(), "run_id", false));
    CANTDO_ASSIGN_OR_RETURN(int size, PageSize(req->page_size(), "page_size", 100));
    CANTDO_ASSIGN_OR_RETURN(pg::PooledConnection conn, pool_.Acquire(absl::Now() + kDbWait));
    std::string run_id;
    int64_t from = 1;
    if (!req->page_token().empty()) {
      auto token = Decode(req->page_token());
      std::vector<std::string> parts;
      if (token) parts = absl::StrSplit(*token, '|');
      if (parts.size() != 3 || parts[0] != "h1" || !absl::SimpleAtoi(parts[2], &from) || from < 1 ||
          !ValidateRunId(parts[1], "page_token", true).ok() || (!req->run_id().empty() && req->run_id() != parts[1])) {
        return InvalidArgument("page_token", "page_token is not one this service issued for this run");
      }
      run_id = parts[1];
    }
    // Resolves the run (and proves it belongs to workflow_id).
    CANTDO_ASSIGN_OR_RETURN(wv1::WorkflowExecution run,
                            workflows_.Describe(*conn, req->workflow_id(), run_id.empty() ? req->run_id() : run_id));
    CANTDO_ASSIGN_OR_RETURN(workflow::HistoryPage page, workflows_.History(*conn, run.run_id(), from, size + 1));
    const bool more = static_cast<int>(page.events.size()) > size;
    if (more) page.events.resize(size);
    for (auto& e : page.events) *resp->add_events() = std::move(e);
    resp->set_run_id(run.run_id());
    if (more) resp->set_next_page_token(Encode(absl::StrCat("h1|", run.run_id(), "|", from + size)));
    return absl::OkStatus();
  });
}

::grpc::Status WorkflowServiceImpl::WatchWorkflow(::grpc::ServerContext* ctx, const v1::WatchWorkflowRequest* req,
                                                  ::grpc::ServerWriter<v1::WatchWorkflowResponse>* writer) {
  return Handle([&]() -> absl::Status {
    CANTDO_RETURN_IF_ERROR(guard_.Admit(*ctx, {Role::kOperator, Role::kAuditor}).status());
    CANTDO_RETURN_IF_ERROR(ValidateWorkflowId(req->workflow_id(), "workflow_id", true));
    CANTDO_RETURN_IF_ERROR(ValidateRunId(req->run_id(), "run_id", false));
    if (req->from_event_id() < 0) return InvalidArgument("from_event_id", "from_event_id must not be negative");
    if (stopping_) return Unavailable("DEPENDENCY_UNAVAILABLE", "the gateway is shutting down");
    if (watches_.fetch_add(1) >= options_.max_watches) {
      watches_.fetch_sub(1);
      absl::Status s =
          WithReason(absl::ResourceExhaustedError("too many watch streams on this gateway"), "RATE_LIMITED");
      return WithMetadata(std::move(s), "limit", absl::StrCat(options_.max_watches));
    }
    absl::Status st = Watch(*ctx, *req, *writer);
    watches_.fetch_sub(1);
    return st;
  });
}

absl::Status WorkflowServiceImpl::Watch(::grpc::ServerContext& ctx, const v1::WatchWorkflowRequest& req,
                                        ::grpc::ServerWriter<v1::WatchWorkflowResponse>& writer) {
  const absl::Time end = absl::Now() + options_.watch_max_lifetime;
  std::string run_id;
  int64_t from = std::max<int64_t>(req.from_event_id(), 1);
  {
    CANTDO_ASSIGN_OR_RETURN(pg::PooledConnection conn, pool_.Acquire(absl::Now() + kDbWait));
    CANTDO_ASSIGN_OR_RETURN(wv1::WorkflowExecution run, workflows_.Describe(*conn, req.workflow_id(), req.run_id()));
    run_id = run.run_id();
    // OUT_OF_RANGE for a closed run asked beyond its end, before streaming.
    CANTDO_RETURN_IF_ERROR(workflows_.History(*conn, run_id, from, 1).status());
  }
  const std::string& dsn = pool_.options().dsn;
  while (true) {
    CANTDO_ASSIGN_OR_RETURN(auto watcher, workflow::HistoryWatcher::Create(dsn, run_id, from));
    bool continued = false;
    while (!continued) {
      if (ctx.IsCancelled()) return absl::CancelledError("the client cancelled the watch");
      if (stopping_ || absl::Now() >= end) return absl::OkStatus();  // the client resumes
      CANTDO_ASSIGN_OR_RETURN(workflow::HistoryPage page,
                              watcher->Next(std::min(end, absl::Now() + absl::Milliseconds(250))));
      for (auto& e : page.events) {
        v1::WatchWorkflowResponse msg;
        msg.set_run_id(run_id);
        const bool cont = e.has_workflow_execution_continued_as_new();
        *msg.mutable_event() = std::move(e);
        if (!writer.Write(msg)) return absl::CancelledError("the client went away");
        continued = cont && req.follow_continue_as_new();
      }
      if (page.complete && !continued) return absl::OkStatus();
    }
    // Follow the chain into the next run, from its first event.
    CANTDO_ASSIGN_OR_RETURN(pg::PooledConnection conn, pool_.Acquire(absl::Now() + kDbWait));
    CANTDO_ASSIGN_OR_RETURN(wv1::WorkflowExecution closed, workflows_.Describe(*conn, req.workflow_id(), run_id));
    if (closed.next_run_id().empty()) return absl::OkStatus();
    run_id = closed.next_run_id();
    from = 1;
  }
}

::grpc::Status WorkflowServiceImpl::SignalWorkflow(::grpc::ServerContext* ctx, const v1::SignalWorkflowRequest* req,
                                                   v1::SignalWorkflowResponse* resp) {
  return Handle([&]() -> absl::Status {
    CANTDO_ASSIGN_OR_RETURN(Caller caller, guard_.Admit(*ctx, {Role::kOperator}));
    CANTDO_RETURN_IF_ERROR(ValidateWorkflowId(req->workflow_id(), "workflow_id", true));
    CANTDO_RETURN_IF_ERROR(ValidateRunId(req->run_id(), "run_id", false));
    CANTDO_RETURN_IF_ERROR(ValidateName(req->signal_name(), "signal_name", true));
    CANTDO_RETURN_IF_ERROR(RefuseReservedSignalName(req->signal_name(), "signal_name"));
    CANTDO_RETURN_IF_ERROR(ValidateKey(req->signal_id(), "signal_id", true));
    CANTDO_RETURN_IF_ERROR(ValidateAnySize(req->payload(), "payload", 1024 * 1024));
    workflow::SignalRequest signal;
    signal.workflow_id = req->workflow_id();
    signal.run_id = req->run_id();
    signal.signal_name = req->signal_name();
    signal.signal_id = req->signal_id();
    signal.payload = req->payload();
    signal.identity = caller.principal;
    CANTDO_ASSIGN_OR_RETURN(workflow::SignalResult result, pg::RunInTransaction(pool_, {}, [&](pg::Connection& tx) {
                              return workflows_.Signal(tx, signal);
                            }));
    resp->set_run_id(result.run_id);
    resp->set_event_id(result.event_id);
    resp->set_duplicate(result.duplicate);
    return absl::OkStatus();
  });
}

::grpc::Status WorkflowServiceImpl::CancelWorkflow(::grpc::ServerContext* ctx, const v1::CancelWorkflowRequest* req,
                                                   v1::CancelWorkflowResponse* resp) {
  return Handle([&]() -> absl::Status {
    CANTDO_ASSIGN_OR_RETURN(Caller caller, guard_.Admit(*ctx, {Role::kOperator}));
    CANTDO_RETURN_IF_ERROR(ValidateWorkflowId(req->workflow_id(), "workflow_id", true));
    CANTDO_RETURN_IF_ERROR(ValidateRunId(req->run_id(), "run_id", false));
    CANTDO_RETURN_IF_ERROR(ValidateText(req->reason(), "reason", true, 1024));
    CANTDO_RETURN_IF_ERROR(ValidateKey(req->request_id(), "request_id", false));
    CANTDO_RETURN_IF_ERROR(pg::RunInTransaction(pool_, {}, [&](pg::Connection& tx) -> absl::Status {
      CANTDO_RETURN_IF_ERROR(workflows_.Cancel(tx, req->workflow_id(), req->run_id(), req->reason(), caller.principal));
      CANTDO_ASSIGN_OR_RETURN(*resp->mutable_execution(), workflows_.Describe(tx, req->workflow_id(), req->run_id()));
      return absl::OkStatus();
    }));
    // The cancel is committed; now its grants. Repeated by every retry (the
    // cancel itself is then a no-op), so a failure here loses nothing.
    const std::string& run_id = resp->execution().run_id();
    auto revoked = run_grants_.RevokeAll(req->workflow_id(), run_id,
                                         absl::StrCat("workflow run cancelled: ", req->reason()), caller.principal);
    if (!revoked.ok()) {
      log::Warn("run cancelled, its grants not all revoked",
                {{"workflow_id", req->workflow_id()}, {"run_id", run_id}, {"error", revoked.status().ToString()}});
      absl::Status s = Unavailable("DEPENDENCY_UNAVAILABLE",
                                   absl::StrCat("the cancel is recorded but the run's grants could not all be revoked; "
                                                "retry CancelWorkflow: ",
                                                revoked.status().message()));
      s = WithMetadata(std::move(s), "dependency", "authority");
      return WithMetadata(std::move(s), "cancel_recorded", "true");
    }
    if (*revoked > 0) {
      log::Info("grants of a cancelled run revoked",
                {{"workflow_id", req->workflow_id()}, {"run_id", run_id}, {"grants", *revoked}});
    }
    return absl::OkStatus();
  });
}

}  // namespace cantdo::gateway
