#include <set>

#include <catch2/catch.hpp>

#include "cantdo/db/migrations.hpp"
#include "cantdo/pg/migrator.hpp"

namespace {

using cantdo::pg::Migration;
using cantdo::pg::ValidateMigrations;

TEST_CASE("Embedded migrations are ordered, unique and well named", "[unit][pg]") {
  const auto& all = cantdo::db::AllMigrations();
  REQUIRE_FALSE(all.empty());
  CHECK(ValidateMigrations(all).ok());
  for (size_t i = 1; i < all.size(); ++i) CHECK(all[i - 1].version < all[i].version);
  CHECK(all.front().version == 1);
  CHECK(all.front().name == "service_roles");
  CHECK(cantdo::db::LatestVersion() == all.back().version);
}

TEST_CASE("Embedded migration text is the file's exact content", "[unit][pg]") {
  const Migration& roles = cantdo::db::AllMigrations().front();
  CHECK(roles.sql.rfind("-- V0001: one least-privilege role per service", 0) == 0);
  CHECK(roles.sql.find("REVOKE ALL ON SCHEMA public FROM PUBLIC;") != std::string::npos);
  CHECK(roles.sql.back() == '\n');
}

TEST_CASE("Migration lists with bad versions or names are rejected", "[unit][pg]") {
  CHECK(ValidateMigrations({}).ok());
  CHECK(ValidateMigrations({{2, "b", ""}, {1, "a", ""}}).ok());  // order is the Migrator's job
  CHECK(ValidateMigrations({{1, "a", ""}, {1, "b", ""}}).code() == absl::StatusCode::kInvalidArgument);
  CHECK(ValidateMigrations({{0, "zero", ""}}).code() == absl::StatusCode::kInvalidArgument);
  CHECK(ValidateMigrations({{-3, "neg", ""}}).code() == absl::StatusCode::kInvalidArgument);
  CHECK(ValidateMigrations({{1, "", ""}}).code() == absl::StatusCode::kInvalidArgument);
  CHECK(ValidateMigrations({{1, "Has-Caps", ""}}).code() == absl::StatusCode::kInvalidArgument);
}

TEST_CASE("Migrator orders migrations by version", "[unit][pg]") {
  cantdo::pg::Migrator migrator({{3, "c", ""}, {1, "a", ""}, {2, "b", ""}});
  REQUIRE(migrator.migrations().size() == 3);
  CHECK(migrator.migrations()[0].version == 1);
  CHECK(migrator.migrations()[2].version == 3);
  CHECK(migrator.LatestVersion() == 3);
  CHECK(cantdo::pg::Migrator({}).LatestVersion() == 0);
}

TEST_CASE("Migration checksum is the SHA-256 hex of the SQL", "[unit][pg]") {
  CHECK(cantdo::pg::MigrationChecksum("") == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  CHECK(cantdo::pg::MigrationChecksum("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

}  // namespace

TEST_CASE("A migration's compatibility window is read from its leading comment block", "[unit][pg]") {
  using cantdo::pg::ParseCompatibility;
  auto strict = ParseCompatibility({16, "x", "-- V0016: something\nCREATE TABLE t (id int);\n"});
  REQUIRE(strict.ok());
  CHECK_FALSE(strict->declared);
  CHECK(strict->binaries_from == 16);
  CHECK(strict->requires_schema == 16);

  auto window = ParseCompatibility(
      {16, "x",
       "-- V0016: adds t\n--\n-- compatibility: binaries-from=V0012 requires=V0015\nCREATE TABLE t (id int);\n"});
  REQUIRE(window.ok());
  CHECK(window->declared);
  CHECK(window->binaries_from == 12);
  CHECK(window->requires_schema == 15);

  // Only the leading comment block counts: a line after the first statement is not a window.
  auto later =
      ParseCompatibility({16, "x", "CREATE TABLE t (id int);\n-- compatibility: binaries-from=V0012 requires=V0012\n"});
  REQUIRE(later.ok());
  CHECK_FALSE(later->declared);

  for (const char* bad : {"-- compatibility: binaries-from=V0012\n",                         // requires missing
                          "-- compatibility: binaries-from=12 requires=V0016\n",             // not a version
                          "-- compatibility: binaries-from=V0017 requires=V0016\n",          // reaches forward
                          "-- compatibility: binaries-from=V0012 requires=V0016 extra=1\n",  // unknown key
                          "-- compatibility: binaries-from=V0012 requires=V0016\n"
                          "-- compatibility: binaries-from=V0012 requires=V0016\n"}) {  // twice
    INFO(bad);
    auto parsed = ParseCompatibility({16, "x", bad});
    CHECK(parsed.status().code() == absl::StatusCode::kInvalidArgument);
    CHECK(parsed.status().message().find("V0016__x") != absl::string_view::npos);
    CHECK(ValidateMigrations({{16, "x", bad}}).code() == absl::StatusCode::kInvalidArgument);
  }
}
