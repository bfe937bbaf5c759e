#pragma once
// A login role for one test database, member of a service's NOLOGIN role
// (V0001 creates cantdo_gateway, cantdo_authority, cantdo_worker,
// cantdo_bridge; deployments grant LOGIN to members), so a service under test
// runs with exactly that role's privileges. Dropped with the test, after
// the services using it have stopped.

#include <catch2/catch.hpp>

#include <string>

#include "support/test_database.hpp"

namespace cantdo::testing {

class LoginRole {
 public:
  LoginRole(const TestDatabase& db, const std::string& service_role)
      : name_(db.Name() + "_" + service_role.substr(std::string("cantdo_").size())) {
    auto admin = TestDatabase::ConnectAdmin();
    REQUIRE(admin->Exec("CREATE ROLE " + name_ + " LOGIN IN ROLE " + service_role, {}).ok());
    dsn_ = db.Dsn() + " user=" + name_;
  }
  ~LoginRole() {
    auto admin = TestDatabase::ConnectAdmin();
    (void)admin->Exec("DROP ROLE IF EXISTS " + name_, {});
  }
  LoginRole(const LoginRole&) = delete;
  LoginRole& operator=(const LoginRole&) = delete;
  const std::string& dsn() const { return dsn_; }

 private:
  std::string name_, dsn_;
};

}  // namespace cantdo::testing
