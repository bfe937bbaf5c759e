// A witness (cantdo-ledger witness, run by an auditor on a schedule) keeps
// the newest checkpoint it has seen and moves on only to a checkpoint that
// provably extends it. An authority that lost its checkpoint directory and
// signed a rewritten ledger, a second tree of the same size, and a shrunk
// ledger are all refused, and the kept checkpoint stays as it was.
// Also: the signing key is nowhere in the database.
#include "ledger_log.hpp"

using namespace cantdo::testing;

namespace {

ToolResult Witness(LedgerLog& log, const std::string& checkpoint_dir) {
  return log.Tool({"--dsn=" + log.db.Dsn(), "--checkpoint=" + checkpoint_dir + "/checkpoint",
                   "--verifier-key=" + log.signer.VerifierKey(), "--state=" + log.dir.path() + "/witness.state",
                   "witness"});
}

// An authority restarted with an empty checkpoint directory but the same
// key: it signs whatever the database now holds.
std::string FreshCheckpoint(LedgerLog& log, const std::string& name) {
  const std::string dir = log.dir.path() + "/" + name;
  auto cp = cantdo::authority::LedgerCheckpointer::Create(log.signer, dir);
  REQUIRE(cp.ok());
  auto made = (*cp)->MaybeCheckpoint(*log.conn);
  REQUIRE(made.ok());
  return dir;
}

}  // namespace

TEST_CASE("a witness accepts only checkpoints that extend the one it keeps", "[security][ledger_checkpoint]") {
  LedgerLog log;
  const std::string dir = log.dir.path() + "/checkpoints";
  log.Append(30);
  log.Checkpoint();
  auto first = Witness(log, dir);
  INFO(first.out);
  CHECK(first.exit == std::optional<int>(0));
  CHECK(first.out.find("first checkpoint kept: 30 entries") != std::string::npos);
  log.Append(12);
  log.Checkpoint();
  auto grown = Witness(log, dir);
  INFO(grown.out);
  CHECK(grown.exit == std::optional<int>(0));
  CHECK(grown.out.find("30 -> 42 entries, consistent") != std::string::npos);

  SECTION("a rewritten history, signed by an authority that lost its checkpoints") {
    log.Rewrite(17, "platform:mallory", /*rebuild_tree=*/true);
    log.Append(3);
    auto refused = Witness(log, FreshCheckpoint(log, "fresh"));
    INFO(refused.out);
    CHECK(refused.exit == std::optional<int>(1));
    CHECK(refused.out.find("witness REFUSED: fork: checkpoint 45 does not extend checkpoint 42") != std::string::npos);
  }
  SECTION("a second tree of the same size") {
    log.Rewrite(17, "platform:mallory", /*rebuild_tree=*/true);
    auto refused = Witness(log, FreshCheckpoint(log, "fresh"));
    INFO(refused.out);
    CHECK(refused.exit == std::optional<int>(1));
    CHECK(refused.out.find("witness REFUSED: fork: two signed checkpoints of 42 entries") != std::string::npos);
  }
  SECTION("a shorter ledger") {
    log.Superuser("DELETE FROM cantdo.ledger WHERE sequence > 40");
    log.Superuser("DELETE FROM cantdo.ledger_tree WHERE sequence > 40");
    auto refused = Witness(log, FreshCheckpoint(log, "fresh"));
    INFO(refused.out);
    CHECK(refused.exit == std::optional<int>(1));
    CHECK(refused.out.find("witness REFUSED: rollback") != std::string::npos);
  }
  // Whatever it refused, the witness still keeps checkpoint 42.
  auto again = Witness(log, dir);
  CHECK(again.exit == std::optional<int>(0));
  CHECK(again.out.find("still 42 entries") != std::string::npos);
}

TEST_CASE("the checkpoint signing key is nowhere in the database", "[security][ledger_checkpoint]") {
  LedgerLog log;
  log.Append(5);
  log.Checkpoint();
  const std::string signer_key = log.signer.SignerKey();
  // The seed, as the key file holds it (base64 after the last '+').
  const std::string seed_b64 = signer_key.substr(signer_key.rfind('+') + 1);
  auto su = log.db.Connect();
  auto tables = su->Exec(
      "SELECT format('%I.%I', table_schema, table_name) FROM information_schema.tables "
      "WHERE table_schema NOT IN ('pg_catalog', 'information_schema') AND table_type = 'BASE TABLE'");
  REQUIRE(tables.ok());
  REQUIRE(tables->Rows() > 5);
  for (int i = 0; i < tables->Rows(); ++i) {
    const std::string t = *tables->GetString(i, 0);
    INFO(t);
    auto hit = su->Exec("SELECT count(*) FROM " + t +
                            " x WHERE strpos(x::text, $1) > 0 OR strpos(x::text, $2) > 0 "
                            "OR strpos(encode(convert_to(x::text, 'UTF8'), 'base64'), $2) > 0",
                        {signer_key, seed_b64});
    REQUIRE(hit.ok());
    CHECK(*hit->GetInt64(0, 0) == 0);
  }
  // Nor in the server's settings.
  auto settings = su->Exec("SELECT count(*) FROM pg_settings WHERE strpos(setting, $1) > 0", {seed_b64});
  REQUIRE(settings.ok());
  CHECK(*settings->GetInt64(0, 0) == 0);
}
