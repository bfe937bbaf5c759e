#include <catch2/catch.hpp>

#include "cantdo/pg/dsn.hpp"
#include "worker/customer_platform.hpp"

namespace {

// Released logins connect the way the worker's own connection to the
// platform does: the login's sslmode, the worker's files to verify with.
TEST_CASE("A released login's DSN keeps its sslmode and takes the server-verification files", "[unit][worker]") {
  cantdo::common::v1::PostgresLogin login;
  login.set_host("db.example");
  login.set_port(5432);
  login.set_dbname("platform");
  login.set_user("cantdo_x_1");
  login.set_password("p'w");
  login.set_sslmode("verify-full");
  const std::string dsn = cantdo::worker::DsnForLogin(
      login, "host=db.example dbname=platform user=w password=secret sslmode=require sslrootcert=/etc/ca.crt");
  CHECK(*cantdo::pg::DsnSetting(dsn, "sslmode") == "verify-full");
  CHECK(*cantdo::pg::DsnSetting(dsn, "sslrootcert") == "/etc/ca.crt");
  CHECK(*cantdo::pg::DsnSetting(dsn, "user") == "cantdo_x_1");
  CHECK(*cantdo::pg::DsnSetting(dsn, "password") == "p'w");
  CHECK(dsn.find("secret") == std::string::npos);  // nothing else of the worker's own login
  CHECK(cantdo::pg::DsnSetting(cantdo::worker::DsnForLogin(login), "sslrootcert")->empty());
}

}  // namespace
