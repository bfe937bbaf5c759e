#include "cantdo/pg/result.hpp"

#include <libpq-fe.h>

#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace cantdo::pg {

void Result::Deleter::operator()(pg_result* r) const { PQclear(r); }

Result::Result(pg_result* result) : result_(result) {}

int Result::Rows() const { return result_ ? PQntuples(result_.get()) : 0; }

int Result::Columns() const { return result_ ? PQnfields(result_.get()) : 0; }

int64_t Result::CommandTuples() const {
  if (!result_) return 0;
  int64_t n = 0;
  return absl::SimpleAtoi(PQcmdTuples(result_.get()), &n) ? n : 0;
}

absl::StatusOr<int> Result::ColumnIndex(absl::string_view name) const {
  for (int c = 0; c < Columns(); ++c) {
    if (name == PQfname(result_.get(), c)) return c;
  }
  return absl::NotFoundError(absl::StrCat("result has no column \"", name, "\""));
}

bool Result::IsNull(int row, int column) const {
  if (row < 0 || row >= Rows() || column < 0 || column >= Columns()) return true;
  return PQgetisnull(result_.get(), row, column) != 0;
}

absl::StatusOr<absl::string_view> Result::Cell(int row, int column) const {
  if (row < 0 || row >= Rows() || column < 0 || column >= Columns()) {
    return absl::OutOfRangeError(absl::StrCat("cell (", row, ", ", column, ") outside a result of ", Rows(),
                                              " rows and ", Columns(), " columns"));
  }
  if (PQgetisnull(result_.get(), row, column)) {
    return absl::FailedPreconditionError(
        absl::StrCat("column \"", PQfname(result_.get(), column), "\" is NULL in row ", row));
  }
  return absl::string_view(PQgetvalue(result_.get(), row, column),
                           static_cast<size_t>(PQgetlength(result_.get(), row, column)));
}

absl::StatusOr<std::string> Result::GetString(int row, int column) const {
  auto cell = Cell(row, column);
  if (!cell.ok()) return cell.status();
  return std::string(*cell);
}

absl::StatusOr<std::optional<std::string>> Result::GetOptionalString(int row, int column) const {
  if (row >= 0 && row < Rows() && column >= 0 && column < Columns() && PQgetisnull(result_.get(), row, column)) {
    return std::optional<std::string>();
  }
  auto cell = Cell(row, column);
  if (!cell.ok()) return cell.status();
  return std::optional<std::string>(std::string(*cell));
}

absl::StatusOr<int64_t> Result::GetInt64(int row, int column) const {
  auto cell = Cell(row, column);
  if (!cell.ok()) return cell.status();
  int64_t value = 0;
  if (!absl::SimpleAtoi(*cell, &value)) {
    return absl::InvalidArgumentError(absl::StrCat("\"", *cell, "\" is not a 64-bit integer"));
  }
  return value;
}

absl::StatusOr<bool> Result::GetBool(int row, int column) const {
  auto cell = Cell(row, column);
  if (!cell.ok()) return cell.status();
  if (*cell == "t") return true;
  if (*cell == "f") return false;
  return absl::InvalidArgumentError(absl::StrCat("\"", *cell, "\" is not a boolean"));
}

#define CANTDO_PG_BY_NAME(Type, Method)                                          \
  absl::StatusOr<Type> Result::Method(int row, absl::string_view column) const { \
    auto index = ColumnIndex(column);                                            \
    if (!index.ok()) return index.status();                                      \
    return Method(row, *index);                                                  \
  }

CANTDO_PG_BY_NAME(std::string, GetString)
CANTDO_PG_BY_NAME(std::optional<std::string>, GetOptionalString)
CANTDO_PG_BY_NAME(int64_t, GetInt64)
CANTDO_PG_BY_NAME(bool, GetBool)

#undef CANTDO_PG_BY_NAME

}  // namespace cantdo::pg
