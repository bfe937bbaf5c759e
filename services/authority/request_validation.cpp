#include "authority/request_validation.hpp"

#include <algorithm>

#include "absl/strings/numbers.h"
#include "cantdo/base/status.hpp"

namespace cantdo::authority {
namespace {

using fields::RequirePrintableAscii;
using fields::RequireSingleLine;
using fields::RequireText;
using fields::RequireUuid;

constexpr std::size_t kMaxRequesterLength = 512;
constexpr std::size_t kMaxAuthReqIdLength = 512;
constexpr std::size_t kMaxIdTokenLength = 16 * 1024;
constexpr std::size_t kMaxProviderErrorLength = 256;
constexpr std::size_t kMaxProviderErrorDescriptionLength = 1024;
constexpr std::size_t kMaxIdempotencyKeyLength = 128;
constexpr std::size_t kMaxRevokeReasonLength = 1024;

}  // namespace

absl::Status ValidateRequestApproval(const v1::RequestApprovalRequest& req, fields::ActionBinding binding) {
  CANTDO_RETURN_IF_ERROR(fields::ValidateActionRef(req.action(), "action", binding));
  CANTDO_RETURN_IF_ERROR(RequireSingleLine(req.requester(), "requester", true, kMaxRequesterLength));
  if (req.has_approval_timeout()) {
    CANTDO_RETURN_IF_ERROR(fields::RequireDurationWithin(req.approval_timeout(), "approval_timeout",
                                                         fields::kMinApprovalTimeout, fields::kMaxApprovalTimeout));
  }
  return absl::OkStatus();
}

absl::Status ValidateGetApproval(const v1::GetApprovalRequest& req) {
  return RequireUuid(req.approval_id(), "approval_id", true);
}

absl::Status ValidateCompleteApproval(const v1::CompleteApprovalRequest& req) {
  CANTDO_RETURN_IF_ERROR(RequireUuid(req.approval_id(), "approval_id", true));
  CANTDO_RETURN_IF_ERROR(RequirePrintableAscii(req.auth_req_id(), "auth_req_id", true, kMaxAuthReqIdLength));
  if (req.outcome() == v1::CIBA_OUTCOME_UNSPECIFIED || !v1::CibaOutcome_IsValid(req.outcome())) {
    return InvalidArgument("outcome", "outcome must be APPROVED, DENIED, EXPIRED, ERROR or LOST");
  }
  if (req.outcome() == v1::CIBA_OUTCOME_APPROVED) {
    // A compact JWS: base64url parts and dots.
    CANTDO_RETURN_IF_ERROR(RequirePrintableAscii(req.id_token(), "id_token", true, kMaxIdTokenLength));
  } else if (!req.id_token().empty()) {
    return InvalidArgument("id_token", "id_token must be empty unless the outcome is APPROVED");
  }
  CANTDO_RETURN_IF_ERROR(RequirePrintableAscii(req.provider_error(), "provider_error", false, kMaxProviderErrorLength));
  CANTDO_RETURN_IF_ERROR(RequireText(req.provider_error_description(), "provider_error_description", false,
                                     kMaxProviderErrorDescriptionLength));
  if (req.has_receive_time()) CANTDO_RETURN_IF_ERROR(fields::RequireTimestamp(req.receive_time(), "receive_time"));
  return absl::OkStatus();
}

absl::Status ValidateClaimGrant(const v1::ClaimGrantRequest& req) {
  CANTDO_RETURN_IF_ERROR(RequireUuid(req.grant_id(), "grant_id", true));
  CANTDO_RETURN_IF_ERROR(fields::ValidateActionRef(req.action(), "action", fields::ActionBinding::kOptional));
  return RequirePrintableAscii(req.idempotency_key(), "idempotency_key", true, kMaxIdempotencyKeyLength);
}

absl::Status ValidateConsumeGrant(const v1::ConsumeGrantRequest& req) {
  CANTDO_RETURN_IF_ERROR(RequireUuid(req.grant_id(), "grant_id", true));
  return fields::RequireSha256Hex(req.outcome_digest(), "outcome_digest");
}

absl::Status ValidateRevokeGrant(const v1::RevokeGrantRequest& req) {
  CANTDO_RETURN_IF_ERROR(RequireUuid(req.grant_id(), "grant_id", true));
  return RequireText(req.reason(), "reason", true, kMaxRevokeReasonLength);
}

absl::StatusOr<LedgerPage> ValidateListLedgerEntries(const v1::ListLedgerEntriesRequest& req) {
  CANTDO_RETURN_IF_ERROR(fields::ValidateLedgerQuery(req.page_size(), req.start_sequence(), req.filter()));
  LedgerPage page;
  page.size = req.page_size() == 0 ? kDefaultLedgerPageSize : std::min(req.page_size(), kMaxLedgerPageSize);
  page.start_sequence = std::max<int64_t>(req.start_sequence(), 1);
  if (!req.page_token().empty()) {
    // The token is the sequence the next page starts at.
    if (!absl::SimpleAtoi(req.page_token(), &page.start_sequence) || page.start_sequence < 1) {
      return InvalidArgument("page_token", "page_token is not a token this service issued");
    }
  }
  return page;
}

absl::Status ValidateVerifyLedger(const v1::VerifyLedgerRequest& req) {
  return fields::ValidateLedgerRange(req.start_sequence(), req.end_sequence());
}

}  // namespace cantdo::authority
