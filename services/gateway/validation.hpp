#pragma once
// Field checks for the gateway's requests. Each returns INVALID_ARGUMENT
// (INVALID_FIELD, metadata field=<name>) naming the field and what is wrong,
// as documented on the proto fields.

#include <string>

#include <google/protobuf/any.pb.h>
#include <google/protobuf/duration.pb.h>
#include <google/protobuf/struct.pb.h>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "cantdo/common/v1/authorization.pb.h"
#include "cantdo/gateway/v1/authorization_service.pb.h"
#include "cantdo/gateway/v1/ledger_service.pb.h"

namespace cantdo::gateway {

// 1-255 characters of [A-Za-z0-9._:/-].
absl::Status ValidateWorkflowId(const std::string& value, const std::string& field, bool required);
// A UUID, or empty when optional.
absl::Status ValidateRunId(const std::string& value, const std::string& field, bool required);
// 1-128 characters of [a-z0-9_].
absl::Status ValidateWorkflowType(const std::string& value, const std::string& field);
// At most 128 characters of [A-Za-z0-9._-]; `required` demands at least one.
absl::Status ValidateName(const std::string& value, const std::string& field, bool required);
// Printable ASCII, at most `max` characters.
absl::Status ValidateKey(const std::string& value, const std::string& field, bool required, std::size_t max = 128);
// Required when `required`; at most `max` bytes of UTF-8 text.
absl::Status ValidateText(const std::string& value, const std::string& field, bool required, std::size_t max);
// 0 -> `default_size`; negative -> INVALID_FIELD; capped at `max`.
absl::StatusOr<int> PageSize(int value, const std::string& field, int default_size, int max = 1000);
// Canonical JSON size of a Struct at most `max_bytes`.
absl::Status ValidateStructSize(const google::protobuf::Struct& value, const std::string& field, std::size_t max_bytes);
absl::Status ValidateAnySize(const google::protobuf::Any& value, const std::string& field, std::size_t max_bytes);
// Seconds/nanos well-formed; positive when set.
absl::Status ValidatePositiveDuration(const google::protobuf::Duration& value, const std::string& field);
// Signal names under "cantdo." are the system's (the authority's
// "cantdo.approval_decided"): INVALID_ARGUMENT, reason SIGNAL_NAME_RESERVED,
// metadata field=<field>, prefix="cantdo.".
absl::Status RefuseReservedSignalName(const std::string& value, const std::string& field);
// An agent platform's action: action and step required, workflow_id (the
// external reference) required, run_id optional; each field as
// cantdo/fields (fields::ValidateActionRef, kPlatform) checks it, parameters
// included (finite numbers, nesting, 64 KiB).
absl::Status ValidatePlatformAction(const common::v1::ActionRef& action, const std::string& field);

// ---- AuthorizationService and LedgerService requests, whole: each field
// as documented in authorization_service.proto and ledger_service.proto.
// Pure, so fuzz/ runs exactly what the handlers run.

// GetAuthorizationRequest.wait: at most this long.
inline constexpr absl::Duration kMaxAuthorizationWait = absl::Seconds(60);

absl::Status ValidateRequestAuthorization(const v1::RequestAuthorizationRequest& req);
// The wait to long-poll for (zero when unset).
absl::StatusOr<absl::Duration> ValidateGetAuthorization(const v1::GetAuthorizationRequest& req);
absl::Status ValidateClaimGrant(const v1::ClaimGrantRequest& req);
absl::Status ValidateConsumeGrant(const v1::ConsumeGrantRequest& req);
absl::Status ValidateListLedgerEntries(const v1::ListLedgerEntriesRequest& req);
absl::Status ValidateVerifyLedger(const v1::VerifyLedgerRequest& req);

}  // namespace cantdo::gateway
