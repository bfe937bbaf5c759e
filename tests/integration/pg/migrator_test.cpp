#include <algorithm>
#include <fstream>
#include <set>
#include <sstream>
#include <thread>

#include <catch2/catch.hpp>

#include "cantdo/base/status.hpp"
#include "cantdo/db/migrations.hpp"
#include "cantdo/pg/migrator.hpp"
#include "pg_test_util.hpp"
#include "support/child_process.hpp"
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
    auto usage =
        Ok(conn->Exec("SELECT has_schema_privilege($1, 'cantdo', 'USAGE'), "
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

// ---- compatibility windows (docs/database.md, "Compatibility window") ----

namespace {

std::vector<Migration> Upto(const std::vector<Migration>& all, int version) {
  std::vector<Migration> out;
  for (const Migration& m : all) {
    if (m.version <= version) out.push_back(m);
  }
  return out;
}

TEST_CASE("CheckCompatible: old binaries serve on an expand-only schema, not on one without a window",
          "[integration][pg]") {
  TestDatabase db;
  auto conn = db.Connect();
  auto v3 = Sample();
  Ok(Migrator(v3).Apply(*conn));
  Migrator release_3(v3);
  CHECK(release_3.CheckCompatible(*conn).ok());

  // The next release adds a table and says release 3's binaries still work.
  auto v4 = v3;
  v4.push_back({4, "expand", "-- compatibility: binaries-from=V0003 requires=V0004\nCREATE TABLE extra (id int);"});
  Ok(Migrator(v4).Apply(*conn));
  CHECK(QueryInt(*conn, "SELECT binaries_from FROM schema_migrations WHERE version = 4") == 3);
  CHECK(release_3.CheckCompatible(*conn).ok());  // old pods keep serving
  CHECK(Migrator(v4).CheckCompatible(*conn).ok());

  // A contract step with no window closes it: release 3 must be gone first.
  auto v5 = v4;
  v5.push_back({5, "contract", "ALTER TABLE things DROP COLUMN name;"});
  Ok(Migrator(v5).Apply(*conn));
  absl::Status too_new = release_3.CheckCompatible(*conn);
  CHECK(cantdo::GetReason(too_new) == "SCHEMA_TOO_NEW");
  CHECK(too_new.message().find("V0005__contract") != absl::string_view::npos);
  CHECK(Migrator(v4).CheckCompatible(*conn).code() == absl::StatusCode::kFailedPrecondition);
  CHECK(Migrator(v5).CheckCompatible(*conn).ok());
}

TEST_CASE("CheckCompatible: new binaries run on the previous schema only if their migrations say so",
          "[integration][pg]") {
  TestDatabase db;
  auto conn = db.Connect();
  Ok(Migrator(Sample()).Apply(*conn));  // the database is at 3

  auto tolerant = Sample();
  tolerant.push_back({4, "optional", "-- compatibility: binaries-from=V0003 requires=V0003\nCREATE TABLE o (id int);"});
  CHECK(Migrator(tolerant).CheckCompatible(*conn).ok());

  auto needs = Sample();
  needs.push_back({4, "needed", "-- compatibility: binaries-from=V0003 requires=V0004\nCREATE TABLE n (id int);"});
  absl::Status behind = Migrator(needs).CheckCompatible(*conn);
  CHECK(cantdo::GetReason(behind) == "SCHEMA_NOT_CURRENT");
  CHECK(behind.message().find("V0004__needed") != absl::string_view::npos);

  // A schema_migrations made before windows existed (no binaries_from
  // column) reads as strict, and the next `up` adds the column.
  Ok(conn->Exec("ALTER TABLE schema_migrations DROP COLUMN binaries_from"));
  CHECK(Migrator(Sample()).CheckCompatible(*conn).ok());
  CHECK(cantdo::GetReason(Migrator({Sample()[0], Sample()[1]}).CheckCompatible(*conn)) == "SCHEMA_TOO_NEW");
  Ok(Migrator(tolerant).Apply(*conn));
  CHECK(QueryInt(*conn, "SELECT binaries_from FROM schema_migrations WHERE version = 4") == 3);
  CHECK(QueryInt(*conn, "SELECT count(*) FROM schema_migrations WHERE binaries_from IS NULL") == 3);
}

// db/releases.txt: (release, newest migration), oldest first.
std::vector<std::pair<std::string, int>> Releases() {
  std::ifstream in(cantdo::testing::SourceDir() + "/db/releases.txt");
  REQUIRE(in);
  std::vector<std::pair<std::string, int>> out;
  for (std::string line; std::getline(in, line);) {
    if (line.empty() || line[0] == '#') continue;
    std::istringstream fields(line);
    std::string release, newest;
    fields >> release >> newest;
    REQUIRE(newest.size() == 5);
    out.emplace_back(release, std::stoi(newest.substr(1)));
  }
  REQUIRE_FALSE(out.empty());
  return out;
}

TEST_CASE("every migration keeps the previous release's binaries serving", "[integration][pg]") {
  const auto& all = cantdo::db::AllMigrations();
  const auto releases = Releases();
  const int previous = releases.back().second;
  INFO("previous release " << releases.back().first << " ends at V" << previous);
  // Declared, and wide enough: binaries of the previous release keep
  // serving on every later schema while the next release rolls out.
  for (const Migration& m : all) {
    if (m.version <= previous) continue;
    INFO("V" << m.version << "__" << m.name);
    auto window = cantdo::pg::ParseCompatibility(m);
    REQUIRE(window.ok());
    CHECK(window->declared);  // add "-- compatibility: binaries-from=V... requires=V..." (docs/database.md)
    CHECK(window->binaries_from <= previous);
  }

  // The previous release's expectations against the newest schema, on a
  // real database: exactly what its pods' readiness checks.
  TestDatabase db(TestDatabase::kMigrated);
  auto conn = db.Connect();
  for (const auto& [release, newest] : releases) {
    INFO("release " << release << " (V" << newest << ") against V" << cantdo::db::LatestVersion());
    const bool later_windows_admit_it = std::all_of(all.begin(), all.end(), [&, newest = newest](const Migration& m) {
      return m.version <= newest || cantdo::pg::ParseCompatibility(m)->binaries_from <= newest;
    });
    absl::Status st = Migrator(Upto(all, newest)).CheckCompatible(*conn);
    INFO(st.ToString());
    CHECK(st.ok() == later_windows_admit_it);
    if (newest == previous) CHECK(st.ok());
  }
}

}  // namespace
