#pragma once
// TestDatabase: a fresh, uniquely named database for one test.
//
// Created on the server named by the environment variable CANTDO_TEST_PG_DSN
// (an admin DSN; scripts/pg env prints it). If the variable is unset or the
// server is unreachable the test FAILS with a message saying how to start the
// harness: integration tests never skip silently. The destructor drops the
// database, terminating connections the test left open.
//
//   cantdo::testing::TestDatabase db(cantdo::testing::TestDatabase::kMigrated);
//   auto conn = db.Connect();

#include <memory>
#include <string>

#include "cantdo/pg/connection.hpp"

namespace cantdo::testing {

class TestDatabase {
 public:
  enum Schema { kEmpty, kMigrated };

  // kMigrated applies cantdo::db::AllMigrations().
  explicit TestDatabase(Schema schema = kEmpty);
  ~TestDatabase();
  TestDatabase(const TestDatabase&) = delete;
  TestDatabase& operator=(const TestDatabase&) = delete;

  // A DSN for this database (key=value form), as the admin user.
  const std::string& Dsn() const { return dsn_; }
  const std::string& Name() const { return name_; }

  // A new connection to this database; fails the test if it cannot connect.
  std::unique_ptr<pg::Connection> Connect() const;

  // The admin DSN from CANTDO_TEST_PG_DSN; fails the test if unset.
  static std::string AdminDsn();
  // A new connection to the admin database; fails the test on error.
  static std::unique_ptr<pg::Connection> ConnectAdmin();

 private:
  std::string name_;
  std::string dsn_;
};

}  // namespace cantdo::testing
