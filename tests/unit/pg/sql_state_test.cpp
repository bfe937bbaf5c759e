#include <catch2/catch.hpp>

#include "cantdo/base/status.hpp"
#include "cantdo/pg/sql_state.hpp"

namespace {

using cantdo::pg::SqlStateToStatus;
using Code = absl::StatusCode;

TEST_CASE("SQLSTATE codes map to the documented status codes", "[unit][pg]") {
  struct Row {
    const char* sqlstate;
    Code code;
  };
  const Row table[] = {
      {"08000", Code::kUnavailable},         // connection_exception
      {"08006", Code::kUnavailable},         // connection_failure
      {"08P01", Code::kUnavailable},         // protocol_violation (class 08)
      {"57P01", Code::kUnavailable},         // admin_shutdown
      {"57P02", Code::kUnavailable},         // crash_shutdown
      {"57P03", Code::kUnavailable},         // cannot_connect_now
      {"55P03", Code::kUnavailable},         // lock_not_available
      {"23505", Code::kAlreadyExists},       // unique_violation
      {"23503", Code::kFailedPrecondition},  // foreign_key_violation
      {"23502", Code::kInvalidArgument},     // not_null_violation
      {"23514", Code::kInvalidArgument},     // check_violation
      {"22001", Code::kInvalidArgument},     // string_data_right_truncation
      {"22012", Code::kInvalidArgument},     // division_by_zero
      {"22P02", Code::kInvalidArgument},     // invalid_text_representation
      {"40001", Code::kAborted},             // serialization_failure
      {"40P01", Code::kAborted},             // deadlock_detected
      {"42501", Code::kPermissionDenied},    // insufficient_privilege
      {"57014", Code::kDeadlineExceeded},    // query_canceled
      {"53000", Code::kResourceExhausted},   // insufficient_resources
      {"53300", Code::kResourceExhausted},   // too_many_connections
      {"P0001", Code::kFailedPrecondition},  // raise_exception
      {"42P01", Code::kInternal},            // undefined_table: a bug, not a user error
      {"42601", Code::kInternal},            // syntax_error
      {"23000", Code::kInternal},            // integrity_constraint_violation (unspecific)
      {"40000", Code::kInternal},            // transaction_rollback (not retryable as such)
      {"57000", Code::kInternal},            // operator_intervention (unspecific)
      {"XX000", Code::kInternal},            // internal_error
  };
  for (const Row& row : table) {
    INFO("sqlstate " << row.sqlstate);
    absl::Status status = SqlStateToStatus(row.sqlstate, "boom");
    CHECK(status.code() == row.code);
    CHECK(status.message() == "boom");
    CHECK(cantdo::pg::SqlStateOf(status) == row.sqlstate);
    CHECK(cantdo::GetMetadata(status).at("sqlstate") == row.sqlstate);
  }
}

TEST_CASE("Malformed or missing SQLSTATE maps to INTERNAL", "[unit][pg]") {
  CHECK(SqlStateToStatus("", "x").code() == Code::kInternal);
  CHECK(SqlStateToStatus("", "x").GetPayload("cantdo.dev/metadata/sqlstate") == absl::nullopt);
  CHECK(SqlStateToStatus("08", "x").code() == Code::kInternal);
  CHECK(SqlStateToStatus("235050", "x").code() == Code::kInternal);
  CHECK(!SqlStateToStatus("23505", "").message().empty());
}

TEST_CASE("Only serialization failures and deadlocks are retryable", "[unit][pg]") {
  using cantdo::pg::IsRetryableTransactionError;
  CHECK(IsRetryableTransactionError(SqlStateToStatus("40001", "x")));
  CHECK(IsRetryableTransactionError(SqlStateToStatus("40P01", "x")));
  CHECK_FALSE(IsRetryableTransactionError(SqlStateToStatus("23505", "x")));
  CHECK_FALSE(IsRetryableTransactionError(SqlStateToStatus("40000", "x")));
  // ABORTED from elsewhere (no sqlstate) is the caller's business.
  CHECK_FALSE(IsRetryableTransactionError(absl::AbortedError("x")));
  CHECK_FALSE(IsRetryableTransactionError(absl::OkStatus()));
}

}  // namespace
