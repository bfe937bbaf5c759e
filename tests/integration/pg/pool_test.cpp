#include <thread>

#include <catch2/catch.hpp>

#include "absl/synchronization/notification.h"
#include "cantdo/base/status.hpp"
#include "cantdo/pg/pool.hpp"
#include "pg_test_util.hpp"
#include "support/test_database.hpp"
#include "support/wait.hpp"

namespace {

using cantdo::pg::Pool;
using cantdo::pg::PoolOptions;
using cantdo::pg::test::Ok;
using cantdo::testing::TestDatabase;

std::unique_ptr<Pool> MakePool(const TestDatabase& db, int max_size) {
  PoolOptions options;
  options.dsn = db.Dsn();
  options.max_size = max_size;
  options.application_name = "cantdo-pool-test";
  return Ok(Pool::Create(options));
}

TEST_CASE("Pool exhaustion waits until the deadline, then DEADLINE_EXCEEDED", "[integration][pg]") {
  TestDatabase db;
  auto pool = MakePool(db, 1);
  auto held = Ok(pool->Acquire(absl::Now() + absl::Seconds(5)));

  const absl::Time start = absl::Now();
  auto second = pool->Acquire(start + absl::Milliseconds(300));
  const absl::Duration waited = absl::Now() - start;
  REQUIRE_FALSE(second.ok());
  CHECK(second.status().code() == absl::StatusCode::kDeadlineExceeded);
  CHECK(cantdo::GetReason(second.status()) == "POOL_EXHAUSTED");
  CHECK(waited >= absl::Milliseconds(290));
  CHECK(waited < absl::Seconds(3));
  CHECK(pool->Stats().open == 1);
}

TEST_CASE("Pool waiter gets the connection released before its deadline", "[integration][pg]") {
  TestDatabase db;
  auto pool = MakePool(db, 1);
  std::optional<cantdo::pg::PooledConnection> held = Ok(pool->Acquire(absl::Now() + absl::Seconds(5)));
  const int pid = held->get().BackendPid();

  bool waited = false;  // asserted after the join (Catch2 2 is not thread-safe)
  std::thread releaser([&] {
    // Release only once the main thread is blocked in Acquire.
    waited =
        cantdo::testing::WaitUntil([&] { return pool->Stats().waiters == 1; }, absl::Seconds(5), absl::Milliseconds(5));
    held.reset();
  });
  auto got = pool->Acquire(absl::Now() + absl::Seconds(10));
  releaser.join();
  CHECK(waited);
  REQUIRE(got.ok());
  CHECK((*got)->BackendPid() == pid);  // the same connection, reused
  CHECK((*got)->Ping().ok());
}

TEST_CASE("Pool never exceeds max_size under concurrent use", "[integration][pg]") {
  TestDatabase db;
  auto pool = MakePool(db, 3);
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 10; ++i) {
        auto conn = pool->Acquire(absl::Now() + absl::Seconds(20));
        if (!conn.ok() || !(*conn)->Exec("SELECT pg_sleep(0.005)").ok()) ++failures;
        if (pool->Stats().open > 3) ++failures;
      }
    });
  }
  for (auto& t : threads) t.join();
  CHECK(failures == 0);
  CHECK(pool->Stats().open <= 3);
  auto admin = db.Connect();
  CHECK(cantdo::pg::test::QueryInt(*admin,
                                   "SELECT count(*) FROM pg_stat_activity WHERE application_name = "
                                   "'cantdo-pool-test' AND datname = current_database()") <= 3);
}

TEST_CASE("A pooled connection whose backend died is replaced on the next acquire", "[integration][pg]") {
  TestDatabase db;
  auto pool = MakePool(db, 1);
  auto admin = db.Connect();
  int old_pid = 0;
  {
    auto conn = Ok(pool->Acquire(absl::Now() + absl::Seconds(5)));
    old_pid = conn->BackendPid();
  }
  cantdo::pg::test::TerminateBackend(*admin, old_pid);

  auto conn = Ok(pool->Acquire(absl::Now() + absl::Seconds(5)));
  CHECK(conn->BackendPid() != old_pid);
  CHECK(cantdo::pg::test::QueryInt(*conn, "SELECT 41 + 1") == 42);
  CHECK(pool->Stats().open == 1);
}

TEST_CASE("A connection returned broken or inside a transaction is not reused", "[integration][pg]") {
  TestDatabase db;
  auto pool = MakePool(db, 1);
  auto admin = db.Connect();
  int pid = 0;
  {
    auto conn = Ok(pool->Acquire(absl::Now() + absl::Seconds(5)));
    pid = conn->BackendPid();
    Ok(conn->Exec("BEGIN"));
    Ok(conn->Exec("CREATE TABLE leaked (id int)"));
  }  // returned mid-transaction
  {
    auto conn = Ok(pool->Acquire(absl::Now() + absl::Seconds(5)));
    CHECK(conn->BackendPid() != pid);
    CHECK(conn->transaction_state() == cantdo::pg::TransactionState::kIdle);
    // The abandoned transaction was rolled back, not committed.
    CHECK(cantdo::pg::test::QueryInt(*conn, "SELECT count(*) FROM pg_tables WHERE tablename = 'leaked'") == 0);
    pid = conn->BackendPid();
    cantdo::pg::test::TerminateBackend(*admin, pid);
    CHECK(conn->Exec("SELECT 1").status().code() == absl::StatusCode::kUnavailable);
  }  // returned broken
  auto conn = Ok(pool->Acquire(absl::Now() + absl::Seconds(5)));
  CHECK(conn->BackendPid() != pid);
  CHECK(conn->Ping().ok());
}

TEST_CASE("Pool creation against an unreachable server fails fast", "[integration][pg]") {
  PoolOptions options;
  options.dsn = "postgresql://postgres@127.0.0.1:1/postgres";
  options.connect_timeout = absl::Seconds(2);
  auto pool = Pool::Create(options);
  REQUIRE_FALSE(pool.ok());
  CHECK(pool.status().code() == absl::StatusCode::kUnavailable);
}

}  // namespace
