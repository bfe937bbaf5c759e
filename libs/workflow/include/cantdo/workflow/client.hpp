#pragma once
// WorkflowClient: start, reject, signal, cancel, terminate and inspect runs.
// Admission is not here: only the authority admits a run, through the SQL
// function cantdo.workflow_admit (V0008), in the transaction that consumes
// the run's workflow.start grant.
//
// Every operation runs on a connection the caller holds INSIDE a
// transaction (pg::RunInTransaction), so callers make it atomic with their
// own writes: the authority signals a run in the transaction that records
// an approval. Operations fail FAILED_PRECONDITION when the
// connection is not in a transaction. Lock order: a run's row is locked
// first (SELECT ... FOR UPDATE), then its tasks; callers holding their own
// locks should take them consistently before or after.
//
// Errors carry cantdo.common.v1.ErrorReason names (cantdo::GetReason):
// WORKFLOW_NOT_FOUND, WORKFLOW_NOT_ADMITTED, WORKFLOW_ALREADY_CLOSED,
// WORKFLOW_ALREADY_EXISTS, IDEMPOTENCY_KEY_REUSED, INVALID_FIELD.
//
// Thread-safe (stateless apart from the clock).

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <google/protobuf/struct.pb.h>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "cantdo/base/clock.hpp"
#include "cantdo/base/ids.hpp"
#include "cantdo/common/v1/error_reason.pb.h"
#include "cantdo/pg/connection.hpp"
#include "cantdo/pg/listener.hpp"
#include "cantdo/workflow/coroutine.hpp"
#include "cantdo/workflow/v1/history.pb.h"

namespace cantdo::workflow {

struct StartRequest {
  std::string workflow_id;    // required
  std::string workflow_type;  // required
  std::string task_queue;     // required
  // Optional: the new run's id (a UUID), when the caller had to name the run
  // before creating it (the gateway binds it into the admission approval).
  // Empty: generated.
  std::string run_id;
  Payload input;
  // Idempotency key: a repeat with the same (workflow_id, request_id)
  // returns the first run instead of starting another.
  std::string request_id;
  std::string requester;
  std::string admission_approval_id;
  // true: create the run PENDING_ADMISSION with no task at all (what the
  // gateway does); cantdo.workflow_admit gives it its first workflow task.
  // false: RUNNING at once, which PostgreSQL refuses to every service role
  // (V0008); only the owner of the engine's tables (the migrating role: the
  // engine's own tests and benchmarks) may start a run without admission.
  bool pending_admission = false;
  // The parameters its admission approval is asked for (recorded in
  // WorkflowExecutionStarted; informational).
  google::protobuf::Struct parameters;
  google::protobuf::Struct memo;
  // The trace the run continues (W3C traceparent): its workflow tasks and
  // activities run under it. Empty or malformed: the calling thread's
  // current trace (cantdo/base/trace_context.hpp), if any.
  std::string traceparent;
};

struct StartResult {
  std::string run_id;
  // False when an earlier Start with the same request id created it.
  bool created = false;
  v1::WorkflowExecutionState state = v1::WORKFLOW_EXECUTION_STATE_UNSPECIFIED;
};

struct SignalRequest {
  std::string workflow_id;
  std::string run_id;  // empty: the open run (else the newest) of workflow_id
  std::string signal_name;
  std::string signal_id;  // de-duplication id, required
  Payload payload;
  std::string identity;
};

struct SignalResult {
  std::string run_id;
  int64_t event_id = 0;  // the SignalReceived event (the first one for a duplicate)
  bool duplicate = false;
};

struct ListRequest {
  std::string workflow_type;                       // empty: any
  std::vector<v1::WorkflowExecutionState> states;  // empty: any
  std::string workflow_id;                         // empty: any
  int page_size = 50;                              // 1..1000
  std::string page_token;                          // from ListPage
};

struct ListPage {
  std::vector<v1::WorkflowExecution> runs;  // newest first
  std::string next_page_token;              // empty: no more
};

// A run as the admission loop sees it: which approval gates it, and the
// trace its start began.
struct AdmissionRun {
  std::string workflow_id;
  std::string run_id;
  std::string admission_approval_id;
  v1::WorkflowExecutionState state = v1::WORKFLOW_EXECUTION_STATE_UNSPECIFIED;
  std::string traceparent;  // W3C traceparent; "" if none
};

struct HistoryPage {
  std::vector<v1::HistoryEvent> events;
  // Ask for this next (== last returned id + 1, or the requested id).
  int64_t next_event_id = 1;
  // The run is closed and every event was returned.
  bool complete = false;
};

class WorkflowClient {
 public:
  // REQUIRES: `clock` outlives the client.
  explicit WorkflowClient(Clock& clock, RandomSource& random = SecureRandom()) : clock_(clock), random_(random) {}

  absl::StatusOr<StartResult> Start(pg::Connection& conn, const StartRequest& request) const;

  // Closes a PENDING_ADMISSION run as REJECTED. Idempotent for a run already
  // REJECTED; a RUNNING run: FAILED_PRECONDITION (reason
  // WORKFLOW_ALREADY_EXISTS is wrong here, so none: it was admitted).
  absl::Status RejectAdmission(pg::Connection& conn, const std::string& workflow_id, const std::string& run_id,
                               common::v1::ErrorReason reason, const std::string& approval_id,
                               const std::string& message) const;

  // Appends SignalReceived and schedules a workflow task, in this
  // transaction. De-duplicated by signal_id per run. Runs through the
  // SECURITY DEFINER function cantdo.workflow_signal, so roles with only
  // EXECUTE on it (the authority) can signal; it records the delivering
  // login's service role (delivered_by) and refuses names under "cantdo."
  // from any login but the authority's (PERMISSION_DENIED).
  absl::StatusOr<SignalResult> Signal(pg::Connection& conn, const SignalRequest& request) const;

  // Requests cancellation: a RUNNING run gets WorkflowExecutionCancelRequested
  // and a workflow task (its code decides how to wind down); a
  // PENDING_ADMISSION run is closed CANCELLED at once. Repeats are no-ops.
  absl::Status Cancel(pg::Connection& conn, const std::string& workflow_id, const std::string& run_id,
                      const std::string& reason, const std::string& identity) const;

  // Closes an open run TERMINATED without running workflow code.
  absl::Status Terminate(pg::Connection& conn, const std::string& workflow_id, const std::string& run_id,
                         const std::string& reason, const std::string& identity) const;

  // The run `run_id` of `workflow_id`; with run_id empty, the open run of
  // workflow_id, else its newest. WORKFLOW_NOT_FOUND if there is none.
  absl::StatusOr<v1::WorkflowExecution> Describe(pg::Connection& conn, const std::string& workflow_id,
                                                 const std::string& run_id) const;

  // Serializes the caller's transaction with every Start of `workflow_id`
  // (the lock Start itself takes), so what the caller checks after it still
  // holds when its own Start runs in the same transaction.
  absl::Status LockWorkflowId(pg::Connection& conn, const std::string& workflow_id) const;

  // The first run started with `request_id` under any workflow id;
  // std::nullopt if none. (Start de-duplicates per workflow id and request
  // id; this is for callers whose request ids are global: the gateway.)
  absl::StatusOr<std::optional<v1::WorkflowExecution>> FindByRequestId(pg::Connection& conn,
                                                                       const std::string& request_id) const;

  // The run whose admission `approval_id` gates, if it is in one of
  // `states` (empty: any); std::nullopt otherwise. An approval gates one run
  // at most (its binding names the run).
  absl::StatusOr<std::optional<AdmissionRun>> FindByAdmissionApproval(
      pg::Connection& conn, const std::string& approval_id,
      const std::vector<v1::WorkflowExecutionState>& states) const;

  // Up to `limit` PENDING_ADMISSION runs that an approval gates, oldest
  // first.
  absl::StatusOr<std::vector<AdmissionRun>> PendingAdmissions(pg::Connection& conn, int limit) const;

  absl::StatusOr<ListPage> List(pg::Connection& conn, const ListRequest& request) const;

  // Events from `from_event_id` (>= 1), at most `max_events`.
  // HISTORY_EVENT_OUT_OF_RANGE when the run is closed and from_event_id is
  // beyond its last event + 1.
  absl::StatusOr<HistoryPage> History(pg::Connection& conn, const std::string& run_id, int64_t from_event_id,
                                      int max_events = 100) const;

 private:
  Clock& clock_;
  RandomSource& random_;
};

// Follows one run's history as it is committed: LISTEN cantdo_workflow_events
// (payload = run id) as a wake-up, then reads the table, so delivery is in
// order, without gaps or duplicates, and resumable from any event id.
// Not thread-safe.
class HistoryWatcher {
 public:
  static absl::StatusOr<std::unique_ptr<HistoryWatcher>> Create(const std::string& dsn, std::string run_id,
                                                                int64_t from_event_id);

  // Events committed since the last call (starting at from_event_id); waits
  // until at least one exists or `deadline` passes (then an empty vector).
  // After the run closed and everything was delivered, `complete` is set.
  absl::StatusOr<HistoryPage> Next(absl::Time deadline);

 private:
  HistoryWatcher(std::unique_ptr<pg::Listener> listener, std::unique_ptr<pg::Connection> reader, std::string run_id,
                 int64_t from)
      : listener_(std::move(listener)), reader_(std::move(reader)), run_id_(std::move(run_id)), next_(from) {}
  std::unique_ptr<pg::Listener> listener_;
  std::unique_ptr<pg::Connection> reader_;
  std::string run_id_;
  int64_t next_;
};

}  // namespace cantdo::workflow
