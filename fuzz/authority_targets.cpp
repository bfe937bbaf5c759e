// The authority's request types: the edge checks of authority_service.cpp
// (request_validation.hpp, on_behalf_of's form) and, for requests that
// carry an action, the parameters' canonical form and hash that
// RequestApproval and ClaimGrant compute next.

#include <nlohmann/json.hpp>

#include "absl/time/time.h"
#include "authority/request_validation.hpp"
#include "cantdo/base/canonical_json.hpp"
#include "cantdo/base/ids.hpp"
#include "cantdo/fields/parameters.hpp"
#include "cantdo/fields/principal.hpp"
#include "proto_input.hpp"
#include "targets.hpp"

namespace cantdo::fuzz {
namespace {

namespace av1 = authority::v1;

void CheckOnBehalfOf(const std::string& on_behalf_of) {
  if (!on_behalf_of.empty()) CheckRefusal(fields::RequireExternalPrincipal(on_behalf_of, "on_behalf_of"));
}

// What the authority hashes for a valid action: stable, and the hash of
// exactly the text it binds.
void CheckCanonicalParameters(const common::v1::ActionRef& action) {
  absl::StatusOr<fields::CanonicalParameters> p = fields::CanonicaliseParameters(action.parameters());
  if (!p.ok()) Fail("parameters of a valid action do not canonicalise", p.status());
  if (p->sha256 != Sha256Hex(p->json)) Fail("parameters_hash is not the SHA-256 of the canonical text");
  const nlohmann::json again = nlohmann::json::parse(p->json, nullptr, false);
  if (again.is_discarded()) Fail("canonical parameters are not JSON: " + p->json);
  absl::StatusOr<std::string> text = CanonicalJson(again);
  if (!text.ok() || *text != p->json) Fail("canonical parameters change when canonicalised again: " + p->json);
}

}  // namespace

void AuthorityRequestApproval(std::string_view input) {
  auto req = Parse<av1::RequestApprovalRequest>(input);
  if (!req) return;
  CheckOnBehalfOf(req->on_behalf_of());
  for (auto binding : {fields::ActionBinding::kWorkflow, fields::ActionBinding::kOptional}) {
    const absl::Status st = authority::ValidateRequestApproval(*req, binding);
    CheckRefusal(st);
    if (st.ok()) CheckCanonicalParameters(req->action());
  }
}

void AuthorityGetApproval(std::string_view input) {
  auto req = Parse<av1::GetApprovalRequest>(input);
  if (!req) return;
  CheckOnBehalfOf(req->on_behalf_of());
  CheckRefusal(authority::ValidateGetApproval(*req));
}

void AuthorityCompleteApproval(std::string_view input) {
  auto req = Parse<av1::CompleteApprovalRequest>(input);
  if (!req) return;
  CheckRefusal(authority::ValidateCompleteApproval(*req));
}

void AuthorityClaimGrant(std::string_view input) {
  auto req = Parse<av1::ClaimGrantRequest>(input);
  if (!req) return;
  CheckOnBehalfOf(req->on_behalf_of());
  const absl::Status st = authority::ValidateClaimGrant(*req);
  CheckRefusal(st);
  if (st.ok()) CheckCanonicalParameters(req->action());
}

void AuthorityConsumeGrant(std::string_view input) {
  auto req = Parse<av1::ConsumeGrantRequest>(input);
  if (!req) return;
  CheckOnBehalfOf(req->on_behalf_of());
  CheckRefusal(authority::ValidateConsumeGrant(*req));
}

void AuthorityRevokeGrant(std::string_view input) {
  auto req = Parse<av1::RevokeGrantRequest>(input);
  if (!req) return;
  CheckOnBehalfOf(req->on_behalf_of());
  CheckRefusal(authority::ValidateRevokeGrant(*req));
}

void AuthorityListLedgerEntries(std::string_view input) {
  auto req = Parse<av1::ListLedgerEntriesRequest>(input);
  if (!req) return;
  absl::StatusOr<authority::LedgerPage> page = authority::ValidateListLedgerEntries(*req);
  CheckRefusal(page.status());
  if (!page.ok()) return;
  if (page->start_sequence < 1 || page->size < 1 || page->size > authority::kMaxLedgerPageSize) {
    Fail("a valid ledger page is out of range");
  }
  // What Ledger::List binds: the time bounds in microseconds and the kinds'
  // names.
  const auto& f = req->filter();
  if (f.has_start_time()) (void)absl::ToUnixMicros(fields::ToTime(f.start_time()));
  if (f.has_end_time()) (void)absl::ToUnixMicros(fields::ToTime(f.end_time()));
  for (int kind : f.kinds()) {
    if (common::v1::LedgerEventKind_Name(static_cast<common::v1::LedgerEventKind>(kind)).empty()) {
      Fail("a valid ledger filter names a kind without a name");
    }
  }
}

void AuthorityVerifyLedger(std::string_view input) {
  auto req = Parse<av1::VerifyLedgerRequest>(input);
  if (!req) return;
  CheckRefusal(authority::ValidateVerifyLedger(*req));
}

void AuthorityGetPolicy(std::string_view input) {
  // No fields: parsing is all there is.
  (void)Parse<av1::GetPolicyRequest>(input);
}

}  // namespace cantdo::fuzz
