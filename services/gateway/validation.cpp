#include "gateway/validation.hpp"

#include <algorithm>
#include <cctype>

#include <google/protobuf/util/json_util.h>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "cantdo/base/status.hpp"
#include "cantdo/fields/field_rules.hpp"

namespace cantdo::gateway {
namespace {

bool AllOf(const std::string& s, bool (*ok)(char)) { return std::all_of(s.begin(), s.end(), ok); }
bool IdChar(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == ':' || c == '/' || c == '-';
}
bool TypeChar(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_'; }
bool NameChar(char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '-'; }
bool Printable(char c) { return c >= 0x20 && c <= 0x7e; }
bool HexOrDash(char c) { return std::isxdigit(static_cast<unsigned char>(c)) || c == '-'; }

}  // namespace

absl::Status ValidateWorkflowId(const std::string& value, const std::string& field, bool required) {
  if (value.empty()) return required ? InvalidArgument(field, absl::StrCat(field, " is required")) : absl::OkStatus();
  if (value.size() > 255) return InvalidArgument(field, absl::StrCat(field, " has more than 255 characters"));
  if (!AllOf(value, IdChar))
    return InvalidArgument(field, absl::StrCat(field, " must be characters of [A-Za-z0-9._:/-]"));
  return absl::OkStatus();
}

absl::Status ValidateRunId(const std::string& value, const std::string& field, bool required) {
  if (value.empty()) return required ? InvalidArgument(field, absl::StrCat(field, " is required")) : absl::OkStatus();
  const bool shape = value.size() == 36 && value[8] == '-' && value[13] == '-' && value[18] == '-' && value[23] == '-';
  if (!shape || !AllOf(value, HexOrDash)) return InvalidArgument(field, absl::StrCat(field, " must be a UUID"));
  return absl::OkStatus();
}

absl::Status ValidateWorkflowType(const std::string& value, const std::string& field) {
  if (value.empty()) return InvalidArgument(field, absl::StrCat(field, " is required"));
  if (value.size() > 128 || !AllOf(value, TypeChar)) {
    return InvalidArgument(field, absl::StrCat(field, " must be 1-128 characters of [a-z0-9_]"));
  }
  return absl::OkStatus();
}

absl::Status ValidateName(const std::string& value, const std::string& field, bool required) {
  if (value.empty()) return required ? InvalidArgument(field, absl::StrCat(field, " is required")) : absl::OkStatus();
  if (value.size() > 128 || !AllOf(value, NameChar)) {
    return InvalidArgument(field, absl::StrCat(field, " must be at most 128 characters of [A-Za-z0-9._-]"));
  }
  return absl::OkStatus();
}

absl::Status ValidateKey(const std::string& value, const std::string& field, bool required, std::size_t max) {
  if (value.empty()) return required ? InvalidArgument(field, absl::StrCat(field, " is required")) : absl::OkStatus();
  if (value.size() > max || !AllOf(value, Printable)) {
    return InvalidArgument(field, absl::StrCat(field, " must be at most ", max, " printable ASCII characters"));
  }
  return absl::OkStatus();
}

absl::Status ValidateText(const std::string& value, const std::string& field, bool required, std::size_t max) {
  if (value.empty()) return required ? InvalidArgument(field, absl::StrCat(field, " is required")) : absl::OkStatus();
  if (value.size() > max) return InvalidArgument(field, absl::StrCat(field, " has more than ", max, " characters"));
  return absl::OkStatus();
}

absl::StatusOr<int> PageSize(int value, const std::string& field, int default_size, int max) {
  if (value < 0) return InvalidArgument(field, absl::StrCat(field, " must not be negative"));
  if (value == 0) return default_size;
  return std::min(value, max);
}

absl::Status ValidateStructSize(const google::protobuf::Struct& value, const std::string& field,
                                std::size_t max_bytes) {
  if (value.fields().empty()) return absl::OkStatus();
  std::string json;
  if (!google::protobuf::util::MessageToJsonString(value, &json).ok()) {
    return InvalidArgument(field, absl::StrCat(field, " is not representable as JSON"));
  }
  if (json.size() > max_bytes) {
    return InvalidArgument(field, absl::StrCat(field, " is larger than ", max_bytes / 1024, " KiB as JSON"));
  }
  return absl::OkStatus();
}

absl::Status ValidateAnySize(const google::protobuf::Any& value, const std::string& field, std::size_t max_bytes) {
  if (value.ByteSizeLong() > max_bytes) {
    return InvalidArgument(field, absl::StrCat(field, " is larger than ", max_bytes / 1024, " KiB"));
  }
  if (!value.value().empty() && value.type_url().empty()) {
    return InvalidArgument(field, absl::StrCat(field, " has a value but no type_url"));
  }
  return absl::OkStatus();
}

absl::Status ValidatePositiveDuration(const google::protobuf::Duration& value, const std::string& field) {
  if (value.seconds() < 0 || value.nanos() < 0 || value.nanos() > 999999999 ||
      (value.seconds() == 0 && value.nanos() == 0)) {
    return InvalidArgument(field, absl::StrCat(field, " must be positive"));
  }
  return absl::OkStatus();
}

absl::Status RefuseReservedSignalName(const std::string& value, const std::string& field) {
  static constexpr char kReservedPrefix[] = "cantdo.";
  if (!absl::StartsWith(value, kReservedPrefix)) return absl::OkStatus();
  absl::Status s = WithReason(absl::InvalidArgumentError(absl::StrCat(
                                  field, " \"", value, "\" is reserved: names under \"", kReservedPrefix,
                                  "\" are sent by cantdo itself (approval decisions come from the authority)")),
                              "SIGNAL_NAME_RESERVED");
  s = WithMetadata(std::move(s), "field", field);
  return WithMetadata(std::move(s), "prefix", kReservedPrefix);
}

absl::Status ValidatePlatformAction(const common::v1::ActionRef& a, const std::string& field) {
  return fields::ValidateActionRef(a, field, fields::ActionBinding::kPlatform);
}

namespace {

constexpr std::size_t kMaxRequesterLength = 256;
constexpr std::size_t kMaxIdempotencyKeyLength = 128;
// Ledger page tokens are the authority's (it checks them); the gateway
// passes them on and bounds their size.
constexpr std::size_t kMaxLedgerPageTokenLength = 64;

}  // namespace

absl::Status ValidateRequestAuthorization(const v1::RequestAuthorizationRequest& req) {
  CANTDO_RETURN_IF_ERROR(ValidatePlatformAction(req.action(), "action"));
  CANTDO_RETURN_IF_ERROR(fields::RequireSingleLine(req.requester(), "requester", true, kMaxRequesterLength));
  if (req.has_approval_timeout()) {
    CANTDO_RETURN_IF_ERROR(fields::RequireDurationWithin(req.approval_timeout(), "approval_timeout",
                                                         fields::kMinApprovalTimeout, fields::kMaxApprovalTimeout));
  }
  return absl::OkStatus();
}

absl::StatusOr<absl::Duration> ValidateGetAuthorization(const v1::GetAuthorizationRequest& req) {
  CANTDO_RETURN_IF_ERROR(fields::RequireUuid(req.approval_id(), "approval_id", true));
  if (!req.has_wait()) return absl::ZeroDuration();
  CANTDO_RETURN_IF_ERROR(
      fields::RequireDurationWithin(req.wait(), "wait", absl::ZeroDuration(), kMaxAuthorizationWait));
  return absl::Seconds(req.wait().seconds()) + absl::Nanoseconds(req.wait().nanos());
}

absl::Status ValidateClaimGrant(const v1::ClaimGrantRequest& req) {
  CANTDO_RETURN_IF_ERROR(fields::RequireUuid(req.grant_id(), "grant_id", true));
  CANTDO_RETURN_IF_ERROR(ValidatePlatformAction(req.action(), "action"));
  return fields::RequirePrintableAscii(req.idempotency_key(), "idempotency_key", true, kMaxIdempotencyKeyLength);
}

absl::Status ValidateConsumeGrant(const v1::ConsumeGrantRequest& req) {
  CANTDO_RETURN_IF_ERROR(fields::RequireUuid(req.grant_id(), "grant_id", true));
  return fields::RequireSha256Hex(req.outcome_digest(), "outcome_digest");
}

absl::Status ValidateListLedgerEntries(const v1::ListLedgerEntriesRequest& req) {
  CANTDO_RETURN_IF_ERROR(
      fields::RequirePrintableAscii(req.page_token(), "page_token", false, kMaxLedgerPageTokenLength));
  return fields::ValidateLedgerQuery(req.page_size(), req.start_sequence(), req.filter());
}

absl::Status ValidateVerifyLedger(const v1::VerifyLedgerRequest& req) {
  return fields::ValidateLedgerRange(req.start_sequence(), req.end_sequence());
}

}  // namespace cantdo::gateway
