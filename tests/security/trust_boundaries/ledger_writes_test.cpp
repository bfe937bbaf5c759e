// Ledger entries enter through one path (issue 18, part 3): a deciding
// transaction inserts an entry pending, and the chainer gives it the next
// sequence and its hashes. The authority's role could INSERT rows with any
// sequence and hash: a row with sequence 10^9 broke verification for good.

#include "absl/strings/str_cat.h"
#include "authority/ledger.hpp"
#include "cantdo/pg/transaction.hpp"
#include "support/login_role.hpp"
#include "support/test_database.hpp"

using namespace cantdo::testing;
namespace cv1 = cantdo::common::v1;
using cantdo::authority::Ledger;

namespace {

constexpr char kGenesis[] = "repeat('0', 64)";

int64_t AppendPending(cantdo::pg::Connection& c, const std::string& actor) {
  cantdo::authority::LedgerRecord rec;
  rec.kind = cv1::LEDGER_EVENT_KIND_DECISION;
  rec.actor = actor;
  auto id = cantdo::pg::RunInTransaction(
      c, {}, [&](cantdo::pg::Connection& tx) { return Ledger::Append(tx, rec, absl::Now()); });
  INFO(id.status().ToString());
  REQUIRE(id.ok());
  return *id;
}

}  // namespace

TEST_CASE("no one writes a ledger entry's sequence or hashes but the chainer, and the chain survives the attempts",
          "[security][trust_boundaries]") {
  TestDatabase db(TestDatabase::kMigrated);
  LoginRole authority(db, "cantdo_authority");
  auto conn = cantdo::pg::Connection::Connect(authority.dsn(), absl::Seconds(5));
  REQUIRE(conn.ok());
  auto& c = **conn;
  auto owner = db.Connect();
  AppendPending(c, "spiffe://cantdo/worker");
  REQUIRE(Ledger::ChainAll(c).ok());

  // The attack as it was: the authority's login inserts an entry far ahead.
  const std::string far_ahead = absl::StrCat(
      "INSERT INTO cantdo.ledger (sequence, time_us, kind, actor, prev_hash, hash) "
      "VALUES (1000000000, 1, 'DECISION', 'spiffe://cantdo/worker', ",
      kGenesis, ", ", kGenesis, ")");
  for (auto* who : {&c, owner.get()}) {
    const absl::Status st = who->Exec(far_ahead).status();
    INFO((who == &c ? "as cantdo_authority: " : "as the owner: ") << st.ToString());
    CHECK(st.code() == absl::StatusCode::kPermissionDenied);
  }
  // Nor may an insert name any one of the chain columns, or the next
  // sequence that would be right.
  for (const std::string columns : {"sequence", "prev_hash", "hash"}) {
    const std::string value = columns == "sequence" ? "2" : kGenesis;
    for (auto* who : {&c, owner.get()}) {
      const absl::Status st = who->Exec(absl::StrCat("INSERT INTO cantdo.ledger (time_us, kind, actor, ", columns,
                                                     ") VALUES (1, 'DECISION', 'x', ", value, ")"))
                                  .status();
      INFO(columns << (who == &c ? " as cantdo_authority: " : " as the owner: ") << st.ToString());
      CHECK(st.code() == absl::StatusCode::kPermissionDenied);
    }
  }

  // A pending entry cannot be given a place in the chain out of turn, nor
  // a link that does not follow its predecessor.
  const std::string pending = std::to_string(AppendPending(c, "spiffe://cantdo/gateway"));
  const std::string head_hash = "(SELECT hash FROM cantdo.ledger WHERE sequence = 1)";
  for (const std::string& set : {absl::StrCat("sequence = 1000000000, prev_hash = ", head_hash, ", hash = ", kGenesis),
                                 absl::StrCat("sequence = 3, prev_hash = ", head_hash, ", hash = ", kGenesis),
                                 absl::StrCat("sequence = 2, prev_hash = ", kGenesis, ", hash = ", kGenesis),
                                 absl::StrCat("sequence = 2, prev_hash = ", head_hash, ", hash = 'not a hash'")}) {
    for (auto* who : {&c, owner.get()}) {
      const absl::Status st =
          who->Exec(absl::StrCat("UPDATE cantdo.ledger SET ", set, " WHERE entry_id = ", pending)).status();
      INFO(set << (who == &c ? " as cantdo_authority: " : " as the owner: ") << st.ToString());
      CHECK(st.code() == absl::StatusCode::kPermissionDenied);
    }
  }

  // The one path still works, and the chain verifies from 1 to the head.
  auto chained = Ledger::ChainAll(c);
  INFO(chained.status().ToString());
  REQUIRE(chained.ok());
  CHECK(*chained == 1);
  auto v = Ledger::Verify(c, 0, 0, absl::Now());
  REQUIRE(v.ok());
  INFO(v->DebugString());
  CHECK(v->ok());
  CHECK(v->entries_checked() == 2);
  CHECK(v->head_sequence() == 2);
}
