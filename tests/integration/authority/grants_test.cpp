// One-shot grants: claim at execution time releases a short-lived database
// credential that the target database itself honours; every misuse is
// refused with its own reason and written to the ledger.
#include <atomic>
#include <thread>

#include "absl/strings/str_cat.h"
#include "authority_harness.hpp"
#include "support/wait.hpp"

using namespace cantdo::testing;
using cantdo::GetReason;

namespace {

// Tries the refund INSERT on the target database as `user`/`password`.
absl::Status InsertRefundAs(const AuthorityHarness& h, const std::string& user, const std::string& password) {
  auto conn = cantdo::pg::Connection::Connect(h.db.Dsn() + " user=" + user + " password=" + password, absl::Seconds(5));
  if (!conn.ok()) return conn.status();
  return (*conn)->Exec("INSERT INTO public.refunds (customer_id, amount_cents) VALUES ('cust-42', 1200)").status();
}

}  // namespace

TEST_CASE("claim releases a credential the target database honours, consume destroys it", "[integration][authority]") {
  AuthorityHarness h;
  // Without a grant, the service's own role cannot refund: a real refusal.
  const std::string worker_login = h.db.Name() + "_worker";
  {
    auto admin = TestDatabase::ConnectAdmin();
    REQUIRE(admin->Exec("CREATE ROLE " + worker_login + " LOGIN PASSWORD 'pw' IN ROLE cantdo_worker").ok());
  }
  auto denied = InsertRefundAs(h, worker_login, "pw");
  CHECK(denied.code() == absl::StatusCode::kPermissionDenied);

  auto g = h.Grant("refund");
  auto claimed = h.Claim(AuthorityHarness::ClaimFor(g, "refund"));
  INFO(claimed.status().ToString());
  REQUIRE(claimed.ok());
  CHECK(claimed->grant().state() == cv1::GRANT_STATE_CLAIMED);
  REQUIRE(claimed->credential().has_postgres_login());
  const auto& login = claimed->credential().postgres_login();
  CHECK(InsertRefundAs(h, login.user(), login.password()).ok());

  auto consumed = h.Consume(g.grant_id());
  REQUIRE(consumed.ok());
  CHECK(consumed->grant().state() == cv1::GRANT_STATE_CONSUMED);
  // The credential is powerless once the consume answers: the database
  // refuses it.
  CHECK_FALSE(InsertRefundAs(h, login.user(), login.password()).ok());
  auto conn = h.db.Connect();
  CHECK(*conn->Exec("SELECT count(*) FROM public.refunds")->GetInt64(0, 0) == 1);

  CHECK(h.LedgerCount("GRANT_ISSUED") == 1);
  CHECK(h.LedgerCount("GRANT_CLAIMED") == 1);
  CHECK(h.LedgerCount("GRANT_CONSUMED") == 1);
  // Dropped and recorded right after, off the consume's path.
  CHECK(WaitUntil([&] { return h.LedgerCount("CREDENTIAL_DESTROYED") == 1; }, absl::Seconds(30)));
  CHECK(*conn->Exec("SELECT count(*) FROM pg_roles WHERE rolname = $1", {login.user()})->GetInt64(0, 0) == 0);
  auto admin = TestDatabase::ConnectAdmin();
  (void)admin->Exec("DROP ROLE " + worker_login);
}

TEST_CASE("a credential is destroyed and recorded once when the sweeper races the consume",
          "[integration][authority]") {
  // The consume's reaper destroys its grant's credential after it commits;
  // the sweeper destroys any credential whose grant is no longer CLAIMED and
  // that its own replica's reaper does not hold (another replica's sweeper
  // cannot tell). Both can see the same grant between the commit and the
  // queueing: one of them records it.
  AuthorityHarness h;
  constexpr int kGrants = 25;
  std::vector<std::pair<cv1::Grant, std::string>> claimed;
  for (int i = 0; i < kGrants; ++i) {
    const std::string step = absl::StrCat("refund-", i);
    auto g = h.Grant(step);
    auto c = h.Claim(AuthorityHarness::ClaimFor(g, step));
    REQUIRE(c.ok());
    claimed.emplace_back(g, c->credential().postgres_login().user());
  }
  std::atomic<bool> stop{false};
  std::thread sweeper([&] {
    while (!stop.load()) (void)h.app.authority()->SweepExpired();
  });
  for (const auto& [g, user] : claimed) CHECK(h.Consume(g.grant_id()).ok());
  stop.store(true);
  sweeper.join();
  REQUIRE(h.app.authority()->SweepExpired().ok());
  CHECK(h.LedgerCount("GRANT_CONSUMED") == kGrants);
  // Whatever the reaper still had in hand is done within moments; never
  // recorded twice.
  CHECK(WaitUntil([&] { return h.LedgerCount("CREDENTIAL_DESTROYED") >= kGrants; }, absl::Seconds(30)));
  CHECK(h.LedgerCount("CREDENTIAL_DESTROYED") == kGrants);
  auto conn = h.db.Connect();
  for (const auto& [g, user] : claimed) {
    CHECK(*conn->Exec("SELECT count(*) FROM pg_roles WHERE rolname = $1", {user})->GetInt64(0, 0) == 0);
  }
  CHECK(*conn->Exec("SELECT count(*) FROM cantdo.grants WHERE credential_handle IS NOT NULL")->GetInt64(0, 0) == 0);
}

TEST_CASE("a claim answers with the action exactly as approved, parameters included, on both claim paths",
          "[integration][authority]") {
  const std::string action = GENERATE(std::string("refund.issue"), std::string("customer_data.delete"));
  INFO(action);
  AuthorityHarness h;
  auto g = h.Grant("refund", 1200, action);
  auto claimed = h.Claim(AuthorityHarness::ClaimFor(g, "refund", 1200, action));
  INFO(claimed.status().ToString());
  REQUIRE(claimed.ok());
  const auto& a = claimed->action();
  CHECK(a.action() == action);
  CHECK(a.workflow_id() == "wf-1");
  CHECK(a.run_id() == "run-1");
  CHECK(a.step() == "refund");
  CHECK(a.parameters().fields().at("customer_id").string_value() == "cust-42");
  CHECK(a.parameters().fields().at("amount_cents").number_value() == 1200);
}

TEST_CASE("every misuse of a grant is refused with its reason and recorded", "[integration][authority]") {
  // Both ways a claim can go: a refund grant releases a credential (the
  // full transaction), a deletion grant none (the one-statement path).
  const std::string action = GENERATE(std::string("refund.issue"), std::string("customer_data.delete"));
  const std::string other = action == "refund.issue" ? "customer_data.delete" : "refund.issue";
  INFO(action);
  AuthorityHarness h;
  auto expect = [&](const absl::Status& st, const std::string& reason) {
    CHECK(st.code() == absl::StatusCode::kPermissionDenied);
    CHECK(GetReason(st) == std::optional<std::string>(reason));
    CHECK(h.LedgerCount("GRANT_DENIED", reason) >= 1);
  };

  SECTION("reuse: a consumed grant") {
    auto g = h.Grant("refund", 1200, action);
    REQUIRE(h.Claim(AuthorityHarness::ClaimFor(g, "refund", 1200, action)).ok());
    REQUIRE(h.Consume(g.grant_id()).ok());
    expect(h.Claim(AuthorityHarness::ClaimFor(g, "refund", 1200, action)).status(), "GRANT_ALREADY_CONSUMED");
    av1::ConsumeGrantRequest again;
    again.set_grant_id(g.grant_id());
    again.set_outcome_digest(std::string(64, 'b'));
    ::grpc::ClientContext ctx;
    av1::ConsumeGrantResponse resp;
    expect(cantdo::grpc::FromGrpcStatus(h.Stub("worker")->ConsumeGrant(AuthorityHarness::Ctx(&ctx), again, &resp)),
           "GRANT_ALREADY_CONSUMED");
  }
  SECTION("a grant presented for another action (a refund grant for data deletion)") {
    auto g = h.Grant("refund", 1200, action);
    expect(h.Claim(AuthorityHarness::ClaimFor(g, "refund", 1200, other)).status(), "GRANT_ACTION_MISMATCH");
  }
  SECTION("a changed refund amount") {
    auto g = h.Grant("refund", 1200, action);
    expect(h.Claim(AuthorityHarness::ClaimFor(g, "refund", 120000, action)).status(), "GRANT_PARAMETERS_MISMATCH");
  }
  SECTION("forwarding: claimed by another principal") {
    auto g = h.Grant("refund", 1200, action);
    expect(h.Claim(AuthorityHarness::ClaimFor(g, "refund", 1200, action), "gateway").status(),
           "GRANT_PRINCIPAL_MISMATCH");
    // The rightful principal can still use it.
    CHECK(h.Claim(AuthorityHarness::ClaimFor(g, "refund", 1200, action)).ok());
  }
  SECTION("forwarding: consumed by another principal") {
    auto g = h.Grant("refund", 1200, action);
    REQUIRE(h.Claim(AuthorityHarness::ClaimFor(g, "refund", 1200, action)).ok());
    expect(h.Consume(g.grant_id(), "gateway").status(), "GRANT_PRINCIPAL_MISMATCH");
    CHECK(h.Consume(g.grant_id()).ok());
  }
  SECTION("another workflow or step") {
    auto g = h.Grant("refund", 1200, action);
    auto other_wf = AuthorityHarness::ClaimFor(g, "refund", 1200, action);
    other_wf.mutable_action()->set_workflow_id("wf-2");
    expect(h.Claim(other_wf).status(), "GRANT_WORKFLOW_MISMATCH");
    expect(h.Claim(AuthorityHarness::ClaimFor(g, "other-step", 1200, action)).status(), "GRANT_STEP_MISMATCH");
  }
  SECTION("an unknown grant") {
    cv1::Grant g;
    g.set_grant_id("00000000-0000-4000-8000-000000000000");
    expect(h.Claim(AuthorityHarness::ClaimFor(g, "refund", 1200, action)).status(), "GRANT_NOT_FOUND");
  }
  SECTION("an expired grant") {
    auto g = h.Grant("refund", 1200, action);
    h.clock.Advance(absl::Minutes(16));  // past both rules' grant_ttl (10m, default 15m)
    expect(h.Claim(AuthorityHarness::ClaimFor(g, "refund", 1200, action)).status(), "GRANT_EXPIRED");
  }
  SECTION("a revoked grant") {
    auto g = h.Grant("refund", 1200, action);
    av1::RevokeGrantRequest rv;
    rv.set_grant_id(g.grant_id());
    rv.set_reason("operator cancelled the workflow");
    ::grpc::ClientContext ctx;
    av1::RevokeGrantResponse resp;
    REQUIRE(h.Stub("admin")->RevokeGrant(AuthorityHarness::Ctx(&ctx), rv, &resp).ok());
    CHECK(resp.grant().state() == cv1::GRANT_STATE_REVOKED);
    expect(h.Claim(AuthorityHarness::ClaimFor(g, "refund", 1200, action)).status(), "GRANT_REVOKED");
  }
  SECTION("a second claimer while claimed, and consume before claim") {
    auto g = h.Grant("refund", 1200, action);
    expect(h.Consume(g.grant_id()).status(), "GRANT_NOT_CLAIMED");
    REQUIRE(h.Claim(AuthorityHarness::ClaimFor(g, "refund", 1200, action, "key-1")).ok());
    expect(h.Claim(AuthorityHarness::ClaimFor(g, "refund", 1200, action, "key-2")).status(), "GRANT_ALREADY_CLAIMED");
  }
}

TEST_CASE("a worker that crashed between claim and consume re-claims with the same key", "[integration][authority]") {
  AuthorityHarness h;
  auto g = h.Grant("refund");
  auto first = h.Claim(AuthorityHarness::ClaimFor(g, "refund"));
  REQUIRE(first.ok());
  auto again = h.Claim(AuthorityHarness::ClaimFor(g, "refund"));
  INFO(again.status().ToString());
  REQUIRE(again.ok());
  CHECK(again->grant().state() == cv1::GRANT_STATE_CLAIMED);
  // A fresh credential; the first one no longer works.
  CHECK(again->credential().postgres_login().user() != first->credential().postgres_login().user());
  auto conn = cantdo::pg::Connection::Connect(h.db.Dsn() + " user=" + first->credential().postgres_login().user() +
                                                  " password=" + first->credential().postgres_login().password(),
                                              absl::Seconds(5));
  CHECK_FALSE(conn.ok());
  REQUIRE(h.Consume(g.grant_id()).ok());
}
