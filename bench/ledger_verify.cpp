// ledger_verify: how long an auditor's check of the ledger against a saved
// checkpoint takes (cantdo-ledger verify --checkpoint, whose work is
// Ledger::VerifyCheckpoint: read every entry, recompute its chain hash and
// its Merkle leaf, the root of the checkpoint's tree, and the stored tree's).
//
// Setup, not measured: a fresh database with --entries ledger entries,
// inserted pending in bulk by SQL (content like the authority's: a grant
// claim with a detail object), chained and added to the tree by the
// authority's chainer (Ledger::ChainPending, timed separately), and one
// checkpoint signed over them. Then --reps verifications, timed.
//
// Output: one JSON document on stdout; progress on stderr.

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <iostream>
#include <string>

#include <nlohmann/json.hpp>

#include "absl/strings/str_cat.h"
#include "authority/ledger.hpp"
#include "authority/ledger_checkpointer.hpp"
#include "cantdo/pg/connection.hpp"
#include "support/bench_support.hpp"
#include "support/test_pki.hpp"

namespace {

using cantdo::bench::Check;
using cantdo::bench::Connect;
using cantdo::bench::Die;
using cantdo::bench::FreshMigratedDatabase;
using cantdo::bench::ParseOrExit;

using Clock = std::chrono::steady_clock;
constexpr char kDatabase[] = "cantdo_bench_ledger_verify";

double Seconds(Clock::time_point since) { return std::chrono::duration<double>(Clock::now() - since).count(); }

}  // namespace

int main(int argc, char** argv) {
  std::string admin_dsn;
  int entries_wanted = 1000000;
  int reps = 3;
  cantdo::Options flags("ledger_verify", "verifying ledger entries against a signed checkpoint");
  flags.String("dsn", &admin_dsn, "the benchmarks' PostgreSQL server (admin DSN)", true)
      .Int("entries", &entries_wanted, "ledger entries written, then verified")
      .Int("reps", &reps, "verifications measured")
      .Check([&] { return entries_wanted >= 1 && reps >= 1 ? "" : "--entries and --reps must be at least 1"; });
  ParseOrExit(flags, argc, argv);
  const int64_t entries = entries_wanted;
  auto conn_owner = Connect(FreshMigratedDatabase(admin_dsn, kDatabase));
  cantdo::pg::Connection& conn = *conn_owner;

  auto t = Clock::now();
  constexpr int64_t kChunk = 100000;
  for (int64_t lo = 0; lo < entries; lo += kChunk) {
    Check(
        conn.Exec("INSERT INTO cantdo.ledger (time_us, kind, actor, action, resource, parameters_hash, workflow_id, "
                  "run_id, step, grant_id, approval_id, decision, reason, policy_version, policy_hash, detail, "
                  "acting_service) "
                  "SELECT 1764352800000000 + i, 'GRANT_CLAIMED', 'spiffe://cantdo/worker', 'refund.issue', '', "
                  "encode(sha256(int8send(i)), 'hex'), 'wf-' || (i / 5), 'run-1', 'refund', md5('g' || i)::uuid::text, "
                  "md5('a' || i)::uuid::text, '', '', 'policy-1', repeat('a', 64), '{\"i\":' || i || '}', "
                  "'spiffe://cantdo/worker' FROM generate_series($1::bigint, $2::bigint) AS i",
                  {cantdo::pg::Int64Param(lo), cantdo::pg::Int64Param(std::min(entries, lo + kChunk) - 1)})
            .status(),
        "insert entries");
  }
  const double insert_s = Seconds(t);
  std::cerr << "ledger_verify: " << entries << " entries inserted in " << insert_s << " s\n";
  t = Clock::now();
  int64_t chained = 0;
  while (true) {
    auto n = cantdo::authority::Ledger::ChainPending(conn, 10000);
    Check(n.status(), "chain");
    if (*n == 0) break;
    chained += *n;
  }
  const double chain_s = Seconds(t);
  std::cerr << "ledger_verify: chained and added to the tree in " << chain_s << " s\n";
  Check(conn.Exec("VACUUM ANALYZE cantdo.ledger").status(), "vacuum");
  Check(conn.Exec("VACUUM ANALYZE cantdo.ledger_tree").status(), "vacuum");

  cantdo::testing::TempDir dir;
  auto key = cantdo::tlog::NoteSigner::Generate("cantdo.bench/ledger");
  Check(key.status(), "key");
  auto checkpointer = cantdo::authority::LedgerCheckpointer::Create(*key, dir.path());
  Check(checkpointer.status(), "checkpointer");
  t = Clock::now();
  auto made = (*checkpointer)->MaybeCheckpoint(conn);
  Check(made.status(), "checkpoint");
  const double checkpoint_ms = Seconds(t) * 1000;
  const cantdo::tlog::Checkpoint cp = (*checkpointer)->Latest();
  if (cp.size != entries) Die("the checkpoint does not cover every entry");

  nlohmann::json runs = nlohmann::json::array();
  std::vector<double> times;
  for (int r = 0; r < reps; ++r) {
    t = Clock::now();
    auto v = cantdo::authority::Ledger::VerifyCheckpoint(conn, cp, absl::Now());
    const double s = Seconds(t);
    Check(v.status(), "verify");
    if (!v->ok() || v->checkpoint_size() != entries) Die("verification failed: " + v->message());
    std::cerr << "ledger_verify: verified " << entries << " entries against checkpoint " << cp.size << " in " << s
              << " s\n";
    times.push_back(s);
    runs.push_back(s);
  }
  std::sort(times.begin(), times.end());
  nlohmann::json out = {{"benchmark", "ledger_verify"},
                        {"entries", entries},
                        {"chained", chained},
                        {"insert_s", insert_s},
                        {"chain_s", chain_s},
                        {"checkpoint_ms", checkpoint_ms},
                        {"verify_s", runs},
                        {"verify_median_s", times[times.size() / 2]},
                        {"entries_per_s", static_cast<double>(entries) / times[times.size() / 2]}};
  std::cout << out.dump(2) << std::endl;
  Check(Connect(admin_dsn)->Exec(absl::StrCat("DROP DATABASE IF EXISTS ", kDatabase, " WITH (FORCE)")).status(),
        "drop");
  return 0;
}
