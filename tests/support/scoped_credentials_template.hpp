#pragma once
// db/templates/scoped_credentials.sql, the target database's half of scoped
// execution credentials (docs/scoped-credentials.md), installed into a
// test's own database: what a target needs before the authority can
// release a PostgreSQL login on it.

#include <catch2/catch.hpp>

#include <fstream>
#include <sstream>
#include <string>

#include "cantdo/pg/connection.hpp"
#include "support/child_process.hpp"

namespace cantdo::testing {

inline std::string ScopedCredentialsTemplate() {
  std::ifstream in(SourceDir() + "/db/templates/scoped_credentials.sql");
  REQUIRE(in);
  std::stringstream sql;
  sql << in.rdbuf();
  return sql.str();
}

inline void InstallScopedCredentials(pg::Connection& conn) {
  auto installed = conn.ExecScript(ScopedCredentialsTemplate());
  INFO(installed.ToString());
  REQUIRE(installed.ok());
}

}  // namespace cantdo::testing
