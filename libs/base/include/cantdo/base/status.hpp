#pragma once
// Status helpers shared by every library.
//
// Errors are absl::Status values. A status that a caller can act on carries
// a machine-readable reason (an UPPER_SNAKE_CASE name from
// cantdo.common.v1.ErrorReason, see docs/api.md) and optional metadata
// (for example the offending field). The gRPC edge (libs/grpc) turns both
// into a google.rpc.Status with a google.rpc.ErrorInfo detail, so grpcurl
// and client libraries see them.

#include <map>
#include <optional>
#include <string>
#include "absl/strings/string_view.h"

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace cantdo {

// The ErrorInfo domain of every reason this project emits.
inline constexpr absl::string_view kErrorDomain = "cantdo.dev";

// Returns `status` with `reason` attached. A no-op on an OK status.
absl::Status WithReason(absl::Status status, absl::string_view reason);

// Returns `status` with metadata key=value attached (ErrorInfo.metadata).
absl::Status WithMetadata(absl::Status status, absl::string_view key, absl::string_view value);

// The reason attached to `status`, if any.
std::optional<std::string> GetReason(const absl::Status& status);

// All metadata attached to `status`.
std::map<std::string, std::string> GetMetadata(const absl::Status& status);

// Shorthands: a status with code, message and reason in one call.
absl::Status InvalidArgument(absl::string_view field,
                             absl::string_view message);  // reason INVALID_FIELD, metadata field=<field>
absl::Status PermissionDenied(absl::string_view reason, absl::string_view message);
absl::Status FailedPrecondition(absl::string_view reason, absl::string_view message);
absl::Status Unavailable(absl::string_view reason, absl::string_view message);

}  // namespace cantdo

// Propagates a non-OK status from an expression returning absl::Status.
#define CANTDO_RETURN_IF_ERROR(expr)                        \
  do {                                                      \
    if (::absl::Status _st = (expr); !_st.ok()) return _st; \
  } while (0)

#define CANTDO_CONCAT_INNER_(a, b) a##b
#define CANTDO_CONCAT_(a, b) CANTDO_CONCAT_INNER_(a, b)

// Declares `lhs` from an absl::StatusOr expression, or returns its status.
#define CANTDO_ASSIGN_OR_RETURN(lhs, expr) \
  CANTDO_ASSIGN_OR_RETURN_IMPL_(CANTDO_CONCAT_(_statusor_, __LINE__), lhs, expr)
#define CANTDO_ASSIGN_OR_RETURN_IMPL_(tmp, lhs, expr) \
  auto tmp = (expr);                                  \
  if (!tmp.ok()) return std::move(tmp).status();      \
  lhs = std::move(tmp).value()
