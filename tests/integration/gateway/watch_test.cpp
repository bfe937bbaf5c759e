// WatchWorkflow: every event in order, then resume from an event id without
// gaps or duplicates; the stream ends after the closing event.

#include <optional>

#include "cantdo/pg/transaction.hpp"
#include "cantdo/workflow/client.hpp"
#include "gateway_harness.hpp"

using namespace cantdo::testing;
using cantdo::GetReason;

namespace {

struct Watched {
  std::vector<int64_t> ids;
  ::grpc::Status status;
};

// One WatchWorkflow stream, read by the test's own thread: what the server
// sends while the test does something else waits in the stream.
class OpenWatch {
 public:
  OpenWatch(GatewayHarness& h, const std::string& identity, const std::string& workflow_id, int64_t from)
      : stub_(h.CertChannel(identity)) {
    ctx_.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
    gv1::WatchWorkflowRequest req;
    req.set_workflow_id(workflow_id);
    req.set_from_event_id(from);
    reader_ = stub_.WatchWorkflow(&ctx_, req);
  }
  // The next event's id; nullopt once the stream has ended.
  std::optional<int64_t> Next() {
    gv1::WatchWorkflowResponse msg;
    if (!reader_->Read(&msg)) return std::nullopt;
    return msg.event().event_id();
  }
  // Every event up to the end of the stream, and how it ended.
  Watched Rest() {
    Watched out;
    while (auto id = Next()) out.ids.push_back(*id);
    out.status = reader_->Finish();
    return out;
  }

 private:
  gv1::WorkflowService::Stub stub_;
  ::grpc::ClientContext ctx_;
  std::unique_ptr<::grpc::ClientReader<gv1::WatchWorkflowResponse>> reader_;
};

Watched WatchAll(GatewayHarness& h, const std::string& workflow_id, int64_t from) {
  return OpenWatch(h, "auditor", workflow_id, from).Rest();
}

}  // namespace

TEST_CASE("Watch delivers every event of a run in order as it commits, and resumes from an event id",
          "[integration][gateway]") {
  GatewayHarness h;
  auto started = h.Start(GatewayHarness::Offboarding("offboard-watch", "req-watch"));
  REQUIRE(started.ok());
  // Watch from the beginning while the run is admitted, signalled and
  // finally terminated (no worker runs here, so the test closes it).
  // The first event read proves the stream is open before anything else
  // commits: the rest must arrive live.
  OpenWatch watch(h, "auditor", "offboard-watch", 0);
  REQUIRE(watch.Next() == std::optional<int64_t>(1));
  REQUIRE(h.Approve(started->admission_approval_id()).ok());
  REQUIRE(WaitUntil([&] { return h.Describe("offboard-watch").state() == wv1::WORKFLOW_EXECUTION_STATE_RUNNING; },
                    absl::Seconds(10)));
  for (int i = 0; i < 5; ++i) REQUIRE(h.Signal("offboard-watch", "sig-" + std::to_string(i)).ok());
  cantdo::workflow::WorkflowClient client(h.authority.clock);
  auto conn = h.authority.db.Connect();
  REQUIRE(cantdo::pg::RunInTransaction(*conn, {}, [&](cantdo::pg::Connection& tx) {
            return client.Terminate(tx, "offboard-watch", "", "test over", "test");
          }).ok());
  Watched live = watch.Rest();
  live.ids.insert(live.ids.begin(), 1);
  INFO(live.status.error_message());
  REQUIRE(live.status.ok());
  const int64_t length = h.Describe("offboard-watch").history_length();
  REQUIRE(length >= 9);  // started, admitted, task scheduled, 5 signals, terminated
  std::vector<int64_t> expected;
  for (int64_t i = 1; i <= length; ++i) expected.push_back(i);
  CHECK(live.ids == expected);

  // Resume after event 4: exactly 5..length.
  Watched resumed = WatchAll(h, "offboard-watch", 5);
  REQUIRE(resumed.status.ok());
  CHECK(resumed.ids == std::vector<int64_t>(expected.begin() + 4, expected.end()));
  // Beyond the end of a closed run.
  Watched beyond = WatchAll(h, "offboard-watch", length + 2);
  CHECK(beyond.status.error_code() == ::grpc::StatusCode::OUT_OF_RANGE);

  // History pages agree with the stream.
  gv1::GetWorkflowHistoryRequest hist;
  hist.set_workflow_id("offboard-watch");
  hist.set_page_size(4);
  std::vector<int64_t> paged;
  do {
    auto page = GatewayHarness::Call(h.CertChannel("auditor"), &gv1::WorkflowService::Stub::GetWorkflowHistory, hist);
    REQUIRE(page.ok());
    for (const auto& e : page->events()) paged.push_back(e.event_id());
    hist.set_page_token(page->next_page_token());
  } while (!hist.page_token().empty());
  CHECK(paged == expected);
}

TEST_CASE("A client that cancels its watch frees the stream, a rejected run's watch ends after the rejection",
          "[integration][gateway]") {
  GatewayHarness h;
  auto started = h.Start(GatewayHarness::Offboarding("offboard-watch-2"));
  REQUIRE(started.ok());
  {
    gv1::WorkflowService::Stub stub(h.CertChannel("operator"));
    ::grpc::ClientContext ctx;
    gv1::WatchWorkflowRequest req;
    req.set_workflow_id("offboard-watch-2");
    auto reader = stub.WatchWorkflow(&ctx, req);
    gv1::WatchWorkflowResponse msg;
    REQUIRE(reader->Read(&msg));
    CHECK(msg.event().event_id() == 1);
    ctx.TryCancel();
    while (reader->Read(&msg)) {
    }
    CHECK(reader->Finish().error_code() == ::grpc::StatusCode::CANCELLED);
  }
  // Denied while a watch is open (its first event read): the stream
  // delivers the rejection and ends.
  OpenWatch watch(h, "auditor", "offboard-watch-2", 1);
  REQUIRE(watch.Next() == std::optional<int64_t>(1));
  REQUIRE(h.Deny(started->admission_approval_id()).ok());
  Watched w = watch.Rest();
  CHECK(w.status.ok());
  CHECK(w.ids == std::vector<int64_t>{2});
}
