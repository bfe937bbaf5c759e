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
  CHECK(cantdo::pg::MigrationChecksum("") ==
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  CHECK(cantdo::pg::MigrationChecksum("abc") ==
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

}  // namespace
