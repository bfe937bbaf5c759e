// engine_replay: how long a worker without a cached Replayer needs to
// rebuild a run's state from its history (a workflow task after a restart or
// a cache eviction).
//
// The history is recorded the way the worker builds it (a Replayer driven
// live, each scheduled activity completed with its input echoed, one
// workflow task per result) for a workflow that runs activities in a loop
// until it has --events events (default 10,000). Then, --reps times, a fresh
// Replayer applies the whole history and runs one live task (which must
// produce no commands). Reported: events, median / p99 / min replay time in
// ms, and the same for decoding the history from its stored form (protobuf
// bytes, as read from cantdo.workflow_events) plus replay.
//
// Output: one JSON document on stdout.

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <iostream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "cantdo/workflow/payload.hpp"
#include "cantdo/workflow/replayer.hpp"
#include "cantdo/workflow/workflow_context.hpp"
#include "support/bench_support.hpp"

namespace {

using cantdo::bench::Die;

namespace wf = cantdo::workflow;
using wf::v1::HistoryEvent;

class CountingRandom : public cantdo::RandomSource {
 public:
  void Fill(std::span<std::uint8_t> out) override {
    for (auto& b : out) b = static_cast<std::uint8_t>(n_++);
  }

 private:
  int n_ = 1;
};

const absl::Time kT0 = absl::FromUnixSeconds(1'700'000'000);

HistoryEvent Ev(int64_t id, wf::v1::EventType type) {
  HistoryEvent e;
  e.set_event_id(id);
  e.set_event_type(type);
  e.mutable_event_time()->set_seconds(absl::ToUnixSeconds(kT0) + id);
  return e;
}

// Activities one after another until told to stop (by the input: a count).
wf::Task<wf::Result> Loop(wf::WorkflowContext& ctx, const wf::Payload& input) {
  auto count = wf::Unpack<google::protobuf::Int64Value>(input);
  const int64_t n = count.ok() ? count->value() : 0;
  wf::Payload p = input;
  for (int64_t i = 0; i < n; ++i) {
    wf::Result r = co_await ctx.ExecuteActivity("step", p);
    if (!r.ok()) co_return r;
    p = *r;
  }
  co_return p;
}

std::vector<HistoryEvent> Record(const wf::WorkflowFunction& fn, int activities) {
  CountingRandom random;
  wf::Replayer r(wf::RunInfo{"wf-1", "00000000-0000-0000-0000-000000000001", "loop", "q"}, fn, random);
  std::vector<HistoryEvent> history;
  HistoryEvent start = Ev(1, wf::v1::EVENT_TYPE_WORKFLOW_EXECUTION_STARTED);
  *start.mutable_workflow_execution_started()->mutable_input() = wf::PackInt64(activities);
  history.push_back(start);
  if (!r.Apply({start}).ok()) Die("apply start");
  while (!r.closed()) {
    int64_t id = static_cast<int64_t>(history.size()) + 1;
    auto cmds = r.RunLive(kT0 + absl::Seconds(id), id);
    if (!cmds.ok()) Die(cmds.status().ToString());
    std::vector<HistoryEvent> batch;
    HistoryEvent st = Ev(id++, wf::v1::EVENT_TYPE_WORKFLOW_TASK_STARTED);
    st.mutable_workflow_task_started();
    batch.push_back(st);
    HistoryEvent done = Ev(id++, wf::v1::EVENT_TYPE_WORKFLOW_TASK_COMPLETED);
    done.mutable_workflow_task_completed();
    batch.push_back(done);
    for (auto c : *cmds) {
      c.set_event_id(id++);
      batch.push_back(c);
    }
    if (!r.Accept(batch).ok()) Die("accept");
    history.insert(history.end(), batch.begin(), batch.end());
    std::vector<HistoryEvent> inputs;
    for (const auto& c : batch) {
      if (c.has_activity_task_scheduled()) {
        HistoryEvent res = Ev(id++, wf::v1::EVENT_TYPE_ACTIVITY_TASK_COMPLETED);
        res.mutable_activity_task_completed()->set_scheduled_event_id(c.event_id());
        *res.mutable_activity_task_completed()->mutable_result() = c.activity_task_scheduled().input();
        inputs.push_back(res);
      }
    }
    if (inputs.empty()) break;
    if (!r.Apply(inputs).ok()) Die("apply results");
    history.insert(history.end(), inputs.begin(), inputs.end());
  }
  return history;
}

double Ms(std::chrono::steady_clock::duration d) { return std::chrono::duration<double, std::milli>(d).count(); }

nlohmann::json Summary(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  auto at = [&](double p) { return v[std::min(v.size() - 1, static_cast<size_t>(p * (v.size() - 1) + 0.5))]; };
  return {{"median_ms", at(0.5)}, {"p99_ms", at(0.99)}, {"min_ms", v.front()}};
}

}  // namespace

int main(int argc, char** argv) {
  int target_events = 10'000, reps = 50;
  cantdo::Options flags("engine_replay", "rebuilding a run's state from a long history");
  flags.Int("events", &target_events, "history events to replay (at least 10)")
      .Int("reps", &reps, "replays measured")
      .Check([&] { return target_events >= 10 && reps >= 1 ? "" : "--events >= 10 and --reps >= 1"; });
  cantdo::bench::ParseOrExit(flags, argc, argv);
  const wf::WorkflowFunction fn = Loop;
  // Each activity adds 4 events (task started, task completed, scheduled,
  // completed); the start and the closing task add 4.
  const std::vector<HistoryEvent> history = Record(fn, (target_events - 4) / 4);
  std::vector<std::string> stored;
  for (const auto& e : history) stored.push_back(e.SerializeAsString());

  std::vector<double> replay_ms, decode_replay_ms;
  for (int i = 0; i < reps; ++i) {
    for (bool decode : {false, true}) {
      const auto t0 = std::chrono::steady_clock::now();
      std::vector<HistoryEvent> decoded;
      if (decode) {
        decoded.resize(stored.size());
        for (size_t j = 0; j < stored.size(); ++j) {
          if (!decoded[j].ParseFromString(stored[j])) Die("decode");
        }
      }
      CountingRandom random;
      wf::Replayer r(wf::RunInfo{"wf-1", "00000000-0000-0000-0000-000000000001", "loop", "q"}, fn, random);
      if (auto s = r.Apply(decode ? decoded : history); !s.ok()) Die(s.ToString());
      auto more = r.RunLive(kT0 + absl::Hours(24), static_cast<int64_t>(history.size()) + 1);
      if (!more.ok() || !more->empty()) Die("replay of the closed history produced commands");
      (decode ? decode_replay_ms : replay_ms).push_back(Ms(std::chrono::steady_clock::now() - t0));
    }
  }
  nlohmann::json out = {{"benchmark", "engine_replay"},
                        {"events", history.size()},
                        {"reps", reps},
                        {"replay", Summary(replay_ms)},
                        {"decode_and_replay", Summary(decode_replay_ms)}};
  std::cout << out.dump(2) << std::endl;
  return 0;
}
