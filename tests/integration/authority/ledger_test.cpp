// The ledger is append-only at the database level and hash-chained, so an
// edit, a deletion or a reordering is found at the right sequence number.
#include "authority_harness.hpp"
#include "support/child_process.hpp"

using namespace cantdo::testing;

namespace {

av1::VerifyLedgerResponse Verify(AuthorityHarness& h) {
  ::grpc::ClientContext ctx;
  av1::VerifyLedgerResponse resp;
  REQUIRE(h.Stub("admin")->VerifyLedger(AuthorityHarness::Ctx(&ctx), av1::VerifyLedgerRequest(), &resp).ok());
  return resp;
}

// Runs `sql` as a superuser with triggers off (what an attacker with full
// database access could do).
void Tamper(AuthorityHarness& h, const std::string& sql) {
  auto conn = h.db.Connect();
  REQUIRE(conn->Exec("SET session_replication_role = replica").ok());
  auto r = conn->Exec(sql);
  INFO(r.status().ToString());
  REQUIRE(r.ok());
}

}  // namespace

TEST_CASE("no service role may change the ledger, and the trigger refuses even the owner",
          "[integration][authority]") {
  AuthorityHarness h;
  h.Grant("refund");  // some entries
  auto admin = TestDatabase::ConnectAdmin();
  for (const std::string role : {"cantdo_authority", "cantdo_gateway", "cantdo_worker", "cantdo_bridge"}) {
    INFO(role);
    const std::string login = h.db.Name() + "_l_" + role.substr(7);
    REQUIRE(admin->Exec("CREATE ROLE " + login + " LOGIN PASSWORD 'pw' IN ROLE " + role).ok());
    auto conn = cantdo::pg::Connection::Connect(h.db.Dsn() + " user=" + login + " password=pw", absl::Seconds(5));
    REQUIRE(conn.ok());
    CHECK((*conn)->Exec("UPDATE cantdo.ledger SET actor = 'x' WHERE sequence = 1").status().code() ==
          absl::StatusCode::kPermissionDenied);
    CHECK((*conn)->Exec("DELETE FROM cantdo.ledger WHERE sequence = 1").status().code() ==
          absl::StatusCode::kPermissionDenied);
    CHECK((*conn)->Exec("TRUNCATE cantdo.ledger").status().code() == absl::StatusCode::kPermissionDenied);
    conn->reset();
    REQUIRE(admin->Exec("DROP ROLE " + login).ok());
  }
  auto owner = h.db.Connect();
  CHECK_FALSE(owner->Exec("UPDATE cantdo.ledger SET actor = 'x' WHERE sequence = 1").ok());
  CHECK_FALSE(owner->Exec("DELETE FROM cantdo.ledger WHERE sequence = 1").ok());
  CHECK_FALSE(owner->Exec("TRUNCATE cantdo.ledger").ok());
  CHECK(Verify(h).verification().ok());
}

TEST_CASE("verification finds an edited, a deleted and a swapped entry at the right sequence",
          "[integration][authority]") {
  AuthorityHarness h;
  for (int i = 0; i < 3; ++i) h.Grant("refund-" + std::to_string(i));  // 4 entries each
  auto clean = Verify(h);
  REQUIRE(clean.verification().ok());
  REQUIRE(clean.verification().entries_checked() == 12);
  {
    ChildProcess offline({BuildDir() + "/tools/ledger/cantdo-ledger", "--dsn=" + h.db.Dsn(), "verify"}, {},
                         h.dir.path() + "/offline-clean.log");
    CHECK(offline.Wait(absl::Seconds(60)) == std::optional<int>(0));
    CHECK(offline.Log().find("ledger OK: 12 entries") != std::string::npos);
  }

  SECTION("edited") {
    Tamper(h, "UPDATE cantdo.ledger SET actor = 'someone-else' WHERE sequence = 7");
    auto v = Verify(h).verification();
    CHECK_FALSE(v.ok());
    CHECK(v.first_bad_sequence() == 7);
    CHECK(v.problem() == cv1::LEDGER_PROBLEM_HASH_MISMATCH);
    // The offline command says the same, from the database alone.
    ChildProcess offline({BuildDir() + "/tools/ledger/cantdo-ledger", "--dsn=" + h.db.Dsn(), "verify"}, {},
                         h.dir.path() + "/offline.log");
    CHECK(offline.Wait(absl::Seconds(60)) == std::optional<int>(1));
    CHECK(offline.Log().find("BROKEN at sequence 7") != std::string::npos);
  }
  SECTION("deleted") {
    Tamper(h, "DELETE FROM cantdo.ledger WHERE sequence = 5");
    auto v = Verify(h).verification();
    CHECK(v.first_bad_sequence() == 5);
    CHECK(v.problem() == cv1::LEDGER_PROBLEM_SEQUENCE_GAP);
  }
  SECTION("two rows swapped") {
    // Entries 9 and 10 trade places (each keeps its own content and hashes).
    Tamper(h,
           "UPDATE cantdo.ledger l SET time_us = o.time_us, kind = o.kind, actor = o.actor, action = o.action, "
           "resource = o.resource, parameters_hash = o.parameters_hash, workflow_id = o.workflow_id, "
           "run_id = o.run_id, step = o.step, grant_id = o.grant_id, approval_id = o.approval_id, "
           "decision = o.decision, reason = o.reason, policy_version = o.policy_version, "
           "policy_hash = o.policy_hash, detail = o.detail, prev_hash = o.prev_hash, hash = o.hash "
           "FROM cantdo.ledger o WHERE (l.sequence, o.sequence) IN ((9, 10), (10, 9))");
    auto v = Verify(h).verification();
    CHECK(v.first_bad_sequence() == 9);
    CHECK(v.problem() == cv1::LEDGER_PROBLEM_PREV_HASH_MISMATCH);
  }
  SECTION("an edit with a recomputed own hash still breaks the chain") {
    // The attacker rewrites entry 3's hash to match its edit; entry 4 no
    // longer follows it.
    Tamper(h, "UPDATE cantdo.ledger SET actor = 'x', hash = repeat('0', 64) WHERE sequence = 3");
    auto v = Verify(h).verification();
    CHECK(v.first_bad_sequence() == 3);
  }
}

TEST_CASE("ledger entries page in order with filters", "[integration][authority]") {
  AuthorityHarness h;
  auto g = h.Grant("refund");
  av1::ListLedgerEntriesRequest req;
  req.set_page_size(3);
  std::vector<int64_t> seqs;
  std::string token;
  do {
    req.set_page_token(token);
    ::grpc::ClientContext ctx;
    av1::ListLedgerEntriesResponse resp;
    REQUIRE(h.Stub("admin")->ListLedgerEntries(AuthorityHarness::Ctx(&ctx), req, &resp).ok());
    for (const auto& e : resp.entries()) seqs.push_back(e.sequence());
    token = resp.next_page_token();
  } while (!token.empty());
  CHECK(seqs == std::vector<int64_t>{1, 2, 3, 4});

  av1::ListLedgerEntriesRequest by_grant;
  by_grant.mutable_filter()->set_grant_id(g.grant_id());
  ::grpc::ClientContext ctx;
  av1::ListLedgerEntriesResponse resp;
  REQUIRE(h.Stub("admin")->ListLedgerEntries(AuthorityHarness::Ctx(&ctx), by_grant, &resp).ok());
  REQUIRE(resp.entries_size() == 2);  // the approval that minted it, and the issue
  CHECK(resp.entries(0).kind() == cv1::LEDGER_EVENT_KIND_APPROVAL_VERIFIED);
  CHECK(resp.entries(1).kind() == cv1::LEDGER_EVENT_KIND_GRANT_ISSUED);
  for (const auto& e : resp.entries()) CHECK(e.grant_id() == g.grant_id());
}
