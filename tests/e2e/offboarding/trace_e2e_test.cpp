// End to end: one agent action followed by its W3C trace id. The operator
// starts an offboarding with a traceparent of its own; every service's log
// lines about that run, and every ledger entry of the run, carry its trace
// id: the gateway (StartWorkflow, the admission), the authority (the
// approvals and grants), the ciba-bridge (the backchannel requests it was
// asked for) and the worker (the guarded actions).

#include "support/e2e_stack.hpp"

#include <set>
#include <sstream>

#include "absl/strings/match.h"
#include "cantdo/base/trace_context.hpp"

using namespace cantdo::e2e;

namespace {

// The operator's chosen trace id.
constexpr char kTraceId[] = "5a1e0f7c2b9d4e8fa6c3d1b0e9f87654";

// The service's JSON log lines.
std::vector<nlohmann::json> Lines(const ServiceProcess& service) {
  std::vector<nlohmann::json> out;
  std::istringstream in(service.Log());
  std::string line;
  while (std::getline(in, line)) {
    auto j = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
    if (j.is_object()) out.push_back(std::move(j));
  }
  return out;
}

// Whether `service` logged a line with `msg` (and, for "rpc" lines, a
// method ending in `method`) under `trace_id`.
bool Logged(const ServiceProcess& service, const std::string& trace_id, const std::string& msg,
            const std::string& method = "") {
  for (const auto& j : Lines(service)) {
    if (j.value("trace_id", "") != trace_id || j.value("msg", "") != msg) continue;
    if (method.empty() || absl::EndsWith(j.value("method", ""), method)) return true;
  }
  return false;
}

std::string DetailTraceId(const cv1::LedgerEntry& e) {
  auto it = e.detail().fields().find("trace_id");
  return it == e.detail().fields().end() ? "" : it->second.string_value();
}

}  // namespace

TEST_CASE("e2e: one traceparent from StartWorkflow through the logs of all four services and into the ledger",
          "[e2e][offboarding][trace]") {
  Stack s;
  const std::string trace_id = kTraceId;
  const std::string cus = demo::CustomerId(7);

  auto started = s.StartOffboarding(cus, 0, "00-" + trace_id + "-b7ad6b7169203331-01");
  const std::string wf = started.execution().workflow_id();
  s.Approve(kOpsManager);
  s.Approve(kCfo);
  s.Approve(kDpo);
  s.WaitState(wf, wv1::WORKFLOW_EXECUTION_STATE_COMPLETED);

  INFO(s.Logs());
  // The front door, and the admission it does later in the background.
  CHECK(Logged(*s.gateway, trace_id, "rpc", "/StartWorkflow"));
  CHECK(Logged(*s.gateway, trace_id, "run admitted"));
  // The authority: asked by the gateway (admission) and by the worker's
  // activities, and told the approvers' answers by the bridge.
  CHECK(Logged(*s.authority, trace_id, "rpc", "/RequestApproval"));
  CHECK(Logged(*s.authority, trace_id, "rpc", "/ClaimGrant"));
  CHECK(Logged(*s.authority, trace_id, "rpc", "/ConsumeGrant"));
  CHECK(Logged(*s.authority, trace_id, "rpc", "/CompleteApproval"));
  // The bridge, asked by the authority's dispatcher.
  CHECK(Logged(*s.bridge, trace_id, "rpc", "/StartBackchannelAuthentication"));
  // The worker's activities.
  CHECK(Logged(*s.worker, trace_id, "guarded action done"));

  // Every ledger entry of the run carries the trace id, inside the hashed
  // detail, and the chain still verifies.
  auto ledger = s.Ledger(wf);
  REQUIRE(!ledger.empty());
  std::set<cv1::LedgerEventKind> kinds;
  for (const auto& e : ledger) {
    INFO("entry " << e.sequence() << " " << cv1::LedgerEventKind_Name(e.kind()) << " " << e.action());
    CHECK(DetailTraceId(e) == trace_id);
    kinds.insert(e.kind());
  }
  CHECK(kinds.count(cv1::LEDGER_EVENT_KIND_DECISION) == 1);
  CHECK(kinds.count(cv1::LEDGER_EVENT_KIND_APPROVAL_VERIFIED) == 1);
  CHECK(kinds.count(cv1::LEDGER_EVENT_KIND_GRANT_CLAIMED) == 1);
  CHECK(kinds.count(cv1::LEDGER_EVENT_KIND_GRANT_CONSUMED) == 1);
  CHECK(s.VerifyLedger().ok());

  // A malformed traceparent is no error: the gateway starts a new trace,
  // which the run's admission request is recorded under.
  const std::string other = demo::CustomerId(8);
  auto second = s.StartOffboarding(other, 0, "00-" + trace_id + "-0000000000000000-01");  // all-zero parent id
  CHECK(second.execution().state() == wv1::WORKFLOW_EXECUTION_STATE_PENDING_ADMISSION);
  auto second_ledger = s.Ledger(second.execution().workflow_id());
  REQUIRE(!second_ledger.empty());
  const std::string fresh = DetailTraceId(second_ledger.front());
  CHECK(fresh.size() == 32);
  CHECK(fresh != trace_id);
  CHECK(cantdo::trace::ParseTraceparent("00-" + fresh + "-b7ad6b7169203331-01").has_value());
  CHECK(Logged(*s.gateway, fresh, "rpc", "/StartWorkflow"));
}
