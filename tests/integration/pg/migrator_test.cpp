#include <set>
#include <thread>

#include <catch2/catch.hpp>

#include "cantdo/base/status.hpp"
#include "cantdo/db/migrations.hpp"
#include "cantdo/pg/migrator.hpp"
#include "pg_test_util.hpp"
#include "support/test_database.hpp"

namespace {

using cantdo::pg::Migration;
using cantdo::pg::Migrator;
using cantdo::pg::test::Ok;
using cantdo::pg::test::QueryInt;
using cantdo::testing::TestDatabase;

// Advisory locks held in this test's database (pg_locks spans the cluster,
// where other tests migrate concurrently).
int64_t AdvisoryLocksHere(cantdo::pg::Connection& conn) {
  return QueryInt(conn,
                  "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND database = "
                  "(SELECT oid FROM pg_database WHERE datname = current_database())");
}

std::vector<Migration> Sample() {
  return {
      {1, "create_things", "CREATE TABLE things (id int PRIMARY KEY);\nINSERT INTO things VALUES (1);"},
      // Slow enough that concurrent runners really overlap.
      {2, "add_name", "SELECT pg_sleep(0.3);\nALTER TABLE things ADD COLUMN name text;"},
      {3, "index_name", "CREATE INDEX things_name ON things (name);"},
  };
}

TEST_CASE("Migrator applies every migration once, a second run is a no-op", "[integration][pg]") {
  TestDatabase db;
  auto conn = db.Connect();
  Migrator migrator(Sample());

  auto first = Ok(migrator.Apply(*conn));
  CHECK(first.from_version == 0);
  CHECK(first.to_version == 3);
  CHECK(first.applied == std::vector<int>{1, 2, 3});
  CHECK(QueryInt(*conn, "SELECT count(*) FROM things WHERE name IS NULL") == 1);
  auto rows = Ok(conn->Exec("SELECT name, checksum, applied_by FROM schema_migrations WHERE version = 2"));
  REQUIRE(rows.Rows() == 1);
  CHECK(Ok(rows.GetString(0, "name")) == "add_name");
  CHECK(Ok(rows.GetString(0, "checksum")) == cantdo::pg::MigrationChecksum(Sample()[1].sql));
  CHECK(Ok(rows.GetString(0, "applied_by")) == "postgres");

  auto second = Ok(migrator.Apply(*conn));
  CHECK(second.applied.empty());
  CHECK(second.from_version == 3);
  CHECK(second.to_version == 3);
  CHECK(QueryInt(*conn, "SELECT count(*) FROM schema_migrations") == 3);
  // The advisory lock was released.
  CHECK(AdvisoryLocksHere(*conn) == 0);

  // A later binary with one more migration applies just that one.
  auto more = Sample();
  more.push_back({4, "drop_index", "DROP INDEX things_name;"});
  auto third = Ok(Migrator(more).Apply(*conn));
  CHECK(third.applied == std::vector<int>{4});
}

TEST_CASE("Two concurrent migrators serialise and apply each migration once", "[integration][pg]") {
  TestDatabase db;
  auto a = db.Connect();
  auto b = db.Connect();
  Migrator migrator(Sample());
  absl::StatusOr<cantdo::pg::MigrationReport> report_a, report_b;
  std::thread ta([&] { report_a = migrator.Apply(*a); });
  std::thread tb([&] { report_b = migrator.Apply(*b); });
  ta.join();
  tb.join();
  INFO(report_a.status().ToString() << " / " << report_b.status().ToString());
  REQUIRE(report_a.ok());
  REQUIRE(report_b.ok());
  // One did all the work, the other found nothing to do.
  std::vector<int> all = report_a->applied;
  all.insert(all.end(), report_b->applied.begin(), report_b->applied.end());
  CHECK(all == std::vector<int>{1, 2, 3});
  CHECK((report_a->applied.empty() || report_b->applied.empty()));
  auto conn = db.Connect();
  CHECK(QueryInt(*conn, "SELECT count(*) FROM schema_migrations") == 3);
  CHECK(QueryInt(*conn, "SELECT count(*) FROM things") == 1);
}

TEST_CASE("Migrator refuses a database newer than it knows", "[integration][pg]") {
  TestDatabase db;
  auto conn = db.Connect();
  Migrator migrator(Sample());
  Ok(migrator.Apply(*conn));
  Ok(conn->Exec("INSERT INTO schema_migrations (version, name, checksum) VALUES (9999, 'future', 'x')"));

  auto more = Sample();
  more.push_back({4, "never", "CREATE TABLE never_created (id int);"});
  auto report = Migrator(more).Apply(*conn);
  REQUIRE_FALSE(report.ok());
  CHECK(report.status().code() == absl::StatusCode::kFailedPrecondition);
  CHECK(cantdo::GetReason(report.status()) == "SCHEMA_TOO_NEW");
  CHECK(report.status().message().find("9999") != absl::string_view::npos);
  CHECK(QueryInt(*conn, "SELECT count(*) FROM pg_tables WHERE tablename = 'never_created'") == 0);
  CHECK(AdvisoryLocksHere(*conn) == 0);
}

TEST_CASE("Migrator detects an applied migration whose SQL changed", "[integration][pg]") {
  TestDatabase db;
  auto conn = db.Connect();
  Ok(Migrator(Sample()).Apply(*conn));
  auto edited = Sample();
  edited[0].sql += "\n-- a harmless-looking edit";
  auto report = Migrator(edited).Apply(*conn);
  REQUIRE_FALSE(report.ok());
  CHECK(report.status().code() == absl::StatusCode::kFailedPrecondition);
  CHECK(cantdo::GetReason(report.status()) == "MIGRATION_CHECKSUM_MISMATCH");
  CHECK(cantdo::GetMetadata(report.status()).at("version") == "1");

  auto state = Ok(Migrator(edited).Inspect(*conn));
  REQUIRE(state.applied.size() == 3);
  CHECK_FALSE(state.applied[0].matches);
  CHECK(state.applied[1].matches);
}

TEST_CASE("Migrator refuses gaps it cannot fill", "[integration][pg]") {
  TestDatabase db;
  auto conn = db.Connect();
  const Migration one{1, "one", "CREATE TABLE one (id int);"};
  const Migration two{2, "two", "CREATE TABLE two (id int);"};
  const Migration three{3, "three", "CREATE TABLE three (id int);"};
  Ok(Migrator({one, three}).Apply(*conn));
  auto report = Migrator({one, two, three}).Apply(*conn);  // 2 appears below 3
  REQUIRE_FALSE(report.ok());
  CHECK(cantdo::GetReason(report.status()) == "MIGRATION_OUT_OF_ORDER");

  CHECK(QueryInt(*conn, "SELECT count(*) FROM pg_tables WHERE tablename = 'two'") == 0);
  auto unknown = Migrator({two, three}).Apply(*conn);  // binary lacks 1
  REQUIRE_FALSE(unknown.ok());
  CHECK(cantdo::GetReason(unknown.status()) == "MIGRATION_UNKNOWN");
}

TEST_CASE("A failing migration leaves nothing half applied", "[integration][pg]") {
  TestDatabase db;
  auto conn = db.Connect();
  auto broken = Sample();
  broken[1].sql = "CREATE TABLE half (id int);\nALTER TABLE no_such_table ADD COLUMN x int;";
  auto report = Migrator(broken).Apply(*conn);
  REQUIRE_FALSE(report.ok());
  INFO(report.status().ToString());
  CHECK(report.status().message().find("V0002__add_name") != absl::string_view::npos);
  CHECK(cantdo::GetMetadata(report.status()).at("sqlstate") == "42P01");
  CHECK(QueryInt(*conn, "SELECT max(version) FROM schema_migrations") == 1);
  CHECK(QueryInt(*conn, "SELECT count(*) FROM pg_tables WHERE tablename = 'half'") == 0);
  CHECK(conn->transaction_state() == cantdo::pg::TransactionState::kIdle);
  CHECK(AdvisoryLocksHere(*conn) == 0);

  // A migration that tries to manage its own transaction is rejected.
  auto sneaky = Sample();
  sneaky[1].sql = "COMMIT; CREATE TABLE sneaky (id int);";
  report = Migrator(sneaky).Apply(*conn);
  REQUIRE_FALSE(report.ok());
  CHECK(QueryInt(*conn, "SELECT max(version) FROM schema_migrations") == 1);
  CHECK(conn->transaction_state() == cantdo::pg::TransactionState::kIdle);
}

TEST_CASE("CheckCurrent reports behind and ahead with both versions", "[integration][pg]") {
  TestDatabase db;
  auto conn = db.Connect();
  absl::Status empty = Migrator::CheckCurrent(*conn, 3);
  CHECK(cantdo::GetReason(empty) == "SCHEMA_NOT_CURRENT");

  Ok(Migrator({Sample()[0]}).Apply(*conn));
  absl::Status behind = Migrator::CheckCurrent(*conn, 3);
  CHECK(behind.code() == absl::StatusCode::kFailedPrecondition);
  CHECK(cantdo::GetReason(behind) == "SCHEMA_NOT_CURRENT");
  CHECK(behind.message().find("version 1") != absl::string_view::npos);
  CHECK(behind.message().find("version 3") != absl::string_view::npos);

  Ok(Migrator(Sample()).Apply(*conn));
  CHECK(Migrator::CheckCurrent(*conn, 3).ok());

  absl::Status ahead = Migrator::CheckCurrent(*conn, 2);
  CHECK(ahead.code() == absl::StatusCode::kFailedPrecondition);
  CHECK(cantdo::GetReason(ahead) == "SCHEMA_TOO_NEW");
  CHECK(ahead.message().find("3") != absl::string_view::npos);
  CHECK(ahead.message().find("2") != absl::string_view::npos);
}

TEST_CASE("The embedded migrations create the service roles and lock down public", "[integration][pg]") {
  TestDatabase db(TestDatabase::kMigrated);
  auto conn = db.Connect();
  CHECK(Migrator::CheckCurrent(*conn, cantdo::db::LatestVersion()).ok());
  CHECK(QueryInt(*conn,
                 "SELECT count(*) FROM pg_roles WHERE NOT rolcanlogin AND rolname IN "
                 "('cantdo_gateway', 'cantdo_authority', 'cantdo_worker', 'cantdo_bridge')") == 4);
  for (const char* role : {"cantdo_gateway", "cantdo_authority", "cantdo_worker", "cantdo_bridge"}) {
    INFO(role);
    auto usage = Ok(conn->Exec("SELECT has_schema_privilege($1, 'cantdo', 'USAGE'), "
                               "has_schema_privilege($1, 'public', 'CREATE'), "
                               "has_table_privilege($1, 'public.schema_migrations', 'SELECT'), "
                               "has_table_privilege($1, 'public.schema_migrations', 'INSERT,UPDATE,DELETE')",
                               {cantdo::pg::TextParam(role)}));
    CHECK(Ok(usage.GetBool(0, 0)));
    CHECK_FALSE(Ok(usage.GetBool(0, 1)));
    // Readiness reads the migration record; only the migrator writes it.
    CHECK(Ok(usage.GetBool(0, 2)));
    CHECK_FALSE(Ok(usage.GetBool(0, 3)));
  }
  // Applying again (as every database in the cluster does) is harmless.
  CHECK(Ok(Migrator(cantdo::db::AllMigrations()).Apply(*conn)).applied.empty());
}

TEST_CASE("Many databases run the role migration at once", "[integration][pg]") {
  // Roles are cluster-wide: concurrent first runs must not trip over each other.
  std::vector<std::unique_ptr<TestDatabase>> dbs;
  for (int i = 0; i < 4; ++i) dbs.push_back(std::make_unique<TestDatabase>());
  auto admin = TestDatabase::ConnectAdmin();
  // Start from a cluster without the roles, so the runs really race to create them.
  // (Another test process may create them meanwhile; that is the point.)
  std::vector<absl::Status> results(dbs.size());
  std::vector<std::thread> threads;
  for (size_t i = 0; i < dbs.size(); ++i) {
    threads.emplace_back([&, i] {
      auto conn = cantdo::pg::Connection::Connect(dbs[i]->Dsn(), absl::Seconds(10));
      results[i] = conn.ok() ? Migrator(cantdo::db::AllMigrations()).Apply(**conn).status() : conn.status();
    });
  }
  for (auto& t : threads) t.join();
  for (const auto& status : results) {
    INFO(status.ToString());
    CHECK(status.ok());
  }
}

}  // namespace
