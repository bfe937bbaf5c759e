// Issue 19: a database superuser edited ledger entry 41 and recomputed the
// hash of every entry after it, and both VerifyLedger and the offline
// `cantdo-ledger verify` said OK; deleting the newest entries was "OK" too.
// Against a checkpoint saved before the attack (signed with a key the
// database never holds) each attack is now found, at the right sequence.
#include "ledger_log.hpp"

using namespace cantdo::testing;

namespace {

// 80 entries checkpointed and saved by an auditor, then 10 more.
std::string Prepare(LedgerLog& log) {
  log.Append(80);
  REQUIRE(log.Checkpoint() == 80);
  const std::string saved = log.SaveCheckpoint("auditor.checkpoint");
  log.Append(10);
  REQUIRE(log.Checkpoint() == 90);
  auto clean = log.VerifyWith(saved);
  INFO(clean.out);
  REQUIRE(clean.exit == std::optional<int>(0));
  REQUIRE(clean.out.find("checkpoint OK: entries 1..80") != std::string::npos);
  return saved;
}

}  // namespace

TEST_CASE("an entry edited with every later hash recomputed is found at its sequence by a saved checkpoint",
          "[security][ledger_checkpoint]") {
  LedgerLog log;
  const std::string saved = Prepare(log);
  log.Rewrite(41, "spiffe://cantdo/gateway", /*rebuild_tree=*/false);

  // The hash chain alone cannot tell: this is what issue 19 found.
  auto chain_only = log.Tool({"--dsn=" + log.db.Dsn(), "verify"});
  CHECK(chain_only.exit == std::optional<int>(0));

  auto v = log.VerifyIn(saved);
  CHECK_FALSE(v.ok());
  CHECK(v.problem() == cv1::LEDGER_PROBLEM_REWRITTEN);
  CHECK(v.first_bad_sequence() == 41);
  auto offline = log.VerifyWith(saved);
  INFO(offline.out);
  CHECK(offline.exit == std::optional<int>(1));
  CHECK(offline.out.find("BROKEN at sequence 41: LEDGER_PROBLEM_REWRITTEN") != std::string::npos);

  // The tree was left alone, so later checkpoints still sign the honest
  // tree, and show the same.
  log.Append(1);
  REQUIRE(log.Checkpoint() == 91);
  auto later = log.VerifyIn(log.SaveCheckpoint("later.checkpoint"));
  CHECK(later.problem() == cv1::LEDGER_PROBLEM_REWRITTEN);
  CHECK(later.first_bad_sequence() == 41);
}

TEST_CASE("an edit whose attacker also rebuilds the Merkle tree is still found by a saved checkpoint",
          "[security][ledger_checkpoint]") {
  LedgerLog log;
  const std::string saved = Prepare(log);
  log.Rewrite(41, "spiffe://cantdo/gateway", /*rebuild_tree=*/true);
  auto v = log.VerifyIn(saved);
  CHECK_FALSE(v.ok());
  CHECK(v.problem() == cv1::LEDGER_PROBLEM_REWRITTEN);
  // The database now agrees with itself everywhere, so it cannot say which
  // entry changed; the checkpoint proves that one of 1..80 did.
  CHECK(v.first_bad_sequence() >= 1);
  CHECK(v.first_bad_sequence() <= 41);
  auto offline = log.VerifyWith(saved);
  CHECK(offline.exit == std::optional<int>(1));
  // The leaf hashes the checkpoint directory keeps beside it locate it.
  auto located = log.VerifyIn(saved, /*with_leaves=*/true);
  CHECK(located.problem() == cv1::LEDGER_PROBLEM_REWRITTEN);
  CHECK(located.first_bad_sequence() == 41);
  auto offline_located = log.VerifyWith(saved, /*with_leaves=*/true);
  INFO(offline_located.out);
  CHECK(offline_located.exit == std::optional<int>(1));
  CHECK(offline_located.out.find("BROKEN at sequence 41: LEDGER_PROBLEM_REWRITTEN") != std::string::npos);
  // Nor will the authority sign the rewritten history: its tree no longer
  // extends the last one it signed.
  log.Append(1);
  auto refused = log.checkpointer->MaybeCheckpoint(*log.conn);
  CHECK(refused.status().code() == absl::StatusCode::kDataLoss);
  CHECK(log.checkpointer->Latest().size == 90);
}

TEST_CASE("deleting the newest entries is found by a saved checkpoint, at the first entry removed",
          "[security][ledger_checkpoint]") {
  LedgerLog log;
  const std::string saved = Prepare(log);
  log.Superuser("DELETE FROM cantdo.ledger WHERE sequence > 71");
  log.Superuser("DELETE FROM cantdo.ledger_tree WHERE sequence > 71");

  auto chain_only = log.Tool({"--dsn=" + log.db.Dsn(), "verify"});
  CHECK(chain_only.exit == std::optional<int>(0));  // a shorter chain is still a chain

  auto v = log.VerifyIn(saved);
  CHECK_FALSE(v.ok());
  CHECK(v.problem() == cv1::LEDGER_PROBLEM_TRUNCATED);
  CHECK(v.first_bad_sequence() == 72);
  auto offline = log.VerifyWith(saved);
  INFO(offline.out);
  CHECK(offline.exit == std::optional<int>(1));
  CHECK(offline.out.find("BROKEN at sequence 72: LEDGER_PROBLEM_TRUNCATED") != std::string::npos);
}

TEST_CASE("a database serving a different tree of the same size is found by a saved checkpoint, where it departs",
          "[security][ledger_checkpoint]") {
  LedgerLog log;
  const std::string saved = Prepare(log);
  // The attacker builds another history from entry 23 on, keeps its tree
  // (what proofs are served from) and puts the original entries back.
  log.Superuser("CREATE TABLE public.ledger_before AS SELECT * FROM cantdo.ledger");
  log.Rewrite(23, "platform:mallory", /*rebuild_tree=*/true);
  log.Superuser(
      "UPDATE cantdo.ledger l SET actor = o.actor, sequence = o.sequence, prev_hash = o.prev_hash, hash = o.hash "
      "FROM public.ledger_before o WHERE l.entry_id = o.entry_id");
  auto chain_only = log.Tool({"--dsn=" + log.db.Dsn(), "verify"});
  CHECK(chain_only.exit == std::optional<int>(0));

  auto v = log.VerifyIn(saved);
  CHECK_FALSE(v.ok());
  CHECK(v.problem() == cv1::LEDGER_PROBLEM_FORKED);
  CHECK(v.first_bad_sequence() == 23);
  auto offline = log.VerifyWith(saved);
  INFO(offline.out);
  CHECK(offline.exit == std::optional<int>(1));
  CHECK(offline.out.find("BROKEN at sequence 23: LEDGER_PROBLEM_FORKED") != std::string::npos);
}

TEST_CASE("the ledger tree is append-only like the ledger, for every service role and the owner",
          "[security][ledger_checkpoint]") {
  LedgerLog log;
  log.Append(4);
  auto owner = log.db.Connect();
  const auto denied = absl::StatusCode::kPermissionDenied;
  CHECK(log.conn->Exec("UPDATE cantdo.ledger_tree SET hashes = '\\x00' WHERE sequence = 1").status().code() == denied);
  CHECK(log.conn->Exec("DELETE FROM cantdo.ledger_tree WHERE sequence = 4").status().code() == denied);
  CHECK(log.conn->Exec("TRUNCATE cantdo.ledger_tree").status().code() == denied);
  CHECK_FALSE(owner->Exec("UPDATE cantdo.ledger_tree SET hashes = hashes WHERE sequence = 1").ok());
  CHECK_FALSE(owner->Exec("DELETE FROM cantdo.ledger_tree WHERE sequence = 4").ok());
  CHECK_FALSE(owner->Exec("TRUNCATE cantdo.ledger_tree").ok());
  // Rows must follow, be the right length and name a chained entry.
  CHECK(log.conn->Exec("INSERT INTO cantdo.ledger_tree VALUES (6, decode(repeat('00', 32), 'hex'))").status().code() ==
        denied);
  CHECK(log.conn->Exec("INSERT INTO cantdo.ledger_tree VALUES (5, decode(repeat('00', 32), 'hex'))").status().code() ==
        denied);  // no entry 5
  log.Append(1);  // entry 5 and its row, through the chainer
  REQUIRE(log.Checkpoint() == 5);
  CHECK(log.VerifyIn(log.SaveCheckpoint("c")).ok());
}
