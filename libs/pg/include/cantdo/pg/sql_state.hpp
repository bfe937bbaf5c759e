#pragma once
// The one place where PostgreSQL SQLSTATE codes become absl::Status codes.
//
//   class 08, 57P01..57P03, 55P03       -> UNAVAILABLE  (connection lost, server
//                                          shutting down, lock not available)
//   23505 unique_violation              -> ALREADY_EXISTS
//   23503 foreign_key_violation         -> FAILED_PRECONDITION (the referenced
//                                          row's state is the problem, not the
//                                          shape of the request)
//   23502, 23514, class 22              -> INVALID_ARGUMENT
//   40001, 40P01                        -> ABORTED (RunInTransaction retries)
//   42501 insufficient_privilege        -> PERMISSION_DENIED
//   57014 query_canceled                -> DEADLINE_EXCEEDED (statement_timeout)
//   class 53                            -> RESOURCE_EXHAUSTED
//   P0001 raise_exception               -> FAILED_PRECONDITION
//   anything else                       -> INTERNAL
//
// Every mapped status carries the SQLSTATE as metadata "sqlstate" (see
// cantdo::GetMetadata) so callers can be precise without parsing messages.

#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace cantdo::pg {

inline constexpr absl::string_view kSqlStateKey = "sqlstate";

inline constexpr absl::string_view kSerializationFailure = "40001";
inline constexpr absl::string_view kDeadlockDetected = "40P01";
inline constexpr absl::string_view kUniqueViolation = "23505";

// Maps a SQLSTATE and the server's message to a status. `sqlstate` is the
// five-character code; an empty or malformed one yields INTERNAL.
absl::Status SqlStateToStatus(absl::string_view sqlstate, absl::string_view message);

// The "sqlstate" metadata of a status produced by SqlStateToStatus, or "".
std::string SqlStateOf(const absl::Status& status);

// True for the statuses RunInTransaction retries: serialization failure and
// deadlock, as mapped above.
bool IsRetryableTransactionError(const absl::Status& status);

}  // namespace cantdo::pg
