#pragma once
// Small helpers shared by the libs/pg integration tests.

#include <utility>

#include <catch2/catch.hpp>

#include "absl/status/statusor.h"
#include "cantdo/pg/connection.hpp"

namespace cantdo::pg::test {

// The value of `result`, or fails the test showing the status.
template <typename T>
T Ok(absl::StatusOr<T> result) {
  INFO(result.status().ToString());
  REQUIRE(result.ok());
  return *std::move(result);
}

inline void Ok(const absl::Status& status) {
  INFO(status.ToString());
  REQUIRE(status.ok());
}

inline int64_t QueryInt(Connection& conn, absl::string_view sql, std::vector<Param> params = {}) {
  Result result = Ok(conn.Exec(sql, params));
  REQUIRE(result.Rows() == 1);
  return Ok(result.GetInt64(0, 0));
}

// Terminates backend `pid` and waits until it is gone.
inline void TerminateBackend(Connection& admin, int pid) {
  REQUIRE(QueryInt(admin, "SELECT count(*) FROM pg_terminate_backend($1::int, 5000) AS t WHERE t", {Int64Param(pid)}) ==
          1);
}

}  // namespace cantdo::pg::test
