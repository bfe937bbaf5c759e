#include "cantdo/pg/sql_state.hpp"

#include <string>

#include "absl/strings/match.h"
#include "cantdo/base/status.hpp"

namespace cantdo::pg {
namespace {

absl::StatusCode CodeFor(absl::string_view s) {
  if (s.size() != 5) return absl::StatusCode::kInternal;
  if (absl::StartsWith(s, "08")) return absl::StatusCode::kUnavailable;
  if (s == "57P01" || s == "57P02" || s == "57P03") return absl::StatusCode::kUnavailable;
  if (s == "55P03") return absl::StatusCode::kUnavailable;
  if (s == "23505") return absl::StatusCode::kAlreadyExists;
  if (s == "23503") return absl::StatusCode::kFailedPrecondition;
  if (s == "23502" || s == "23514") return absl::StatusCode::kInvalidArgument;
  if (absl::StartsWith(s, "22")) return absl::StatusCode::kInvalidArgument;
  if (s == "40001" || s == "40P01") return absl::StatusCode::kAborted;
  if (s == "42501") return absl::StatusCode::kPermissionDenied;
  if (s == "57014") return absl::StatusCode::kDeadlineExceeded;
  if (absl::StartsWith(s, "53")) return absl::StatusCode::kResourceExhausted;
  if (s == "P0001") return absl::StatusCode::kFailedPrecondition;
  return absl::StatusCode::kInternal;
}

}  // namespace

absl::Status SqlStateToStatus(absl::string_view sqlstate, absl::string_view message) {
  absl::Status status(CodeFor(sqlstate), message.empty() ? absl::string_view("postgres error") : message);
  if (sqlstate.empty()) return status;
  return WithMetadata(std::move(status), kSqlStateKey, sqlstate);
}

std::string SqlStateOf(const absl::Status& status) {
  auto metadata = GetMetadata(status);
  auto it = metadata.find(std::string(kSqlStateKey));
  return it == metadata.end() ? std::string() : it->second;
}

bool IsRetryableTransactionError(const absl::Status& status) {
  if (status.code() != absl::StatusCode::kAborted) return false;
  std::string state = SqlStateOf(status);
  return state == kSerializationFailure || state == kDeadlockDetected;
}

}  // namespace cantdo::pg
