// Prepared statements and deferred statements (libs/pg/connection.hpp):
// what they save, and that saving round trips never changes what a
// statement does, what commits, or which error a caller sees.

#include <catch2/catch.hpp>

#include "cantdo/base/status.hpp"
#include "cantdo/pg/pool.hpp"
#include "cantdo/pg/sql_state.hpp"
#include "cantdo/pg/transaction.hpp"
#include "pg_test_util.hpp"
#include "support/test_database.hpp"

namespace {

using cantdo::pg::Connection;
using cantdo::pg::Int64Param;
using cantdo::pg::Pool;
using cantdo::pg::RunInTransaction;
using cantdo::pg::TextParam;
using cantdo::pg::test::Ok;
using cantdo::pg::test::QueryInt;
using cantdo::testing::TestDatabase;

constexpr char kSelectById[] = "SELECT v FROM items WHERE id = $1";

struct Fixture {
  TestDatabase db;
  std::unique_ptr<Connection> conn = db.Connect();
  std::unique_ptr<Connection> other = db.Connect();
  Fixture() { Ok(other->ExecScript("CREATE TABLE items (id int PRIMARY KEY, v text NOT NULL)")); }
  int64_t Count() { return QueryInt(*other, "SELECT count(*) FROM items"); }
  int64_t Prepared(Connection& c) {
    return QueryInt(c, "SELECT count(*) FROM pg_prepared_statements WHERE statement = $1", {TextParam(kSelectById)});
  }
};

TEST_CASE("A statement with parameters is prepared once per connection, then runs in one round trip",
          "[integration][pg]") {
  Fixture f;
  Ok(f.other->Exec("INSERT INTO items VALUES (1, 'one')"));
  const uint64_t before = f.conn->round_trips();
  auto first = Ok(f.conn->Exec(kSelectById, {Int64Param(1)}));
  CHECK(Ok(first.GetString(0, 0)) == "one");
  CHECK(f.conn->round_trips() == before + 2);  // PREPARE, then EXECUTE
  auto second = Ok(f.conn->Exec(kSelectById, {Int64Param(1)}));
  CHECK(Ok(second.GetString(0, 0)) == "one");
  CHECK(f.conn->round_trips() == before + 3);
  CHECK(f.Prepared(*f.conn) == 1);
  // Another session sees nothing of it: prepared statements are per session.
  CHECK(f.Prepared(*f.other) == 0);
}

TEST_CASE("A prepared statement outlives the transaction that prepared it, even rolled back", "[integration][pg]") {
  Fixture f;
  Ok(f.conn->Exec("BEGIN"));
  Ok(f.conn->Exec(kSelectById, {Int64Param(1)}));
  Ok(f.conn->Exec("ROLLBACK"));
  CHECK(f.Prepared(*f.conn) == 1);
  const uint64_t before = f.conn->round_trips();
  Ok(f.conn->Exec(kSelectById, {Int64Param(1)}));
  CHECK(f.conn->round_trips() == before + 1);
}

TEST_CASE("A prepared statement whose table changed shape is prepared again", "[integration][pg]") {
  Fixture f;
  Ok(f.other->Exec("INSERT INTO items VALUES (1, 'one')"));
  constexpr char kStar[] = "SELECT * FROM items WHERE id = $1";
  CHECK(Ok(f.conn->Exec(kStar, {Int64Param(1)})).Columns() == 2);
  Ok(f.other->ExecScript("ALTER TABLE items ADD COLUMN w int NOT NULL DEFAULT 7"));
  SECTION("outside a transaction, the statement simply runs") {
    auto r = Ok(f.conn->Exec(kStar, {Int64Param(1)}));
    CHECK(r.Columns() == 3);
  }
  SECTION("inside a transaction, that transaction fails; the next one runs it") {
    Ok(f.conn->Exec("BEGIN"));
    auto failed = f.conn->Exec(kStar, {Int64Param(1)});
    REQUIRE_FALSE(failed.ok());
    Ok(f.conn->Exec("ROLLBACK"));
    CHECK(Ok(f.conn->Exec(kStar, {Int64Param(1)})).Columns() == 3);
  }
}

TEST_CASE("With prepared statements off, nothing is prepared", "[integration][pg]") {
  TestDatabase db;
  cantdo::pg::ConnectOptions options;
  options.prepare_statements = false;
  auto conn = Ok(Connection::Connect(db.Dsn(), absl::Seconds(5), options));
  Ok(conn->Exec("SELECT $1::int", {Int64Param(1)}));
  Ok(conn->Exec("SELECT $1::int", {Int64Param(1)}));
  CHECK(QueryInt(*conn, "SELECT count(*) FROM pg_prepared_statements") == 0);
}

TEST_CASE("Deferred statements go out, in order, with the next statement, in one round trip", "[integration][pg]") {
  Fixture f;
  const uint64_t before = f.conn->round_trips();
  Ok(f.conn->Defer("INSERT INTO items VALUES ($1, $2)", {Int64Param(1), TextParam("one")}));
  Ok(f.conn->Defer("UPDATE items SET v = v || $2 WHERE id = $1", {Int64Param(1), TextParam("+")}));
  CHECK(f.conn->round_trips() == before);
  CHECK(f.Count() == 0);  // nothing was sent yet
  auto r = Ok(f.conn->Exec(kSelectById, {Int64Param(1)}));
  CHECK(Ok(r.GetString(0, 0)) == "one+");
  CHECK(f.conn->round_trips() == before + 1);
  CHECK(f.conn->deferred_count() == 0);
  CHECK(f.Count() == 1);
}

TEST_CASE("A failing deferred statement stops the batch and is reported by the call that sent it",
          "[integration][pg]") {
  Fixture f;
  Ok(f.other->Exec("INSERT INTO items VALUES (2, 'two')"));
  Ok(f.conn->Defer("INSERT INTO items VALUES ($1, $2)", {Int64Param(1), TextParam("one")}));
  Ok(f.conn->Defer("INSERT INTO items VALUES ($1, $2)", {Int64Param(2), TextParam("again")}));  // duplicate key
  Ok(f.conn->Defer("INSERT INTO items VALUES ($1, $2)", {Int64Param(3), TextParam("three")}));
  auto r = f.conn->Exec("SELECT count(*) FROM items WHERE id = $1", {Int64Param(3)});
  REQUIRE_FALSE(r.ok());
  CHECK(r.status().code() == absl::StatusCode::kAlreadyExists);
  CHECK(cantdo::pg::SqlStateOf(r.status()) == "23505");
  // Outside a transaction the batch is one implicit transaction: the first
  // insert, which succeeded, is rolled back with it.
  CHECK(f.Count() == 1);
  CHECK(f.conn->transaction_state() == cantdo::pg::TransactionState::kIdle);
  // The connection is fine afterwards.
  CHECK(QueryInt(*f.conn, "SELECT count(*) FROM items") == 1);
}

TEST_CASE("ExecBatch runs several statements in one round trip and returns every result, in order",
          "[integration][pg]") {
  Fixture f;
  Ok(f.conn->Defer("INSERT INTO items VALUES ($1, $2)", {Int64Param(1), TextParam("one")}));
  const uint64_t before = f.conn->round_trips();
  auto results =
      Ok(f.conn->ExecBatch({{"INSERT INTO items VALUES ($1, $2) RETURNING id", {Int64Param(2), TextParam("two")}},
                            {kSelectById, {Int64Param(1)}},
                            {kSelectById, {Int64Param(2)}}}));
  CHECK(f.conn->round_trips() == before + 1);
  REQUIRE(results.size() == 3);
  CHECK(Ok(results[0].GetInt64(0, 0)) == 2);
  CHECK(Ok(results[1].GetString(0, 0)) == "one");
  CHECK(Ok(results[2].GetString(0, 0)) == "two");
  SECTION("an error stops the batch and nothing of it commits") {
    auto failed = f.conn->ExecBatch({{"INSERT INTO items VALUES ($1, $2)", {Int64Param(3), TextParam("three")}},
                                     {"INSERT INTO items VALUES ($1, $2)", {Int64Param(1), TextParam("dup")}}});
    CHECK(failed.status().code() == absl::StatusCode::kAlreadyExists);
    CHECK(f.Count() == 2);
  }
}

TEST_CASE("Flush sends the deferred statements, Discard drops them, a NUL is refused at once", "[integration][pg]") {
  Fixture f;
  Ok(f.conn->Defer("INSERT INTO items VALUES ($1, $2)", {Int64Param(1), TextParam("one")}));
  Ok(f.conn->Flush());
  CHECK(f.Count() == 1);
  Ok(f.conn->Flush());  // nothing queued: no round trip
  Ok(f.conn->Defer("INSERT INTO items VALUES ($1, $2)", {Int64Param(2), TextParam("two")}));
  f.conn->DiscardDeferred();
  Ok(f.conn->Flush());
  CHECK(f.Count() == 1);
  auto nul = f.conn->Defer("INSERT INTO items VALUES ($1, $2)", {Int64Param(3), std::string("a\0b", 3)});
  CHECK(nul.code() == absl::StatusCode::kInvalidArgument);
  CHECK(f.conn->deferred_count() == 0);
}

TEST_CASE("A pooled connection's unsent deferred statements never reach the next borrower", "[integration][pg]") {
  TestDatabase db;
  Ok(db.Connect()->ExecScript("CREATE TABLE items (id int PRIMARY KEY, v text NOT NULL)"));
  cantdo::pg::PoolOptions options;
  options.dsn = db.Dsn();
  options.max_size = 1;
  auto pool = Ok(Pool::Create(options));
  {
    auto conn = Ok(pool->Acquire(absl::InfiniteFuture()));
    Ok(conn->Defer("INSERT INTO items VALUES ($1, $2)", {Int64Param(1), TextParam("leaked")}));
  }
  auto conn = Ok(pool->Acquire(absl::InfiniteFuture()));
  CHECK(conn->deferred_count() == 0);
  CHECK(QueryInt(*conn, "SELECT count(*) FROM items") == 0);
}

TEST_CASE("A transaction of one read and deferred writes costs two round trips and commits them", "[integration][pg]") {
  Fixture f;
  Ok(f.other->Exec("INSERT INTO items VALUES (1, 'one')"));
  const uint64_t before = f.conn->round_trips();
  Ok(RunInTransaction(*f.conn, {}, [&](Connection& tx) -> absl::Status {
    CANTDO_ASSIGN_OR_RETURN(auto r, tx.Exec("SELECT v FROM items WHERE id = $1 FOR UPDATE", {Int64Param(1)}));
    CANTDO_ASSIGN_OR_RETURN(std::string v, r.GetString(0, 0));
    CANTDO_RETURN_IF_ERROR(tx.Defer("UPDATE items SET v = $2 WHERE id = $1", {Int64Param(1), TextParam(v + "!")}));
    return tx.Defer("INSERT INTO items VALUES ($1, $2)", {Int64Param(2), TextParam("two")});
  }));
  // PREPARE of the first statement the first time, then BEGIN+SELECT and
  // UPDATE+INSERT+COMMIT.
  CHECK(f.conn->round_trips() <= before + 3);
  CHECK(f.Count() == 2);
  CHECK(QueryInt(*f.other, "SELECT count(*) FROM items WHERE v = 'one!'") == 1);
}

TEST_CASE("Inside RunInTransaction the connection is in a transaction before its first statement",
          "[integration][pg]") {
  Fixture f;
  Ok(RunInTransaction(*f.conn, {}, [&](Connection& tx) -> absl::Status {
    CHECK(tx.transaction_state() == cantdo::pg::TransactionState::kInTransaction);
    return absl::OkStatus();
  }));
  CHECK(f.conn->transaction_state() == cantdo::pg::TransactionState::kIdle);
}

TEST_CASE("A deferred write that fails at COMMIT rolls the whole transaction back", "[integration][pg]") {
  Fixture f;
  Ok(f.other->Exec("INSERT INTO items VALUES (2, 'two')"));
  absl::Status st = RunInTransaction(*f.conn, {}, [&](Connection& tx) -> absl::Status {
    CANTDO_ASSIGN_OR_RETURN(auto r, tx.Exec("INSERT INTO items VALUES (1, 'one') RETURNING id"));
    (void)r;
    return tx.Defer("INSERT INTO items VALUES ($1, $2)", {Int64Param(2), TextParam("dup")});
  });
  CHECK(st.code() == absl::StatusCode::kAlreadyExists);
  CHECK(f.Count() == 1);  // the first insert went too
  CHECK(f.conn->transaction_state() == cantdo::pg::TransactionState::kIdle);
}

TEST_CASE("Writes deferred by a transaction that then fails are never sent", "[integration][pg]") {
  Fixture f;
  absl::Status st = RunInTransaction(*f.conn, {}, [&](Connection& tx) -> absl::Status {
    CANTDO_RETURN_IF_ERROR(tx.Defer("INSERT INTO items VALUES ($1, $2)", {Int64Param(1), TextParam("one")}));
    return absl::FailedPreconditionError("changed my mind");
  });
  CHECK(st.code() == absl::StatusCode::kFailedPrecondition);
  CHECK(f.conn->deferred_count() == 0);
  CHECK(f.Count() == 0);
  CHECK(f.conn->transaction_state() == cantdo::pg::TransactionState::kIdle);
}

TEST_CASE("A transaction on a connection whose backend died is retried on a fresh one", "[integration][pg]") {
  TestDatabase db;
  Ok(db.Connect()->ExecScript("CREATE TABLE items (id int PRIMARY KEY, v text NOT NULL)"));
  cantdo::pg::PoolOptions options;
  options.dsn = db.Dsn();
  options.max_size = 1;
  auto pool = Ok(Pool::Create(options));
  int pid = 0;
  {
    auto conn = Ok(pool->Acquire(absl::InfiniteFuture()));
    pid = conn->BackendPid();
  }
  auto admin = db.Connect();
  cantdo::pg::test::TerminateBackend(*admin, pid);
  int attempts = 0;
  Ok(RunInTransaction(*pool, {}, [&](Connection& tx) -> absl::Status {
    ++attempts;
    return tx.Exec("INSERT INTO items VALUES (1, 'one')").status();
  }));
  CHECK(attempts >= 1);
  CHECK(QueryInt(*admin, "SELECT count(*) FROM items") == 1);
}

}  // namespace
