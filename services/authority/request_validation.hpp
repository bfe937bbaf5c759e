#pragma once
// The authority's edge checks, one per request type, before any caller
// check that needs the database: every field as documented in
// authority_service.proto, refused with INVALID_ARGUMENT / INVALID_FIELD
// naming it (cantdo/fields/field_rules.hpp). `on_behalf_of` is checked
// with the caller's identity (authority_service.cpp, Authenticate).
//
// Pure functions of the request, so the fuzz targets (fuzz/) run exactly
// what a handler runs.

#include <cstdint>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "cantdo/authority/v1/authority_service.pb.h"
#include "cantdo/fields/field_rules.hpp"

namespace cantdo::authority {

// What ListLedgerEntries reads, once its request is valid.
struct LedgerPage {
  int64_t start_sequence = 1;  // from page_token, else start_sequence (at least 1)
  int size = 0;                // entries per page (page_size, defaulted and capped)
};

inline constexpr int kDefaultLedgerPageSize = 100;
inline constexpr int kMaxLedgerPageSize = 1000;

// `binding`: kWorkflow for the worker (its steps are workflow steps),
// kOptional for the gateway (it validated its callers' own rules).
absl::Status ValidateRequestApproval(const v1::RequestApprovalRequest& req, fields::ActionBinding binding);
absl::Status ValidateGetApproval(const v1::GetApprovalRequest& req);
absl::Status ValidateCompleteApproval(const v1::CompleteApprovalRequest& req);
absl::Status ValidateClaimGrant(const v1::ClaimGrantRequest& req);
absl::Status ValidateConsumeGrant(const v1::ConsumeGrantRequest& req);
absl::Status ValidateRevokeGrant(const v1::RevokeGrantRequest& req);
absl::StatusOr<LedgerPage> ValidateListLedgerEntries(const v1::ListLedgerEntriesRequest& req);
absl::Status ValidateVerifyLedger(const v1::VerifyLedgerRequest& req);

}  // namespace cantdo::authority
