#include <atomic>
#include <thread>

#include <catch2/catch.hpp>

#include "cantdo/base/status.hpp"
#include "cantdo/pg/sql_state.hpp"
#include "cantdo/pg/transaction.hpp"
#include "pg_test_util.hpp"
#include "support/test_database.hpp"

namespace {

using cantdo::pg::Connection;
using cantdo::pg::IsolationLevel;
using cantdo::pg::Pool;
using cantdo::pg::RunInTransaction;
using cantdo::pg::TxOptions;
using cantdo::pg::test::Ok;
using cantdo::pg::test::QueryInt;
using cantdo::testing::TestDatabase;

struct Fixture {
  TestDatabase db;
  std::unique_ptr<Pool> pool;
  std::unique_ptr<Connection> other;  // the concurrent transaction's session

  Fixture() {
    cantdo::pg::PoolOptions options;
    options.dsn = db.Dsn();
    options.max_size = 2;
    pool = Ok(Pool::Create(options));
    other = db.Connect();
    Ok(
        other->ExecScript("CREATE TABLE accounts (id int PRIMARY KEY, balance int NOT NULL);"
                          "INSERT INTO accounts VALUES (1, 100), (2, 100);"));
  }
};

TxOptions Serializable() {
  TxOptions options;
  options.isolation = IsolationLevel::kSerializable;
  return options;
}

TEST_CASE("A concurrent update's serialization failure is retried until it commits", "[integration][pg]") {
  Fixture f;
  int attempts = 0;
  absl::Status status = RunInTransaction(*f.pool, Serializable(), [&](Connection& conn) -> absl::Status {
    ++attempts;
    CANTDO_ASSIGN_OR_RETURN(auto read, conn.Exec("SELECT balance FROM accounts WHERE id = 1"));
    (void)read;  // the snapshot is taken here
    if (attempts == 1) {
      // A second serializable transaction updates the same row and commits.
      Ok(
          f.other->ExecScript("BEGIN ISOLATION LEVEL SERIALIZABLE;"
                              "UPDATE accounts SET balance = balance + 10 WHERE id = 1;"
                              "COMMIT;"));
    }
    CANTDO_ASSIGN_OR_RETURN(auto updated, conn.Exec("UPDATE accounts SET balance = balance * 2 WHERE id = 1"));
    (void)updated;
    return absl::OkStatus();
  });
  INFO(status.ToString());
  REQUIRE(status.ok());
  CHECK(attempts == 2);
  // The retry saw the other transaction's write: (100 + 10) * 2.
  CHECK(QueryInt(*f.other, "SELECT balance FROM accounts WHERE id = 1") == 220);
}

TEST_CASE("Write skew detected at serializable isolation is retried", "[integration][pg]") {
  Fixture f;
  int attempts = 0;
  // Rule: total balance stays >= 0. Each side checks the sum, then withdraws
  // from a different row: only serializable isolation catches the skew.
  auto result = RunInTransaction(*f.pool, Serializable(), [&](Connection& conn) -> absl::StatusOr<int64_t> {
    ++attempts;
    CANTDO_ASSIGN_OR_RETURN(auto sum, conn.Exec("SELECT sum(balance) FROM accounts"));
    CANTDO_ASSIGN_OR_RETURN(int64_t total, sum.GetInt64(0, 0));
    if (attempts == 1) {
      Ok(
          f.other->ExecScript("BEGIN ISOLATION LEVEL SERIALIZABLE;"
                              "SELECT sum(balance) FROM accounts;"
                              "UPDATE accounts SET balance = balance - 150 WHERE id = 2;"
                              "COMMIT;"));
    }
    if (total < 150) return cantdo::FailedPrecondition("INSUFFICIENT_FUNDS", "not enough");
    CANTDO_ASSIGN_OR_RETURN(auto updated, conn.Exec("UPDATE accounts SET balance = balance - 150 WHERE id = 1"));
    (void)updated;
    return total;
  });
  CHECK(attempts == 2);
  // The retry saw total 50 and refused: the rule held.
  REQUIRE_FALSE(result.ok());
  CHECK(cantdo::GetReason(result.status()) == "INSUFFICIENT_FUNDS");
  CHECK(QueryInt(*f.other, "SELECT sum(balance) FROM accounts") == 50);
}

TEST_CASE("A deadlock victim is retried and commits", "[integration][pg]") {
  Fixture f;
  auto monitor = f.db.Connect();
  const int other_pid = f.other->BackendPid();
  // The other session must not be the one that detects the deadlock.
  Ok(f.other->ExecScript("SET deadlock_timeout = '30s'"));
  std::thread other_thread;
  std::atomic<bool> other_ok{false};
  int attempts = 0;

  absl::Status status = RunInTransaction(*f.pool, TxOptions{}, [&](Connection& conn) -> absl::Status {
    ++attempts;
    CANTDO_RETURN_IF_ERROR(conn.ExecScript("SET LOCAL deadlock_timeout = '100ms'"));
    CANTDO_RETURN_IF_ERROR(conn.Exec("UPDATE accounts SET balance = balance + 1 WHERE id = 1").status());
    if (attempts == 1) {
      other_thread = std::thread([&] {
        // Locks row 2, then waits for our row 1.
        other_ok = f.other
                       ->ExecScript(
                           "BEGIN;"
                           "UPDATE accounts SET balance = balance + 1000 WHERE id = 2;"
                           "UPDATE accounts SET balance = balance + 1000 WHERE id = 1;"
                           "COMMIT;")
                       .ok();
      });
      // Wait until the other session is blocked on our row lock.
      for (int i = 0; i < 500; ++i) {
        if (QueryInt(*monitor, "SELECT count(*) FROM pg_stat_activity WHERE pid = $1 AND wait_event_type = 'Lock'",
                     {cantdo::pg::Int64Param(other_pid)}) == 1) {
          break;
        }
        absl::SleepFor(absl::Milliseconds(10));
      }
    }
    // Closes the cycle on the first attempt: 40P01 for us after 100ms.
    CANTDO_RETURN_IF_ERROR(conn.Exec("UPDATE accounts SET balance = balance + 1 WHERE id = 2").status());
    return absl::OkStatus();
  });
  if (other_thread.joinable()) other_thread.join();
  INFO(status.ToString());
  REQUIRE(status.ok());
  CHECK(attempts == 2);
  CHECK(other_ok);
  CHECK(QueryInt(*monitor, "SELECT balance FROM accounts WHERE id = 1") == 1101);
  CHECK(QueryInt(*monitor, "SELECT balance FROM accounts WHERE id = 2") == 1101);
}

TEST_CASE("Retries stop after max_attempts with the last error", "[integration][pg]") {
  Fixture f;
  int attempts = 0;
  TxOptions options = Serializable();
  options.max_attempts = 3;
  absl::Status status = RunInTransaction(*f.pool, options, [&](Connection& conn) -> absl::Status {
    ++attempts;
    CANTDO_RETURN_IF_ERROR(conn.Exec("SELECT balance FROM accounts WHERE id = 1").status());
    Ok(f.other->Exec("UPDATE accounts SET balance = balance + 1 WHERE id = 1"));
    return conn.Exec("UPDATE accounts SET balance = 0 WHERE id = 1").status();
  });
  CHECK(attempts == 3);
  CHECK(status.code() == absl::StatusCode::kAborted);
  CHECK(cantdo::pg::SqlStateOf(status) == "40001");
  CHECK(QueryInt(*f.other, "SELECT balance FROM accounts WHERE id = 1") == 103);
}

TEST_CASE("Other errors roll back and are not retried", "[integration][pg]") {
  Fixture f;
  int attempts = 0;
  absl::Status status = RunInTransaction(*f.pool, TxOptions{}, [&](Connection& conn) -> absl::Status {
    ++attempts;
    CANTDO_RETURN_IF_ERROR(conn.Exec("UPDATE accounts SET balance = 0 WHERE id = 1").status());
    return conn.Exec("INSERT INTO accounts VALUES (2, 0)").status();  // duplicate key
  });
  CHECK(attempts == 1);
  CHECK(status.code() == absl::StatusCode::kAlreadyExists);
  CHECK(QueryInt(*f.other, "SELECT balance FROM accounts WHERE id = 1") == 100);

  // Swallowing a failed statement does not commit half a transaction.
  status = RunInTransaction(*f.pool, TxOptions{}, [&](Connection& conn) -> absl::Status {
    (void)conn.Exec("UPDATE accounts SET balance = 0 WHERE id = 1");
    (void)conn.Exec("SELECT 1/0");
    return absl::OkStatus();
  });
  CHECK(status.code() == absl::StatusCode::kInternal);
  CHECK(QueryInt(*f.other, "SELECT balance FROM accounts WHERE id = 1") == 100);
}

TEST_CASE("Read-only transactions refuse writes, the deadline bounds statements", "[integration][pg]") {
  Fixture f;
  TxOptions read_only;
  read_only.read_only = true;
  absl::Status status = RunInTransaction(*f.pool, read_only, [&](Connection& conn) -> absl::Status {
    return conn.Exec("UPDATE accounts SET balance = 0").status();
  });
  CHECK_FALSE(status.ok());
  CHECK(cantdo::pg::SqlStateOf(status) == "25006");  // read_only_sql_transaction

  TxOptions bounded;
  bounded.deadline = absl::Now() + absl::Milliseconds(300);
  const absl::Time start = absl::Now();
  status = RunInTransaction(
      *f.pool, bounded, [&](Connection& conn) -> absl::Status { return conn.Exec("SELECT pg_sleep(10)").status(); });
  CHECK(status.code() == absl::StatusCode::kDeadlineExceeded);
  CHECK(absl::Now() - start < absl::Seconds(5));
}

}  // namespace
