#pragma once
// A login on the demo customer platform (a test's own database), member of
// one of its groups (cantdo_demo_worker, may_issue_refunds, ...). Dropped
// with the test, after ending its sessions.

#include <catch2/catch.hpp>

#include <string>

#include "support/test_database.hpp"

namespace cantdo::testing {

class DemoLogin {
 public:
  DemoLogin(const TestDatabase& demo, const std::string& group) : name_(demo.Name() + "_" + group.substr(0, 12)) {
    auto admin = TestDatabase::ConnectAdmin();
    REQUIRE(admin->Exec("CREATE ROLE " + name_ + " LOGIN IN ROLE " + group).ok());
    dsn_ = demo.Dsn() + " user=" + name_;
  }
  ~DemoLogin() {
    auto admin = TestDatabase::ConnectAdmin();
    (void)admin->Exec("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = '" + name_ + "'");
    (void)admin->Exec("DROP ROLE IF EXISTS " + name_);
  }
  DemoLogin(const DemoLogin&) = delete;
  DemoLogin& operator=(const DemoLogin&) = delete;
  const std::string& dsn() const { return dsn_; }

 private:
  std::string name_, dsn_;
};

}  // namespace cantdo::testing
