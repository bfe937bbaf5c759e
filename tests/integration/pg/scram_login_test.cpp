#include <catch2/catch.hpp>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "cantdo/base/ids.hpp"
#include "cantdo/pg/connection.hpp"
#include "cantdo/pg/dsn.hpp"
#include "cantdo/pg/scram.hpp"
#include "pg_test_util.hpp"
#include "support/test_database.hpp"

namespace {

using cantdo::pg::Connection;
using cantdo::pg::test::Ok;
using cantdo::testing::TestDatabase;

// scripts/pg's cluster trusts loopback except for members of this group
// (and of the demo platform's credential groups): they log in by
// SCRAM-SHA-256 only, so tests exercise released logins' passwords.
constexpr char kPasswordGroup[] = "cantdo_scram_login";

absl::StatusOr<std::unique_ptr<Connection>> LogIn(const std::string& user, const std::string& password) {
  std::string dsn = Ok(cantdo::pg::ReplaceDatabase(TestDatabase::AdminDsn(), "postgres"));
  return Connection::Connect(absl::StrCat(dsn, " user=", user, " password=", password), absl::Seconds(10));
}

}  // namespace

TEST_CASE("a role created with a SCRAM secret computed by ScramSha256Secret logs in with its password only") {
  auto admin = TestDatabase::ConnectAdmin();
  // The group may exist from an earlier run or a concurrent test.
  (void)admin->Exec(absl::StrCat("CREATE ROLE ", kPasswordGroup, " NOLOGIN"));
  const std::string role = absl::StrCat("cantdo_scram_", absl::AsciiStrToLower(cantdo::NewSecret(6)));
  const std::string quoted = Ok(admin->QuoteIdentifier(role));
  const std::string password = cantdo::NewSecret(24);
  for (int iterations : {1, 4096}) {
    const std::string secret = Ok(cantdo::pg::ScramSha256Secret(password, cantdo::NewSecret(16), iterations));
    Ok(admin->Exec(absl::StrCat("DROP ROLE IF EXISTS ", quoted)).status());
    Ok(admin->Exec(absl::StrCat("CREATE ROLE ", quoted, " LOGIN PASSWORD '", secret, "' IN ROLE ", kPasswordGroup))
           .status());
    // The server stored our secret as given, not a hash of it as a password.
    CHECK(Ok(Ok(admin->Exec("SELECT rolpassword FROM pg_authid WHERE rolname = $1", {role})).GetString(0, 0)) ==
          secret);

    INFO("iterations " << iterations);
    auto right = LogIn(role, password);
    INFO(right.status().ToString());
    CHECK(right.ok());
    auto wrong = LogIn(role, cantdo::NewSecret(24));
    // Accepted would mean the cluster does not ask this group for a password
    // (scripts/pg's pg_hba.conf), and the test would prove nothing.
    CHECK_FALSE(wrong.ok());
    CHECK_THAT(std::string(wrong.status().message()), Catch::Contains("password authentication failed"));
  }
  Ok(admin->Exec(absl::StrCat("DROP ROLE IF EXISTS ", quoted)).status());
}
