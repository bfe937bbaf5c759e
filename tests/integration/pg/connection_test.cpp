#include <catch2/catch.hpp>

#include "absl/strings/str_cat.h"
#include "cantdo/base/status.hpp"
#include "cantdo/pg/connection.hpp"
#include "cantdo/pg/dsn.hpp"
#include "cantdo/pg/sql_state.hpp"
#include "pg_test_util.hpp"
#include "support/port_reservation.hpp"
#include "support/test_database.hpp"

namespace {

using cantdo::pg::Connection;
using cantdo::pg::Int64Param;
using cantdo::pg::NullParam;
using cantdo::pg::TextParam;
using cantdo::pg::test::Ok;
using cantdo::testing::TestDatabase;

TEST_CASE("Connecting to a closed port is UNAVAILABLE", "[integration][pg]") {
  const cantdo::testing::PortReservation closed;  // bound, never listening
  auto conn = Connection::Connect(absl::StrCat("postgresql://postgres@127.0.0.1:", closed.port(), "/postgres"),
                                  absl::Seconds(5));
  REQUIRE_FALSE(conn.ok());
  INFO(conn.status().ToString());
  CHECK(conn.status().code() == absl::StatusCode::kUnavailable);
  CHECK(conn.status().message().find("refused") != absl::string_view::npos);
}

TEST_CASE("Connecting to a missing database is UNAVAILABLE, not a crash", "[integration][pg]") {
  TestDatabase db;
  auto dsn = Ok(cantdo::pg::ReplaceDatabase(db.Dsn(), db.Name() + "_nope"));
  auto conn = Connection::Connect(dsn, absl::Seconds(5));
  REQUIRE_FALSE(conn.ok());
  CHECK(conn.status().code() == absl::StatusCode::kUnavailable);
}

TEST_CASE("Unique violation is ALREADY_EXISTS with the sqlstate attached", "[integration][pg]") {
  TestDatabase db;
  auto conn = db.Connect();
  Ok(conn->ExecScript("CREATE TABLE items (id bigint PRIMARY KEY, name text)"));
  Ok(conn->Exec("INSERT INTO items VALUES ($1, $2)", {Int64Param(1), TextParam("a")}));
  auto dup = conn->Exec("INSERT INTO items VALUES ($1, $2)", {Int64Param(1), TextParam("b")});
  REQUIRE_FALSE(dup.ok());
  INFO(dup.status().ToString());
  CHECK(dup.status().code() == absl::StatusCode::kAlreadyExists);
  CHECK(cantdo::GetMetadata(dup.status()).at("sqlstate") == "23505");
  CHECK(dup.status().message().find("items_pkey") != absl::string_view::npos);
  // The connection is still usable after an error.
  CHECK(cantdo::pg::test::QueryInt(*conn, "SELECT count(*) FROM items") == 1);
}

TEST_CASE("Real server errors map through SqlStateToStatus", "[integration][pg]") {
  TestDatabase db(TestDatabase::kMigrated);
  auto conn = db.Connect();
  Ok(conn->ExecScript(R"sql(
    CREATE TABLE parent (id int PRIMARY KEY);
    CREATE TABLE child (id int PRIMARY KEY, parent_id int NOT NULL REFERENCES parent,
                        qty int CHECK (qty > 0));
    CREATE TABLE cantdo.secret (v int);
  )sql"));
  auto code_of = [&](absl::string_view sql, std::vector<cantdo::pg::Param> params = {}) {
    auto result = conn->Exec(sql, params);
    INFO(sql << " -> " << result.status().ToString());
    REQUIRE_FALSE(result.ok());
    return result.status().code();
  };
  using Code = absl::StatusCode;
  CHECK(code_of("INSERT INTO child VALUES (1, 99, 1)") == Code::kFailedPrecondition);
  CHECK(code_of("INSERT INTO child VALUES (1, $1, 1)", {NullParam()}) == Code::kInvalidArgument);
  Ok(conn->Exec("INSERT INTO parent VALUES (1)"));
  CHECK(code_of("INSERT INTO child VALUES (1, 1, -5)") == Code::kInvalidArgument);
  CHECK(code_of("SELECT 1 / $1::int", {Int64Param(0)}) == Code::kInvalidArgument);
  CHECK(code_of("SELECT $1::int", {TextParam("not a number")}) == Code::kInvalidArgument);
  CHECK(code_of("DO $$ BEGIN RAISE EXCEPTION 'nope'; END $$") == Code::kFailedPrecondition);
  CHECK(code_of("SELECT * FROM no_such_table") == Code::kInternal);
  Ok(conn->ExecScript("SET statement_timeout = '50ms'"));
  CHECK(code_of("SELECT pg_sleep(5)") == Code::kDeadlineExceeded);
  Ok(conn->ExecScript("RESET statement_timeout; SET ROLE cantdo_gateway"));
  CHECK(code_of("SELECT * FROM cantdo.secret") == Code::kPermissionDenied);
}

TEST_CASE("Parameters are passed as values, never spliced into SQL", "[integration][pg]") {
  TestDatabase db;
  auto conn = db.Connect();
  Ok(conn->ExecScript("CREATE TABLE notes (id int, body text)"));
  const std::string hostile = "x'); DROP TABLE notes; --";
  Ok(conn->Exec("INSERT INTO notes VALUES ($1, $2)", {Int64Param(1), TextParam(hostile)}));
  Ok(conn->Exec("INSERT INTO notes VALUES ($1, $2)", {Int64Param(2), NullParam()}));
  auto rows = Ok(conn->Exec("SELECT id, body, body IS NULL AS missing FROM notes ORDER BY id"));
  REQUIRE(rows.Rows() == 2);
  CHECK(Ok(rows.GetString(0, "body")) == hostile);
  CHECK(Ok(rows.GetOptionalString(1, "body")) == std::nullopt);
  CHECK(rows.IsNull(1, 1));
  CHECK(Ok(rows.GetBool(1, "missing")));
  CHECK(Ok(rows.GetInt64(1, "id")) == 2);
  CHECK(rows.GetString(1, "body").status().code() == absl::StatusCode::kFailedPrecondition);
  CHECK(rows.GetString(5, 0).status().code() == absl::StatusCode::kOutOfRange);
  CHECK(rows.GetInt64(0, "body").status().code() == absl::StatusCode::kInvalidArgument);
  CHECK(rows.GetString(0, "nope").status().code() == absl::StatusCode::kNotFound);
  auto updated = Ok(conn->Exec("UPDATE notes SET body = $1", {TextParam("y")}));
  CHECK(updated.CommandTuples() == 2);
  CHECK(conn->Exec("SELECT $1::text", {TextParam(std::string("a\0b", 3))}).status().code() ==
        absl::StatusCode::kInvalidArgument);
}

TEST_CASE("A connection whose backend was terminated reports UNAVAILABLE", "[integration][pg]") {
  TestDatabase db;
  auto conn = db.Connect();
  auto admin = db.Connect();
  CHECK(conn->IsHealthy());
  CHECK(conn->Probe().ok());
  cantdo::pg::test::TerminateBackend(*admin, conn->BackendPid());
  CHECK(conn->Probe().code() == absl::StatusCode::kUnavailable);
  auto result = conn->Exec("SELECT 1");
  REQUIRE_FALSE(result.ok());
  CHECK(result.status().code() == absl::StatusCode::kUnavailable);
  CHECK_FALSE(conn->IsHealthy());
}

}  // namespace
