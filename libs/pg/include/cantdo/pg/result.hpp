#pragma once
// Result: the rows of one executed statement, in libpq's text format.
//
// Accessors return absl::StatusOr: reading a NULL as a string, an out-of-range
// cell, or text that does not parse as the requested type is an error value,
// never undefined behaviour or an exception.

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

struct pg_result;  // libpq's PGresult

namespace cantdo::pg {

class Result {
 public:
  // Takes ownership of `result` (freed with PQclear). Null means "no rows".
  explicit Result(pg_result* result);
  Result(Result&&) noexcept = default;
  Result& operator=(Result&&) noexcept = default;

  int Rows() const;

  // The libpq result, for libs/pg internals; null for "no rows".
  const pg_result* native_handle() const { return result_.get(); }
  int Columns() const;

  // Rows affected by INSERT/UPDATE/DELETE/MERGE/SELECT..., 0 if not reported.
  int64_t CommandTuples() const;

  // The column's index, or NOT_FOUND.
  absl::StatusOr<int> ColumnIndex(absl::string_view name) const;

  bool IsNull(int row, int column) const;

  // Non-NULL text of a cell; a NULL is FAILED_PRECONDITION.
  absl::StatusOr<std::string> GetString(int row, int column) const;
  absl::StatusOr<std::string> GetString(int row, absl::string_view column) const;
  absl::StatusOr<std::optional<std::string>> GetOptionalString(int row, int column) const;
  absl::StatusOr<std::optional<std::string>> GetOptionalString(int row, absl::string_view column) const;
  absl::StatusOr<int64_t> GetInt64(int row, int column) const;
  absl::StatusOr<int64_t> GetInt64(int row, absl::string_view column) const;
  absl::StatusOr<bool> GetBool(int row, int column) const;
  absl::StatusOr<bool> GetBool(int row, absl::string_view column) const;

 private:
  struct Deleter {
    void operator()(pg_result* r) const;
  };
  absl::StatusOr<absl::string_view> Cell(int row, int column) const;

  std::unique_ptr<pg_result, Deleter> result_;
};

}  // namespace cantdo::pg
