#include <catch2/catch.hpp>

#include "cantdo/pg/listener.hpp"
#include "pg_test_util.hpp"
#include "support/test_database.hpp"

namespace {

using cantdo::pg::Listener;
using cantdo::pg::Notification;
using cantdo::pg::Notify;
using cantdo::pg::test::Ok;
using cantdo::testing::TestDatabase;

std::optional<Notification> WaitFor(Listener& listener, absl::Duration timeout) {
  return Ok(listener.Wait(absl::Now() + timeout));
}

TEST_CASE("LISTEN/NOTIFY delivers channel and payload", "[integration][pg]") {
  TestDatabase db;
  auto listener = Ok(Listener::Create(db.Dsn()));
  auto sender = db.Connect();
  Ok(listener->Listen("workflow_events"));
  // A channel name that needs quoting is an identifier, not SQL.
  const std::string odd = "odd \"channel\"; DROP TABLE x";
  Ok(listener->Listen(odd));

  CHECK_FALSE(WaitFor(*listener, absl::Milliseconds(50)).has_value());  // nothing yet: timeout

  Ok(Notify(*sender, "workflow_events", "wf-1"));
  auto n = WaitFor(*listener, absl::Seconds(5));
  REQUIRE(n.has_value());
  CHECK(n->channel == "workflow_events");
  CHECK(n->payload == "wf-1");
  CHECK(n->sender_pid == sender->BackendPid());
  CHECK_FALSE(n->gap);

  Ok(Notify(*sender, odd, "it's fine"));
  n = WaitFor(*listener, absl::Seconds(5));
  REQUIRE(n.has_value());
  CHECK(n->channel == odd);
  CHECK(n->payload == "it's fine");

  // Channels not listened to are not delivered.
  Ok(Notify(*sender, "someone_else", "x"));
  CHECK_FALSE(WaitFor(*listener, absl::Milliseconds(200)).has_value());
}

TEST_CASE("Notifications sent inside a transaction arrive at commit", "[integration][pg]") {
  TestDatabase db;
  auto listener = Ok(Listener::Create(db.Dsn()));
  auto sender = db.Connect();
  Ok(listener->Listen("jobs"));
  Ok(sender->ExecScript("BEGIN"));
  Ok(Notify(*sender, "jobs", "1"));
  CHECK_FALSE(WaitFor(*listener, absl::Milliseconds(200)).has_value());
  Ok(sender->ExecScript("COMMIT"));
  auto n = WaitFor(*listener, absl::Seconds(5));
  REQUIRE(n.has_value());
  CHECK(n->payload == "1");
}

TEST_CASE("The listener survives its backend being terminated and reports the gap", "[integration][pg]") {
  TestDatabase db;
  auto listener = Ok(Listener::Create(db.Dsn()));
  auto sender = db.Connect();
  Ok(listener->Listen("jobs"));
  const int old_pid = listener->BackendPid();
  cantdo::pg::test::TerminateBackend(*sender, old_pid);

  // Sent while the listener is down: lost, hence the gap flag.
  Ok(Notify(*sender, "jobs", "lost"));
  auto gap = WaitFor(*listener, absl::Seconds(10));
  REQUIRE(gap.has_value());
  CHECK(gap->gap);
  CHECK(gap->payload.empty());
  CHECK(listener->BackendPid() != old_pid);
  CHECK(listener->BackendPid() != 0);

  // Re-subscribed: new notifications flow again.
  Ok(Notify(*sender, "jobs", "after"));
  auto n = WaitFor(*listener, absl::Seconds(5));
  REQUIRE(n.has_value());
  CHECK_FALSE(n->gap);
  CHECK(n->channel == "jobs");
  CHECK(n->payload == "after");
}

}  // namespace
