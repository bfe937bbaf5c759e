#include "cantdo/workflow/replayer.hpp"

#include <deque>
#include <map>
#include <optional>
#include <utility>

#include <google/protobuf/timestamp.pb.h>
#include <google/protobuf/util/time_util.h>
#include <google/protobuf/wrappers.pb.h>

#include "absl/strings/str_cat.h"
#include "cantdo/base/status.hpp"
#include "cantdo/workflow/failure.hpp"
#include "time_util.hpp"

namespace cantdo::workflow {

using v1::HistoryEvent;

namespace {

absl::Status NonDeterminism(int64_t event_id, const std::string& expected, const std::string& produced) {
  absl::Status s =
      absl::FailedPreconditionError(absl::StrCat("non-deterministic workflow at event ", event_id, ": history has ",
                                                 expected, ", workflow code produced ", produced));
  s = WithReason(std::move(s), "NON_DETERMINISM");
  s = WithMetadata(std::move(s), "event_id", absl::StrCat(event_id));
  s = WithMetadata(std::move(s), "expected", expected);
  return WithMetadata(std::move(s), "produced", produced);
}

bool IsInput(const HistoryEvent& e) {
  switch (e.attributes_case()) {
    case HistoryEvent::kWorkflowExecutionStarted:
    case HistoryEvent::kActivityTaskCompleted:
    case HistoryEvent::kActivityTaskFailed:
    case HistoryEvent::kActivityTaskTimedOut:
    case HistoryEvent::kTimerFired:
    case HistoryEvent::kSignalReceived:
    case HistoryEvent::kWorkflowExecutionCancelRequested:
      return true;
    default:
      return false;
  }
}

bool IsCommand(const HistoryEvent& e) {
  switch (e.attributes_case()) {
    case HistoryEvent::kActivityTaskScheduled:
    case HistoryEvent::kTimerStarted:
    case HistoryEvent::kTimerCancelled:
    case HistoryEvent::kMarkerRecorded:
    case HistoryEvent::kWorkflowExecutionCompleted:
    case HistoryEvent::kWorkflowExecutionFailed:
    case HistoryEvent::kWorkflowExecutionCancelled:
    case HistoryEvent::kWorkflowExecutionContinuedAsNew:
      return true;
    default:
      return false;
  }
}

// The attributes that must agree between a recorded command and a produced
// one. Inputs (payloads) may differ: changing an activity's argument is not
// a change of control flow.
bool SameCommand(const HistoryEvent& a, const HistoryEvent& b) {
  if (a.attributes_case() != b.attributes_case()) return false;
  switch (a.attributes_case()) {
    case HistoryEvent::kActivityTaskScheduled:
      return a.activity_task_scheduled().activity_type() == b.activity_task_scheduled().activity_type() &&
             a.activity_task_scheduled().activity_id() == b.activity_task_scheduled().activity_id();
    case HistoryEvent::kTimerStarted:
      return a.timer_started().timer_id() == b.timer_started().timer_id();
    case HistoryEvent::kTimerCancelled:
      return a.timer_cancelled().timer_id() == b.timer_cancelled().timer_id();
    case HistoryEvent::kMarkerRecorded:
      return a.marker_recorded().marker_name() == b.marker_recorded().marker_name() &&
             a.marker_recorded().marker_id() == b.marker_recorded().marker_id();
    default:
      return true;
  }
}

}  // namespace

std::string DescribeEvent(const HistoryEvent& e) {
  switch (e.attributes_case()) {
    case HistoryEvent::kActivityTaskScheduled:
      return absl::StrCat("ActivityTaskScheduled(type=", e.activity_task_scheduled().activity_type(),
                          ", id=", e.activity_task_scheduled().activity_id(), ")");
    case HistoryEvent::kTimerStarted:
      return absl::StrCat("TimerStarted(id=", e.timer_started().timer_id(), ")");
    case HistoryEvent::kTimerCancelled:
      return absl::StrCat("TimerCancelled(id=", e.timer_cancelled().timer_id(), ")");
    case HistoryEvent::kMarkerRecorded:
      return absl::StrCat("MarkerRecorded(name=", e.marker_recorded().marker_name(),
                          ", id=", e.marker_recorded().marker_id(), ")");
    case HistoryEvent::kWorkflowExecutionCompleted:
      return "WorkflowExecutionCompleted";
    case HistoryEvent::kWorkflowExecutionFailed:
      return "WorkflowExecutionFailed";
    case HistoryEvent::kWorkflowExecutionCancelled:
      return "WorkflowExecutionCancelled";
    case HistoryEvent::kWorkflowExecutionContinuedAsNew:
      return "WorkflowExecutionContinuedAsNew";
    case HistoryEvent::kWorkflowTaskStarted:
      return "WorkflowTaskStarted";
    default:
      return v1::EventType_Name(e.event_type());
  }
}

namespace internal {

// Everything one run's code can observe, plus the bookkeeping to replay it.
class RunState {
 public:
  RunState(RunInfo info, const WorkflowFunction& fn, RandomSource& random, int64_t warn_events)
      : info_(std::move(info)), fn_(fn), random_(random), warn_events_(warn_events), ctx_(this) {}

  ~RunState() {
    // Destroy the coroutine frames before the futures they wait on.
    ready_.Clear();
    root_.reset();
  }

  // ---- driven by Replayer ----

  absl::Status Apply(const std::vector<HistoryEvent>& events) {
    if (!live_commands_.empty()) return absl::FailedPreconditionError("Accept() was not called after RunLive()");
    // Look-ahead: markers of this batch are recorded after the task that
    // produced them, but the code asks for their values while running it.
    for (const HistoryEvent& e : events) {
      if (e.has_marker_recorded()) {
        recorded_markers_[{e.marker_recorded().marker_name(), e.marker_recorded().marker_id()}] =
            e.marker_recorded().details();
      }
    }
    for (const HistoryEvent& e : events) {
      if (e.event_id() != last_event_id_ + 1) {
        return absl::InvalidArgumentError(
            absl::StrCat("history gap: expected event ", last_event_id_ + 1, ", got ", e.event_id()));
      }
      last_event_id_ = e.event_id();
      if (IsInput(e)) {
        pending_inputs_.push_back(e);
      } else if (e.has_workflow_task_started()) {
        if (!commands_.empty()) {
          return NonDeterminism(e.event_id(), "WorkflowTaskStarted (no further commands)",
                                DescribeEvent(commands_.front().event));
        }
        CANTDO_RETURN_IF_ERROR(RunTask(FromProto(e.event_time()), e.event_id(), /*replaying=*/true));
      } else if (IsCommand(e)) {
        CANTDO_RETURN_IF_ERROR(MatchCommand(e));
      } else if (e.has_workflow_execution_terminated() || e.has_workflow_execution_timed_out() ||
                 e.has_workflow_execution_admission_rejected()) {
        closed_ = true;
      } else if (e.has_workflow_execution_admitted() && !admitted_.has_value()) {
        admitted_ = e.workflow_execution_admitted();
      }
      // WorkflowTaskScheduled/Completed/Failed and ActivityTaskStarted carry
      // no information for the code.
    }
    return absl::OkStatus();
  }

  absl::StatusOr<std::vector<HistoryEvent>> RunLive(absl::Time now, int64_t started_event_id) {
    if (!commands_.empty()) {
      return NonDeterminism(last_event_id_ + 1, "end of history (no further commands)",
                            DescribeEvent(commands_.front().event));
    }
    CANTDO_RETURN_IF_ERROR(RunTask(now, started_event_id, /*replaying=*/false));
    std::vector<HistoryEvent> out;
    for (auto& c : commands_) out.push_back(c.event);
    live_commands_ = std::move(commands_);
    commands_.clear();
    return out;
  }

  absl::Status Accept(const std::vector<HistoryEvent>& batch) {
    for (const HistoryEvent& e : batch) {
      if (e.event_id() != last_event_id_ + 1) {
        return absl::InvalidArgumentError(absl::StrCat("accepted batch gap at event ", e.event_id()));
      }
      last_event_id_ = e.event_id();
      if (!IsCommand(e)) continue;
      if (live_commands_.empty() || !SameCommand(live_commands_.front().event, e)) {
        return absl::InternalError(
            absl::StrCat("accepted batch does not hold the live commands at event ", e.event_id()));
      }
      Bind(e, live_commands_.front());
      live_commands_.pop_front();
    }
    if (!live_commands_.empty()) return absl::InternalError("accepted batch lacks live commands");
    return absl::OkStatus();
  }

  int64_t last_event_id() const { return last_event_id_; }
  bool closed() const { return closed_; }
  bool has_pending_inputs() const { return !pending_inputs_.empty(); }

  // ---- used by WorkflowContext ----

  const RunInfo& info() const { return info_; }
  const std::string& requester() const { return requester_; }
  // The run's own admission record wins over one its Started event carries
  // (set only by continue-as-new, which writes no record of its own).
  const v1::WorkflowExecutionAdmittedEventAttributes* admission() const {
    if (admitted_.has_value()) return &*admitted_;
    if (carried_admission_.has_value()) return &*carried_admission_;
    return nullptr;
  }
  absl::Time now() const { return now_; }
  bool cancel_requested() const { return cancel_requested_; }
  int64_t history_length() const { return history_length_; }
  bool continue_as_new_suggested() const { return history_length_ >= warn_events_; }

  Future ExecuteActivity(absl::string_view type, const Payload& input, const ActivityOptions& o) {
    if (cancel_requested_) return Resolved(absl::CancelledError("workflow cancellation requested"));
    HistoryEvent cmd;
    cmd.set_event_type(v1::EVENT_TYPE_ACTIVITY_TASK_SCHEDULED);
    auto* a = cmd.mutable_activity_task_scheduled();
    a->set_activity_id(absl::StrCat(++activity_seq_));
    a->set_activity_type(std::string(type));
    *a->mutable_input() = input;
    a->set_task_queue(o.task_queue.empty() ? info_.task_queue : o.task_queue);
    auto* rp = a->mutable_retry_policy();
    *rp->mutable_initial_interval() = ToProto(o.initial_interval);
    rp->set_backoff_coefficient(o.backoff_coefficient);
    *rp->mutable_maximum_interval() =
        ToProto(o.maximum_interval > absl::ZeroDuration() ? o.maximum_interval : o.initial_interval * 100);
    rp->set_maximum_attempts(o.maximum_attempts);
    for (const auto& t : o.non_retryable_error_types) rp->add_non_retryable_error_types(t);
    if (o.schedule_to_close_timeout > absl::ZeroDuration()) {
      *a->mutable_schedule_to_close_timeout() = ToProto(o.schedule_to_close_timeout);
    }
    *a->mutable_start_to_close_timeout() = ToProto(o.start_to_close_timeout);
    if (o.heartbeat_timeout > absl::ZeroDuration()) *a->mutable_heartbeat_timeout() = ToProto(o.heartbeat_timeout);
    a->set_idempotency_key(absl::StrCat(info_.workflow_id, "/", info_.run_id, "/", a->activity_id()));
    auto fut = NewFuture();
    cancellable_.push_back(fut);
    commands_.push_back({std::move(cmd), fut});
    return Future(fut);
  }

  Future StartTimer(absl::Duration d, std::shared_ptr<FutureState> linked = nullptr) {
    if (cancel_requested_) return Resolved(absl::CancelledError("workflow cancellation requested"));
    auto fut = NewFuture();
    if (d <= absl::ZeroDuration()) {
      fut->Resolve(Payload());
      return Future(fut);
    }
    HistoryEvent cmd;
    cmd.set_event_type(v1::EVENT_TYPE_TIMER_STARTED);
    auto* t = cmd.mutable_timer_started();
    t->set_timer_id(absl::StrCat("t", ++timer_seq_));
    *t->mutable_start_to_fire_timeout() = ToProto(d);
    *t->mutable_fire_time() = ToProto(now_ + d);
    timers_[t->timer_id()] = {fut, std::move(linked)};
    cancellable_.push_back(fut);
    commands_.push_back({std::move(cmd), nullptr});
    return Future(fut);
  }

  // `whole`: resolve with the packed SignalReceivedEventAttributes, else
  // with its payload.
  Future WaitSignal(absl::string_view name, std::optional<absl::Duration> timeout, bool whole) {
    auto& buffered = signal_buffer_[std::string(name)];
    if (!buffered.empty()) {
      Result r = SignalResult(buffered.front(), whole);
      buffered.pop_front();
      return Resolved(std::move(r));
    }
    if (cancel_requested_) return Resolved(absl::CancelledError("workflow cancellation requested"));
    auto fut = NewFuture();
    signal_waiters_[std::string(name)].push_back({fut, whole});
    cancellable_.push_back(fut);
    if (timeout.has_value()) StartTimer(*timeout, fut);
    return Future(fut);
  }

  absl::StatusOr<Payload> Marker(absl::string_view name, const std::string& id, const Payload& live_value) {
    Payload value = live_value;
    auto it = recorded_markers_.find({std::string(name), id});
    if (it != recorded_markers_.end()) value = it->second;
    HistoryEvent cmd;
    cmd.set_event_type(v1::EVENT_TYPE_MARKER_RECORDED);
    auto* m = cmd.mutable_marker_recorded();
    m->set_marker_name(std::string(name));
    m->set_marker_id(id);
    *m->mutable_details() = value;
    commands_.push_back({std::move(cmd), nullptr});
    return value;
  }

  std::string NewUuid() {
    google::protobuf::StringValue v;
    v.set_value(cantdo::NewUuid(random_));
    Payload any;
    any.PackFrom(v);
    auto got = Marker("uuid", absl::StrCat(++uuid_seq_), any);
    google::protobuf::StringValue out;
    if (got.ok()) got->UnpackTo(&out);
    return out.value();
  }

  uint64_t Random() {
    uint64_t r = 0;
    random_.Fill(std::span<uint8_t>(reinterpret_cast<uint8_t*>(&r), sizeof(r)));
    google::protobuf::UInt64Value v;
    v.set_value(r);
    Payload any;
    any.PackFrom(v);
    auto got = Marker("random", absl::StrCat(++random_seq_), any);
    google::protobuf::UInt64Value out;
    if (got.ok()) got->UnpackTo(&out);
    return out.value();
  }

  int GetVersion(absl::string_view change_id, int min_supported, int max_supported) {
    auto cached = versions_.find(std::string(change_id));
    if (cached != versions_.end()) return cached->second;
    int version;
    auto it = recorded_markers_.find({"version", std::string(change_id)});
    if (it != recorded_markers_.end()) {
      google::protobuf::Int64Value v;
      it->second.UnpackTo(&v);
      version = static_cast<int>(v.value());
      Marker("version", std::string(change_id), it->second).IgnoreError();
    } else if (replaying_) {
      // This run passed here before the change existed.
      version = kDefaultVersion;
    } else {
      version = max_supported;
      google::protobuf::Int64Value v;
      v.set_value(version);
      Payload any;
      any.PackFrom(v);
      Marker("version", std::string(change_id), any).IgnoreError();
    }
    if (version < min_supported || version > max_supported) {
      if (code_error_.ok()) {
        code_error_ = NonDeterminism(last_event_id_, absl::StrCat("version ", version, " of change ", change_id),
                                     absl::StrCat("code supporting versions ", min_supported, "..", max_supported));
      }
    }
    versions_[std::string(change_id)] = version;
    return version;
  }

  absl::Status ContinueAsNew(const Payload& input) {
    continue_as_new_input_ = input;
    return absl::AbortedError("continue-as-new");
  }

 private:
  struct Command {
    HistoryEvent event;
    std::shared_ptr<FutureState> future;  // activities only
  };
  struct Timer {
    std::shared_ptr<FutureState> future;
    std::shared_ptr<FutureState> linked;  // a WaitSignal this timer times out
  };
  struct SignalWaiter {
    std::shared_ptr<FutureState> future;
    bool whole;  // ReceiveSignal: the whole signal, not only its payload
  };

  static Result SignalResult(const v1::SignalReceivedEventAttributes& s, bool whole) {
    if (!whole) return s.payload();
    Payload any;
    any.PackFrom(s);
    return any;
  }

  std::shared_ptr<FutureState> NewFuture() {
    auto f = std::make_shared<FutureState>();
    f->ready = &ready_;
    return f;
  }
  Future Resolved(Result r) {
    auto f = NewFuture();
    f->Resolve(std::move(r));
    return Future(f);
  }

  absl::Status RunTask(absl::Time now, int64_t started_event_id, bool replaying) {
    now_ = now;
    replaying_ = replaying;
    history_length_ = started_event_id - 1;
    std::vector<HistoryEvent> inputs = std::move(pending_inputs_);
    pending_inputs_.clear();
    for (const HistoryEvent& e : inputs) {
      ApplyInput(e);
      try {
        ready_.Drain();
      } catch (...) {
        return WithReason(absl::InternalError("workflow code threw an exception"), "WORKFLOW_PANIC");
      }
      CANTDO_RETURN_IF_ERROR(code_error_);
      CANTDO_RETURN_IF_ERROR(MaybeClose());
    }
    return absl::OkStatus();
  }

  void ApplyInput(const HistoryEvent& e) {
    switch (e.attributes_case()) {
      case HistoryEvent::kWorkflowExecutionStarted: {
        if (root_.has_value()) return;
        input_ = e.workflow_execution_started().input();
        requester_ = e.workflow_execution_started().requester();
        if (e.workflow_execution_started().has_admission()) {
          carried_admission_ = e.workflow_execution_started().admission();
        }
        root_.emplace(fn_(ctx_, input_));
        // Start it through the ready queue so exceptions surface in Drain.
        auto w = std::make_shared<Waiter>(Waiter{root_->handle(), false});
        ready_.Push(w);
        return;
      }
      case HistoryEvent::kActivityTaskCompleted: {
        auto it = activities_.find(e.activity_task_completed().scheduled_event_id());
        if (it != activities_.end()) it->second->Resolve(e.activity_task_completed().result());
        return;
      }
      case HistoryEvent::kActivityTaskFailed: {
        auto it = activities_.find(e.activity_task_failed().scheduled_event_id());
        if (it != activities_.end()) it->second->Resolve(StatusFromFailure(e.activity_task_failed().failure()));
        return;
      }
      case HistoryEvent::kActivityTaskTimedOut: {
        auto it = activities_.find(e.activity_task_timed_out().scheduled_event_id());
        if (it != activities_.end()) {
          it->second->Resolve(absl::DeadlineExceededError(absl::StrCat(
              "activity timed out (", v1::TimeoutKind_Name(e.activity_task_timed_out().timeout_kind()), ")")));
        }
        return;
      }
      case HistoryEvent::kTimerFired: {
        auto it = timers_.find(e.timer_fired().timer_id());
        if (it == timers_.end()) return;
        it->second.future->Resolve(Payload());
        if (it->second.linked) it->second.linked->Resolve(absl::DeadlineExceededError("signal wait timed out"));
        timers_.erase(it);
        return;
      }
      case HistoryEvent::kSignalReceived: {
        const auto& s = e.signal_received();
        auto& waiters = signal_waiters_[s.signal_name()];
        while (!waiters.empty() && waiters.front().future->result.has_value()) waiters.pop_front();  // timed out
        if (!waiters.empty()) {
          waiters.front().future->Resolve(SignalResult(s, waiters.front().whole));
          waiters.pop_front();
        } else {
          signal_buffer_[s.signal_name()].push_back(s);
        }
        return;
      }
      case HistoryEvent::kWorkflowExecutionCancelRequested: {
        if (cancel_requested_) return;
        cancel_requested_ = true;
        for (auto& f : cancellable_) f->Resolve(absl::CancelledError("workflow cancellation requested"));
        cancellable_.clear();
        return;
      }
      default:
        return;
    }
  }

  // Turns the finished root coroutine into its close command.
  absl::Status MaybeClose() {
    if (closed_ || !root_.has_value() || !root_->done()) return absl::OkStatus();
    auto& promise = root_->handle().promise();
    if (promise.exception) {
      return WithReason(absl::InternalError("workflow code threw an exception"), "WORKFLOW_PANIC");
    }
    Result result = std::move(*promise.value);
    HistoryEvent cmd;
    if (continue_as_new_input_.has_value()) {
      cmd.set_event_type(v1::EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW);
      auto* c = cmd.mutable_workflow_execution_continued_as_new();
      c->set_workflow_type(info_.workflow_type);
      c->set_task_queue(info_.task_queue);
      *c->mutable_input() = *continue_as_new_input_;
      if (const auto* admitted = admission()) *c->mutable_admission() = *admitted;
    } else if (result.ok()) {
      cmd.set_event_type(v1::EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED);
      *cmd.mutable_workflow_execution_completed()->mutable_result() = *result;
    } else if (absl::IsCancelled(result.status()) && cancel_requested_) {
      cmd.set_event_type(v1::EVENT_TYPE_WORKFLOW_EXECUTION_CANCELLED);
      cmd.mutable_workflow_execution_cancelled();
    } else {
      cmd.set_event_type(v1::EVENT_TYPE_WORKFLOW_EXECUTION_FAILED);
      *cmd.mutable_workflow_execution_failed()->mutable_failure() = FailureFromStatus(result.status(), "workflow");
    }
    commands_.push_back({std::move(cmd), nullptr});
    closed_ = true;
    return absl::OkStatus();
  }

  absl::Status MatchCommand(const HistoryEvent& e) {
    if (commands_.empty()) return NonDeterminism(e.event_id(), DescribeEvent(e), "no command");
    Command c = std::move(commands_.front());
    commands_.pop_front();
    if (!SameCommand(c.event, e)) return NonDeterminism(e.event_id(), DescribeEvent(e), DescribeEvent(c.event));
    Bind(e, c);
    if (e.has_workflow_execution_completed() || e.has_workflow_execution_failed() ||
        e.has_workflow_execution_cancelled() || e.has_workflow_execution_continued_as_new()) {
      closed_ = true;
    }
    return absl::OkStatus();
  }

  void Bind(const HistoryEvent& e, const Command& c) {
    if (e.has_activity_task_scheduled() && c.future) activities_[e.event_id()] = c.future;
  }

  const RunInfo info_;
  const WorkflowFunction& fn_;
  RandomSource& random_;
  const int64_t warn_events_;
  WorkflowContext ctx_;

  ReadyQueue ready_;
  Payload input_;
  std::string requester_;
  std::optional<v1::WorkflowExecutionAdmittedEventAttributes> admitted_;           // the first Admitted event
  std::optional<v1::WorkflowExecutionAdmittedEventAttributes> carried_admission_;  // Started.admission
  std::optional<Task<Result>> root_;
  int64_t last_event_id_ = 0;
  int64_t history_length_ = 0;
  absl::Time now_ = absl::UnixEpoch();
  bool replaying_ = true;
  bool closed_ = false;
  bool cancel_requested_ = false;
  absl::Status code_error_;
  std::optional<Payload> continue_as_new_input_;

  std::vector<HistoryEvent> pending_inputs_;
  std::deque<Command> commands_;       // issued, not yet matched/recorded
  std::deque<Command> live_commands_;  // returned by RunLive, awaiting Accept
  std::map<std::pair<std::string, std::string>, Payload> recorded_markers_;
  std::map<std::string, int> versions_;
  std::map<int64_t, std::shared_ptr<FutureState>> activities_;  // by scheduled event id
  std::map<std::string, Timer> timers_;
  std::map<std::string, std::deque<v1::SignalReceivedEventAttributes>> signal_buffer_;
  std::map<std::string, std::deque<SignalWaiter>> signal_waiters_;
  std::vector<std::shared_ptr<FutureState>> cancellable_;
  int64_t activity_seq_ = 0;
  int64_t timer_seq_ = 0;
  int64_t uuid_seq_ = 0;
  int64_t random_seq_ = 0;
};

}  // namespace internal

// ---- WorkflowContext ----

const std::string& WorkflowContext::workflow_id() const { return state_->info().workflow_id; }
const std::string& WorkflowContext::run_id() const { return state_->info().run_id; }
const std::string& WorkflowContext::workflow_type() const { return state_->info().workflow_type; }
const std::string& WorkflowContext::task_queue() const { return state_->info().task_queue; }
const std::string& WorkflowContext::requester() const { return state_->requester(); }
const v1::WorkflowExecutionAdmittedEventAttributes* WorkflowContext::admission() const { return state_->admission(); }
Future WorkflowContext::ExecuteActivity(absl::string_view type, const Payload& input, const ActivityOptions& o) {
  return state_->ExecuteActivity(type, input, o);
}
Future WorkflowContext::ExecuteActivity(absl::string_view type, const Payload& input) {
  static const ActivityOptions kDefaults;
  return state_->ExecuteActivity(type, input, kDefaults);
}
Future WorkflowContext::WaitSignal(absl::string_view name) { return state_->WaitSignal(name, std::nullopt, false); }
Future WorkflowContext::Sleep(absl::Duration d) { return state_->StartTimer(d); }
Future WorkflowContext::WaitSignal(absl::string_view name, std::optional<absl::Duration> timeout) {
  return state_->WaitSignal(name, timeout, false);
}
Future WorkflowContext::ReceiveSignal(absl::string_view name, std::optional<absl::Duration> timeout) {
  return state_->WaitSignal(name, timeout, true);
}
absl::Time WorkflowContext::Now() const { return state_->now(); }
std::string WorkflowContext::NewUuid() { return state_->NewUuid(); }
uint64_t WorkflowContext::Random() { return state_->Random(); }
int WorkflowContext::GetVersion(absl::string_view change_id, int min_supported, int max_supported) {
  return state_->GetVersion(change_id, min_supported, max_supported);
}
bool WorkflowContext::IsCancelRequested() const { return state_->cancel_requested(); }
absl::Status WorkflowContext::ContinueAsNew(const Payload& input) { return state_->ContinueAsNew(input); }
int64_t WorkflowContext::HistoryLength() const { return state_->history_length(); }
bool WorkflowContext::IsContinueAsNewSuggested() const { return state_->continue_as_new_suggested(); }

// ---- Replayer ----

Replayer::Replayer(RunInfo info, const WorkflowFunction& fn, RandomSource& random, int64_t warn_events)
    : state_(std::make_unique<internal::RunState>(std::move(info), fn, random, warn_events)) {}
Replayer::~Replayer() = default;
absl::Status Replayer::Apply(const std::vector<HistoryEvent>& events) { return state_->Apply(events); }
absl::StatusOr<std::vector<HistoryEvent>> Replayer::RunLive(absl::Time now, int64_t started_event_id) {
  return state_->RunLive(now, started_event_id);
}
absl::Status Replayer::Accept(const std::vector<HistoryEvent>& batch) { return state_->Accept(batch); }
int64_t Replayer::last_event_id() const { return state_->last_event_id(); }
bool Replayer::closed() const { return state_->closed(); }
bool Replayer::has_pending_inputs() const { return state_->has_pending_inputs(); }

}  // namespace cantdo::workflow
