#include "support/test_database.hpp"

#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <random>

#include <catch2/catch.hpp>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "cantdo/db/migrations.hpp"
#include "cantdo/pg/dsn.hpp"
#include "cantdo/pg/migrator.hpp"

namespace cantdo::testing {
namespace {

constexpr absl::Duration kConnectTimeout = absl::Seconds(10);

std::string UniqueName() {
  static std::atomic<int> counter{0};
  std::random_device rd;
  return absl::StrFormat("cantdo_test_%d_%d_%08x", static_cast<int>(::getpid()), counter++,
                         static_cast<uint32_t>(rd()));
}

}  // namespace

std::string TestDatabase::AdminDsn() {
  const char* dsn = std::getenv("CANTDO_TEST_PG_DSN");
  if (dsn == nullptr || *dsn == '\0') {
    FAIL(
        "CANTDO_TEST_PG_DSN is not set. Integration tests need the project's PostgreSQL: run "
        "`scripts/pg start && eval \"$(scripts/pg env)\"` (or ./scripts/test, which does this).");
  }
  return dsn;
}

std::unique_ptr<pg::Connection> TestDatabase::ConnectAdmin() {
  std::string dsn = AdminDsn();
  auto conn = pg::Connection::Connect(dsn, kConnectTimeout, pg::ConnectOptions{"cantdo-tests"});
  if (!conn.ok()) {
    FAIL("cannot connect to the test server (CANTDO_TEST_PG_DSN="
         << pg::RedactDsn(dsn) << "): " << conn.status().ToString() << "; is `scripts/pg start` running?");
  }
  return *std::move(conn);
}

TestDatabase::TestDatabase(Schema schema) : name_(UniqueName()) {
  auto admin = ConnectAdmin();
  auto quoted = admin->QuoteIdentifier(name_);
  REQUIRE(quoted.ok());
  auto created = admin->Exec(absl::StrCat("CREATE DATABASE ", *quoted));
  if (!created.ok()) FAIL("CREATE DATABASE " << name_ << " failed: " << created.status().ToString());
  auto dsn = pg::ReplaceDatabase(AdminDsn(), name_);
  REQUIRE(dsn.ok());
  dsn_ = *dsn;
  if (schema == kMigrated) {
    auto conn = Connect();
    auto report = pg::Migrator(db::AllMigrations()).Apply(*conn);
    if (!report.ok()) FAIL("migrating test database " << name_ << " failed: " << report.status().ToString());
  }
}

TestDatabase::~TestDatabase() {
  // No FAIL here: throwing from a destructor would terminate the run.
  const char* admin_dsn = std::getenv("CANTDO_TEST_PG_DSN");
  if (admin_dsn == nullptr) return;
  auto admin = pg::Connection::Connect(admin_dsn, kConnectTimeout, pg::ConnectOptions{"cantdo-tests"});
  if (!admin.ok()) {
    std::fprintf(stderr, "warning: cannot drop test database %s: %s\n", name_.c_str(),
                 admin.status().ToString().c_str());
    return;
  }
  auto quoted = (*admin)->QuoteIdentifier(name_);
  if (!quoted.ok()) return;
  auto dropped = (*admin)->Exec(absl::StrCat("DROP DATABASE IF EXISTS ", *quoted, " WITH (FORCE)"));
  if (!dropped.ok()) {
    std::fprintf(stderr, "warning: cannot drop test database %s: %s\n", name_.c_str(),
                 dropped.status().ToString().c_str());
  }
}

std::unique_ptr<pg::Connection> TestDatabase::Connect() const {
  auto conn = pg::Connection::Connect(dsn_, kConnectTimeout, pg::ConnectOptions{"cantdo-tests"});
  if (!conn.ok()) FAIL("cannot connect to test database " << name_ << ": " << conn.status().ToString());
  return *std::move(conn);
}

}  // namespace cantdo::testing
