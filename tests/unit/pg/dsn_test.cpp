#include <catch2/catch.hpp>

#include "cantdo/pg/connection.hpp"
#include "cantdo/pg/dsn.hpp"

namespace {

TEST_CASE("ReplaceDatabase points a URI or key=value DSN at another database", "[unit][pg]") {
  auto from_uri = cantdo::pg::ReplaceDatabase("postgresql://postgres@127.0.0.1:5433/postgres", "t1");
  REQUIRE(from_uri.ok());
  CHECK(from_uri->find("dbname='t1'") != std::string::npos);
  CHECK(from_uri->find("port='5433'") != std::string::npos);
  CHECK(from_uri->find("host='127.0.0.1'") != std::string::npos);
  CHECK(from_uri->find("postgres'") != std::string::npos);  // user kept

  auto from_kv = cantdo::pg::ReplaceDatabase("host=h dbname=old password='it\\'s'", "new db");
  REQUIRE(from_kv.ok());
  CHECK(from_kv->find("old") == std::string::npos);
  CHECK(from_kv->find("dbname='new db'") != std::string::npos);
  CHECK(from_kv->find("password='it\\'s'") != std::string::npos);

  CHECK(cantdo::pg::ReplaceDatabase("postgresql://[broken", "x").status().code() == absl::StatusCode::kInvalidArgument);
}

TEST_CASE("DsnSetting reads one keyword of either form, empty when absent", "[unit][pg]") {
  CHECK(*cantdo::pg::DsnSetting("host=h sslmode=verify-full sslrootcert=/ca.crt", "sslmode") == "verify-full");
  CHECK(*cantdo::pg::DsnSetting("postgresql://u@h/db?sslmode=require", "sslmode") == "require");
  CHECK(cantdo::pg::DsnSetting("host=h dbname=x", "sslmode")->empty());
  CHECK(cantdo::pg::DsnSetting("host='unterminated", "sslmode").status().code() == absl::StatusCode::kInvalidArgument);
}

TEST_CASE("RedactDsn hides the password", "[unit][pg]") {
  std::string redacted = cantdo::pg::RedactDsn("postgresql://u:s3cret@h/db");
  CHECK(redacted.find("s3cret") == std::string::npos);
  CHECK(redacted.find("password=***") != std::string::npos);
}

TEST_CASE("Parameter helpers produce Postgres text format", "[unit][pg]") {
  CHECK(cantdo::pg::Int64Param(-42) == "-42");
  CHECK(cantdo::pg::BoolParam(true) == "true");
  CHECK(cantdo::pg::BoolParam(false) == "false");
  CHECK(cantdo::pg::TextParam("x'y") == "x'y");
  CHECK_FALSE(cantdo::pg::NullParam().has_value());
}

}  // namespace
