// Replay: recorded histories replay to the same commands; a changed workflow
// is reported as non-deterministic at the right event; GetVersion lets old
// and new runs coexist. Histories are recorded here by driving a Replayer
// live (the same procedure the worker uses) and simulating results.

#include <catch2/catch.hpp>

#include "cantdo/base/status.hpp"
#include "cantdo/workflow/payload.hpp"
#include "cantdo/workflow/replayer.hpp"

namespace {

using namespace cantdo::workflow;
using cantdo::workflow::v1::HistoryEvent;

class FixedRandom : public cantdo::RandomSource {
 public:
  void Fill(std::span<std::uint8_t> out) override {
    for (auto& b : out) b = static_cast<std::uint8_t>(n_++);
  }

 private:
  int n_ = 1;
};

const absl::Time kT0 = absl::FromUnixSeconds(1'700'000'000);

HistoryEvent Ev(int64_t id, v1::EventType type) {
  HistoryEvent e;
  e.set_event_id(id);
  e.set_event_type(type);
  e.mutable_event_time()->set_seconds(absl::ToUnixSeconds(kT0) + id);
  return e;
}

// One workflow task run live and recorded as the worker records it:
// WorkflowTaskStarted, WorkflowTaskCompleted, then the commands. Returns
// the commands, with their event ids.
std::vector<HistoryEvent> RecordTask(Replayer& r, std::vector<HistoryEvent>& history) {
  int64_t id = static_cast<int64_t>(history.size()) + 1;
  auto cmds = r.RunLive(kT0 + absl::Seconds(id), id);
  REQUIRE(cmds.ok());
  std::vector<HistoryEvent> batch;
  HistoryEvent st = Ev(id++, v1::EVENT_TYPE_WORKFLOW_TASK_STARTED);
  st.mutable_workflow_task_started();
  batch.push_back(st);
  HistoryEvent done = Ev(id++, v1::EVENT_TYPE_WORKFLOW_TASK_COMPLETED);
  done.mutable_workflow_task_completed();
  batch.push_back(done);
  std::vector<HistoryEvent> out;
  for (auto c : *cmds) {
    c.set_event_id(id++);
    batch.push_back(c);
    out.push_back(c);
  }
  REQUIRE(r.Accept(batch).ok());
  history.insert(history.end(), batch.begin(), batch.end());
  return out;
}

// Records a history by running `fn` live, completing every scheduled
// activity with its input echoed back, one workflow task per result.
std::vector<HistoryEvent> Record(const WorkflowFunction& fn) {
  FixedRandom random;
  Replayer r(RunInfo{"wf-1", "00000000-0000-0000-0000-000000000001", "t", "q"}, fn, random);
  std::vector<HistoryEvent> history;
  HistoryEvent start = Ev(1, v1::EVENT_TYPE_WORKFLOW_EXECUTION_STARTED);
  *start.mutable_workflow_execution_started()->mutable_input() = PackString("in");
  history.push_back(start);
  REQUIRE(r.Apply({start}).ok());
  for (int task = 0; task < 20 && !r.closed(); ++task) {
    const std::vector<HistoryEvent> commands = RecordTask(r, history);
    int64_t id = static_cast<int64_t>(history.size()) + 1;
    std::vector<HistoryEvent> inputs;
    for (const auto& c : commands) {
      if (c.has_activity_task_scheduled()) {
        HistoryEvent res = Ev(id++, v1::EVENT_TYPE_ACTIVITY_TASK_COMPLETED);
        res.mutable_activity_task_completed()->set_scheduled_event_id(c.event_id());
        *res.mutable_activity_task_completed()->mutable_result() = c.activity_task_scheduled().input();
        inputs.push_back(res);
      }
    }
    if (inputs.empty()) break;
    REQUIRE(r.Apply(inputs).ok());
    history.insert(history.end(), inputs.begin(), inputs.end());
  }
  return history;
}

Task<Result> ThreeSteps(WorkflowContext& ctx, const Payload& input) {
  Result a = co_await ctx.ExecuteActivity("a", input);
  if (!a.ok()) co_return a;
  Result b = co_await ctx.ExecuteActivity("b", *a);
  if (!b.ok()) co_return b;
  co_return co_await ctx.ExecuteActivity("c", *b);
}

// The same workflow with step b replaced: non-deterministic for old runs.
Task<Result> ThreeStepsChanged(WorkflowContext& ctx, const Payload& input) {
  Result a = co_await ctx.ExecuteActivity("a", input);
  if (!a.ok()) co_return a;
  Result b = co_await ctx.ExecuteActivity("b2", *a);
  if (!b.ok()) co_return b;
  co_return co_await ctx.ExecuteActivity("c", *b);
}

// The same change behind GetVersion: old runs keep "b", new runs use "b2".
Task<Result> ThreeStepsVersioned(WorkflowContext& ctx, const Payload& input) {
  Result a = co_await ctx.ExecuteActivity("a", input);
  if (!a.ok()) co_return a;
  int v = ctx.GetVersion("use-b2", kDefaultVersion, 1);
  Result b = co_await ctx.ExecuteActivity(v == 1 ? "b2" : "b", *a);
  if (!b.ok()) co_return b;
  co_return co_await ctx.ExecuteActivity("c", *b);
}

absl::Status Replay(const WorkflowFunction& fn, const std::vector<HistoryEvent>& history) {
  FixedRandom random;
  Replayer r(RunInfo{"wf-1", "00000000-0000-0000-0000-000000000001", "t", "q"}, fn, random);
  absl::Status s = r.Apply(history);
  if (!s.ok()) return s;
  auto more = r.RunLive(kT0 + absl::Hours(1), static_cast<int64_t>(history.size()) + 1);
  if (!more.ok()) return more.status();
  if (!more->empty()) return absl::InternalError("replay of a closed history produced new commands");
  return absl::OkStatus();
}

int64_t FirstEventOf(const std::vector<HistoryEvent>& h, const std::string& activity_type) {
  for (const auto& e : h) {
    if (e.has_activity_task_scheduled() && e.activity_task_scheduled().activity_type() == activity_type) {
      return e.event_id();
    }
  }
  return -1;
}

}  // namespace

TEST_CASE("A recorded history replays to the same commands", "[unit][workflow]") {
  WorkflowFunction fn = ThreeSteps;
  auto history = Record(fn);
  REQUIRE(history.back().has_workflow_execution_completed());
  CHECK(Replay(fn, history).ok());
}

TEST_CASE("A changed workflow is non-deterministic at the event that differs", "[unit][workflow]") {
  WorkflowFunction old_fn = ThreeSteps;
  WorkflowFunction new_fn = ThreeStepsChanged;
  auto history = Record(old_fn);
  absl::Status s = Replay(new_fn, history);
  REQUIRE(cantdo::GetReason(s) == "NON_DETERMINISM");
  auto md = cantdo::GetMetadata(s);
  CHECK(md["event_id"] == std::to_string(FirstEventOf(history, "b")));
  CHECK(md["expected"] == "ActivityTaskScheduled(type=b, id=2)");
  CHECK(md["produced"] == "ActivityTaskScheduled(type=b2, id=2)");
}

TEST_CASE("GetVersion lets runs recorded before and after a change coexist", "[unit][workflow]") {
  WorkflowFunction old_fn = ThreeSteps;
  WorkflowFunction versioned = ThreeStepsVersioned;
  auto old_history = Record(old_fn);
  auto new_history = Record(versioned);
  CHECK(FirstEventOf(new_history, "b2") > 0);
  CHECK(FirstEventOf(new_history, "b") < 0);
  // Old runs replay on the old branch, new runs on the new one.
  CHECK(Replay(versioned, old_history).ok());
  CHECK(Replay(versioned, new_history).ok());
  // Without the version check the new history is not replayable by old code.
  CHECK(cantdo::GetReason(Replay(old_fn, new_history)) == "NON_DETERMINISM");
}

namespace {

std::string CompletedResult(const std::vector<HistoryEvent>& commands) {
  for (const auto& c : commands) {
    if (c.has_workflow_execution_completed()) {
      auto s = Unpack<google::protobuf::StringValue>(c.workflow_execution_completed().result());
      REQUIRE(s.ok());
      return s->value();
    }
  }
  FAIL("no WorkflowExecutionCompleted command");
  return "";
}

// A UUID, a signal that arrived before the wait for it, and a wait that
// times out: "<uuid> <the signal's payload>".
Task<Result> BufferedThenTimeout(WorkflowContext& ctx, const Payload&) {
  const std::string id = ctx.NewUuid();
  Result go = co_await ctx.WaitSignal("go", absl::Hours(1));
  if (!go.ok()) co_return go.status();
  auto early = Unpack<google::protobuf::StringValue>(*go);
  if (!early.ok()) co_return early.status();
  Result never = co_await ctx.WaitSignal("never", absl::Hours(1));
  if (!absl::IsDeadlineExceeded(never.status())) co_return absl::InternalError("expected a timeout");
  co_return PackString(id + " " + early->value());
}

}  // namespace

TEST_CASE("Buffered signals, signal timeouts and deterministic values replay", "[unit][workflow]") {
  const WorkflowFunction fn = BufferedThenTimeout;
  // Recorded live: the signal "go" is received before the first workflow
  // task, so before the code waits for it.
  std::vector<HistoryEvent> history;
  HistoryEvent start = Ev(1, v1::EVENT_TYPE_WORKFLOW_EXECUTION_STARTED);
  start.mutable_workflow_execution_started();
  HistoryEvent signal = Ev(2, v1::EVENT_TYPE_SIGNAL_RECEIVED);
  signal.mutable_signal_received()->set_signal_name("go");
  signal.mutable_signal_received()->set_signal_id("go-1");
  *signal.mutable_signal_received()->mutable_payload() = PackString("early");
  history = {start, signal};
  FixedRandom random;
  Replayer live(RunInfo{"wf", "run", "t", "q"}, fn, random);
  REQUIRE(live.Apply(history).ok());

  // First task: the UUID's marker, and a timer for the wait on "never"
  // (the buffered "go" resolved at once).
  const std::vector<HistoryEvent> first = RecordTask(live, history);
  REQUIRE_FALSE(first.empty());
  CHECK(first.front().marker_recorded().marker_name() == "uuid");
  const HistoryEvent& timer = first.back();
  REQUIRE(timer.has_timer_started());
  for (const auto& c : first) CHECK_FALSE(c.has_workflow_execution_completed());

  // The timer fires: the wait on "never" times out and the run completes.
  HistoryEvent fired = Ev(static_cast<int64_t>(history.size()) + 1, v1::EVENT_TYPE_TIMER_FIRED);
  fired.mutable_timer_fired()->set_timer_id(timer.timer_started().timer_id());
  fired.mutable_timer_fired()->set_started_event_id(timer.event_id());
  history.push_back(fired);
  REQUIRE(live.Apply({fired}).ok());
  const std::vector<HistoryEvent> before_close = history;
  const std::string recorded = CompletedResult(RecordTask(live, history));
  CHECK(recorded.size() == 36 + 1 + 5);  // "<uuid> early": the buffered payload
  CHECK(recorded.substr(37) == "early");

  // Replayed with other random bytes: the same UUID (from its marker), the
  // same buffered signal and timeout, the same result; the whole history
  // replays without a difference.
  class OtherRandom : public cantdo::RandomSource {
   public:
    void Fill(std::span<std::uint8_t> out) override {
      for (auto& b : out) b = 0xAB;
    }
  } other;
  Replayer replay(RunInfo{"wf", "run", "t", "q"}, fn, other);
  REQUIRE(replay.Apply(before_close).ok());
  auto again = replay.RunLive(kT0 + absl::Hours(1), static_cast<int64_t>(before_close.size()) + 1);
  REQUIRE(again.ok());
  CHECK(CompletedResult(*again) == recorded);
  CHECK(Replay(fn, history).ok());
}

namespace {
// Returns the approved parameters its code sees ("none" without a record).
Task<Result> SeenAdmission(WorkflowContext& ctx, const Payload&) {
  const v1::WorkflowExecutionAdmittedEventAttributes* a = ctx.admission();
  co_return PackString(a == nullptr ? "none" : a->parameters_json());
}

std::string AdmissionSeen(const std::vector<HistoryEvent>& history) {
  FixedRandom random;
  const WorkflowFunction fn = SeenAdmission;
  Replayer r(RunInfo{"wf-1", "00000000-0000-0000-0000-000000000001", "t", "q"}, fn, random);
  REQUIRE(r.Apply(history).ok());
  const int64_t next = static_cast<int64_t>(history.size()) + 1;
  auto commands = r.RunLive(kT0 + absl::Seconds(next), next);
  REQUIRE(commands.ok());
  REQUIRE(commands->size() == 1);
  REQUIRE(commands->front().has_workflow_execution_completed());
  return Unpack<google::protobuf::StringValue>(commands->front().workflow_execution_completed().result())->value();
}
}  // namespace

TEST_CASE("Workflow code sees the run's own first admission record, over anything its Started event carries",
          "[unit][workflow]") {
  HistoryEvent start = Ev(1, v1::EVENT_TYPE_WORKFLOW_EXECUTION_STARTED);
  start.mutable_workflow_execution_started();
  HistoryEvent admitted = Ev(2, v1::EVENT_TYPE_WORKFLOW_EXECUTION_ADMITTED);
  admitted.mutable_workflow_execution_admitted()->set_parameters_json("approved");
  HistoryEvent later = Ev(3, v1::EVENT_TYPE_WORKFLOW_EXECUTION_ADMITTED);
  later.mutable_workflow_execution_admitted()->set_parameters_json("later");
  CHECK(AdmissionSeen({start}) == "none");
  CHECK(AdmissionSeen({start, admitted, later}) == "approved");
  // A Started event that claims an admission (only continue-as-new writes
  // one) loses to the run's own record, and is used only without one.
  HistoryEvent claiming = start;
  claiming.mutable_workflow_execution_started()->mutable_admission()->set_parameters_json("carried");
  CHECK(AdmissionSeen({claiming, admitted}) == "approved");
  CHECK(AdmissionSeen({claiming}) == "carried");
}
