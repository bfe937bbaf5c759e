#pragma once
// A ledger in its own database, written the authority's way (pending
// entries, chained by Ledger::ChainAll), with a checkpointer signing its
// Merkle tree into a directory, and the moves of an attacker who holds the
// database's superuser and the authority's code but not its signing key.

#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "authority/ledger.hpp"
#include "authority/ledger_checkpointer.hpp"
#include "cantdo/pg/transaction.hpp"
#include "support/child_process.hpp"
#include "support/login_role.hpp"
#include "support/test_database.hpp"
#include "support/test_pki.hpp"

namespace cantdo::testing {

namespace cv1 = cantdo::common::v1;

// What an auditor runs: cantdo-ledger against the database.
struct ToolResult {
  std::optional<int> exit;
  std::string out;
};

class LedgerLog {
 public:
  LedgerLog()
      : db(TestDatabase::kMigrated),
        authority(db, "cantdo_authority"),
        signer(*tlog::NoteSigner::Generate("cantdo.test/ledger")) {
    auto c = pg::Connection::Connect(authority.dsn(), absl::Seconds(5));
    REQUIRE(c.ok());
    conn = *std::move(c);
    auto cp = authority::LedgerCheckpointer::Create(signer, dir.path() + "/checkpoints");
    REQUIRE(cp.ok());
    checkpointer = *std::move(cp);
  }

  // Appends `n` entries as the authority does (each its own deciding
  // transaction), then chains them.
  void Append(int n) {
    for (int i = 0; i < n; ++i) {
      authority::LedgerRecord rec;
      rec.kind = i % 3 == 0 ? cv1::LEDGER_EVENT_KIND_GRANT_CLAIMED : cv1::LEDGER_EVENT_KIND_DECISION;
      rec.actor = "spiffe://cantdo/worker";
      rec.action = "refund.issue";
      rec.grant_id = absl::StrCat("grant-", appended_);
      rec.detail["i"] = appended_++;
      auto st = pg::RunInTransaction(
          *conn, {}, [&](pg::Connection& tx) { return authority::Ledger::Append(tx, rec, absl::Now()).status(); });
      REQUIRE(st.ok());
    }
    REQUIRE(authority::Ledger::ChainAll(*conn).ok());
  }

  // Signs a checkpoint of the tree as it is; returns its size.
  int64_t Checkpoint() {
    auto made = checkpointer->MaybeCheckpoint(*conn);
    INFO(made.status().ToString());
    REQUIRE(made.ok());
    return checkpointer->Latest().size;
  }

  // The auditor keeps a copy of the newest checkpoint, elsewhere (and of
  // the leaf hashes it covers, as `<name>.leaves`).
  std::string SaveCheckpoint(const std::string& name) {
    const std::string path = dir.path() + "/" + name;
    std::filesystem::copy_file(dir.path() + "/checkpoints/checkpoint", path,
                               std::filesystem::copy_options::overwrite_existing);
    std::filesystem::copy_file(dir.path() + "/checkpoints/leaf-hashes", path + ".leaves",
                               std::filesystem::copy_options::overwrite_existing);
    return path;
  }

  // Runs SQL as the superuser with triggers off.
  void Superuser(const std::string& sql) {
    auto su = db.Connect();
    REQUIRE(su->Exec("SET session_replication_role = replica").ok());
    auto r = su->Exec(sql);
    INFO(sql << ": " << r.status().ToString());
    REQUIRE(r.ok());
  }

  // The attack of issue 19: edit the entry at `sequence` and recompute the
  // chain of it and of every entry after it, with the authority's own code
  // (they are made pending again and rechained). With `rebuild_tree` the
  // attacker rebuilds the Merkle tree over the result too; without, the
  // tree is left as it was.
  void Rewrite(int64_t sequence, const std::string& new_actor, bool rebuild_tree) {
    const std::string s = absl::StrCat(sequence);
    Superuser("CREATE TABLE public.tree_before AS SELECT * FROM cantdo.ledger_tree");
    Superuser("UPDATE cantdo.ledger SET actor = '" + new_actor + "' WHERE sequence = " + s);
    Superuser("UPDATE cantdo.ledger SET sequence = NULL, prev_hash = NULL, hash = NULL WHERE sequence >= " + s);
    Superuser("DELETE FROM cantdo.ledger_tree WHERE sequence >= " + s);
    REQUIRE(authority::Ledger::ChainAll(*conn).ok());
    if (!rebuild_tree) {
      Superuser("DELETE FROM cantdo.ledger_tree");
      Superuser("INSERT INTO cantdo.ledger_tree SELECT * FROM public.tree_before");
    }
    Superuser("DROP TABLE public.tree_before");
  }

  // cantdo-ledger verify [--checkpoint=FILE] as an auditor would run it.
  ToolResult Tool(std::vector<std::string> args) {
    std::vector<std::string> argv = {BuildDir() + "/tools/ledger/cantdo-ledger"};
    argv.insert(argv.end(), args.begin(), args.end());
    ChildProcess p(argv, {}, dir.path() + "/tool-" + std::to_string(++tool_runs_) + ".log");
    ToolResult r;
    r.exit = p.Wait(absl::Seconds(60));
    r.out = p.Log();
    return r;
  }
  ToolResult VerifyWith(const std::string& checkpoint, bool with_leaves = false) {
    std::vector<std::string> args = {"--dsn=" + db.Dsn(), "--checkpoint=" + checkpoint,
                                     "--verifier-key=" + signer.VerifierKey(), "verify"};
    if (with_leaves) args.push_back("--leaf-hashes=" + checkpoint + ".leaves");
    return Tool(args);
  }

  cv1::LedgerVerification VerifyIn(const std::string& checkpoint_file, bool with_leaves = false) {
    std::ifstream in(checkpoint_file);
    std::stringstream ss;
    ss << in.rdbuf();
    auto verifier = tlog::NoteVerifier::Parse(signer.VerifierKey());
    auto cp = tlog::OpenCheckpoint(ss.str(), *verifier);
    REQUIRE(cp.ok());
    std::vector<tlog::Hash> leaves;
    if (with_leaves) {
      std::ifstream l(checkpoint_file + ".leaves", std::ios::binary);
      tlog::Hash h;
      while (l.read(reinterpret_cast<char*>(h.data()), 32)) leaves.push_back(h);
      REQUIRE(static_cast<int64_t>(leaves.size()) >= cp->size);
    }
    auto v = authority::Ledger::VerifyCheckpoint(*conn, *cp, absl::Now(), with_leaves ? &leaves : nullptr);
    REQUIRE(v.ok());
    return *v;
  }

  TestDatabase db;
  LoginRole authority;
  TempDir dir;
  tlog::NoteSigner signer;
  std::unique_ptr<pg::Connection> conn;
  std::unique_ptr<authority::LedgerCheckpointer> checkpointer;

 private:
  int appended_ = 0;
  int tool_runs_ = 0;
};

}  // namespace cantdo::testing
