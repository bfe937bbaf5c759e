// The ledger is append-only at the database level and hash-chained, so an
// edit, a deletion or a reordering is found at the right sequence number.
#include "authority_harness.hpp"
#include "support/child_process.hpp"
#include "cantdo/pg/transaction.hpp"
#include "support/login_role.hpp"

#include <thread>

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

TEST_CASE("no service role may change the ledger, and the trigger refuses even the owner", "[integration][authority]") {
  AuthorityHarness h;
  h.Grant("refund");                                        // some entries
  REQUIRE(Verify(h).verification().entries_checked() > 0);  // chained, so sequence 1 exists
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

TEST_CASE("entries appended by concurrent deciding transactions are chained into one gapless, verified sequence",
          "[integration][authority]") {
  TestDatabase db(TestDatabase::kMigrated);
  LoginRole authority(db, "cantdo_authority");
  constexpr int kThreads = 8, kEach = 50;
  std::vector<std::thread> threads;
  std::atomic<int> failures{0};
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      auto conn = cantdo::pg::Connection::Connect(authority.dsn(), absl::Seconds(5));
      if (!conn.ok()) {
        ++failures;
        return;
      }
      for (int i = 0; i < kEach; ++i) {
        cantdo::authority::LedgerRecord rec;
        rec.kind = cv1::LEDGER_EVENT_KIND_DECISION;
        rec.actor = "spiffe://cantdo/worker";
        rec.action = "access.revoke";
        rec.workflow_id = "wf-" + std::to_string(t);
        rec.detail["i"] = i;
        auto st = cantdo::pg::RunInTransaction(**conn, {}, [&](cantdo::pg::Connection& tx) {
          return cantdo::authority::Ledger::Append(tx, rec, absl::Now()).status();
        });
        if (!st.ok()) ++failures;
        // A chainer runs alongside the writers, as in the service.
        if (t == 0 && i % 10 == 0 && !cantdo::authority::Ledger::ChainAll(**conn).ok()) ++failures;
      }
    });
  }
  for (auto& th : threads) th.join();
  REQUIRE(failures == 0);
  auto conn = cantdo::pg::Connection::Connect(authority.dsn(), absl::Seconds(5));
  REQUIRE(conn.ok());
  REQUIRE(cantdo::authority::Ledger::ChainAll(**conn).ok());
  auto pending = (*conn)->Exec("SELECT count(*) FROM cantdo.ledger WHERE sequence IS NULL");
  REQUIRE(pending.ok());
  CHECK(*pending->GetInt64(0, 0) == 0);
  auto v = cantdo::authority::Ledger::Verify(**conn, 0, 0, absl::Now());
  REQUIRE(v.ok());
  INFO(v->message());
  CHECK(v->ok());
  CHECK(v->entries_checked() == kThreads * kEach);
  CHECK(v->head_sequence() == kThreads * kEach);
  // Each writer's entries keep their order in the chain.
  auto order = (*conn)->Exec(
      "SELECT count(*) FROM (SELECT (detail::jsonb->>'i')::int AS i, "
      "lag((detail::jsonb->>'i')::int) OVER (PARTITION BY workflow_id ORDER BY sequence) AS prev "
      "FROM cantdo.ledger) x WHERE prev IS NOT NULL AND i <> prev + 1");
  REQUIRE(order.ok());
  CHECK(*order->GetInt64(0, 0) == 0);
}

TEST_CASE("the authority may chain a pending entry once, and nothing else: no edit, no delete, no re-chain",
          "[integration][authority]") {
  TestDatabase db(TestDatabase::kMigrated);
  LoginRole authority(db, "cantdo_authority");
  auto conn = cantdo::pg::Connection::Connect(authority.dsn(), absl::Seconds(5));
  REQUIRE(conn.ok());
  auto& c = **conn;
  auto append = [&](const std::string& actor) {
    cantdo::authority::LedgerRecord rec;
    rec.kind = cv1::LEDGER_EVENT_KIND_DECISION;
    rec.actor = actor;
    auto id = cantdo::pg::RunInTransaction(
        c, {}, [&](cantdo::pg::Connection& tx) { return cantdo::authority::Ledger::Append(tx, rec, absl::Now()); });
    REQUIRE(id.ok());
    return *id;
  };
  const int64_t first = append("a");
  const auto denied = absl::StatusCode::kPermissionDenied;
  const std::string id = std::to_string(first);
  // Pending: content cannot change, the row cannot go.
  CHECK(c.Exec("UPDATE cantdo.ledger SET actor = 'x' WHERE entry_id = " + id).status().code() == denied);
  CHECK(c.Exec("DELETE FROM cantdo.ledger WHERE entry_id = " + id).status().code() == denied);
  // Chaining it with changed content is refused by the trigger even for the owner.
  auto owner = db.Connect();
  CHECK(owner
            ->Exec("UPDATE cantdo.ledger SET sequence = 1, prev_hash = 'p', hash = 'h', actor = 'x' WHERE entry_id = " +
                   id)
            .status()
            .code() == denied);
  REQUIRE(cantdo::authority::Ledger::ChainAll(c).ok());
  // Chained: not again, not even by the owner.
  CHECK(c.Exec("UPDATE cantdo.ledger SET hash = 'h' WHERE entry_id = " + id).status().code() == denied);
  CHECK(owner->Exec("UPDATE cantdo.ledger SET sequence = NULL, prev_hash = NULL, hash = NULL WHERE entry_id = " + id)
            .status()
            .code() == denied);
  CHECK(c.Exec("DELETE FROM cantdo.ledger WHERE entry_id = " + id).status().code() == denied);
  // A chain column written by hand with a wrong hash (what a compromised
  // service could do to a pending entry) is caught by verification.
  const int64_t second = append("b");
  REQUIRE(
      c.Exec("UPDATE cantdo.ledger SET sequence = 2, prev_hash = (SELECT hash FROM cantdo.ledger WHERE sequence = 1), "
             "hash = repeat('0', 64) WHERE entry_id = " +
             std::to_string(second))
          .ok());
  auto v = cantdo::authority::Ledger::Verify(c, 0, 0, absl::Now());
  REQUIRE(v.ok());
  CHECK_FALSE(v->ok());
  CHECK(v->first_bad_sequence() == 2);
  CHECK(v->problem() == cv1::LEDGER_PROBLEM_HASH_MISMATCH);
}

TEST_CASE("chaining an entry while changing any one of its content columns is refused, for every column",
          "[integration][authority]") {
  // A well-formed first link (V0009 refuses any other), so only a content
  // change can be what is refused.
  constexpr char kFirstLink[] = "sequence = 1, prev_hash = repeat('0', 64), hash = repeat('a', 64)";
  TestDatabase db(TestDatabase::kMigrated);
  auto owner = db.Connect();
  cantdo::authority::LedgerRecord rec;
  rec.kind = cv1::LEDGER_EVENT_KIND_DECISION;
  rec.actor = "a";
  auto id = cantdo::pg::RunInTransaction(
      *owner, {}, [&](cantdo::pg::Connection& tx) { return cantdo::authority::Ledger::Append(tx, rec, absl::Now()); });
  REQUIRE(id.ok());
  // Every column of the table as it is now, so a column added later without
  // extending the trigger (V0007) turns this test red.
  auto cols = owner->Exec(
      "SELECT column_name, data_type FROM information_schema.columns WHERE table_schema = 'cantdo' "
      "AND table_name = 'ledger' AND column_name NOT IN ('sequence', 'prev_hash', 'hash') ORDER BY ordinal_position");
  REQUIRE(cols.ok());
  REQUIRE(cols->Rows() >= 17);
  for (int i = 0; i < cols->Rows(); ++i) {
    const std::string col = *cols->GetString(i, 0);
    const std::string type = *cols->GetString(i, 1);
    INFO(col);
    const std::string changed = type == "text" ? col + " || 'x'" : col + " + 1";
    const std::string set = col == "entry_id" ? "entry_id = DEFAULT" : col + " = " + changed;
    auto r = owner->Exec(absl::StrCat("UPDATE cantdo.ledger SET ", kFirstLink, ", ", set, " WHERE entry_id = ", *id));
    CHECK_FALSE(r.ok());
  }
  // And the same UPDATE without a content change goes through: the refusals
  // above were the trigger's, not a broken statement's.
  CHECK(owner->Exec(absl::StrCat("UPDATE cantdo.ledger SET ", kFirstLink, " WHERE entry_id = ", *id)).ok());
}
