#include "authority/authority_service.hpp"

#include <regex>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "cantdo/base/status.hpp"
#include "cantdo/grpc/peer_identity.hpp"
#include "cantdo/grpc/status.hpp"

namespace cantdo::authority {
namespace {

using cantdo::grpc::ToGrpcStatus;

// The verified caller, if it is one of `allowed`; `on_behalf_of` is honoured
// from the gateway only.
absl::StatusOr<Caller> Authenticate(const ::grpc::ServerContext& ctx, const std::vector<std::string>& allowed,
                                    const std::string& on_behalf_of = "") {
  CANTDO_RETURN_IF_ERROR(cantdo::grpc::RequirePeer(ctx, allowed));
  Caller c;
  c.identity = cantdo::grpc::PeerFromContext(ctx)->spiffe_id;
  if (!on_behalf_of.empty()) {
    if (c.identity != kGatewayId) return InvalidArgument("on_behalf_of", "only the gateway may act on behalf of others");
    if (on_behalf_of.size() > 512) return InvalidArgument("on_behalf_of", "at most 512 characters");
    c.on_behalf_of = on_behalf_of;
  }
  return c;
}

absl::Status Required(const std::string& value, const char* field, std::size_t max = 256) {
  if (value.empty()) return InvalidArgument(field, "is required");
  if (value.size() > max) return InvalidArgument(field, absl::StrCat("at most ", max, " characters"));
  return absl::OkStatus();
}

// Grant and approval ids are UUIDs (so lookups use the primary key).
absl::Status RequiredUuid(const std::string& value, const char* field) {
  static const std::regex kUuid("^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$");
  if (value.empty()) return InvalidArgument(field, "is required");
  if (!std::regex_match(value, kUuid)) return InvalidArgument(field, "must be a UUID");
  return absl::OkStatus();
}

bool PrintableAscii(const std::string& s) {
  for (char c : s) {
    if (c < 0x20 || c > 0x7e) return false;
  }
  return true;
}

absl::Status ValidateAction(const common::v1::ActionRef& a, bool binding_required) {
  CANTDO_RETURN_IF_ERROR(Required(a.action(), "action.action", 128));
  if (a.resource().size() > 256) return InvalidArgument("action.resource", "at most 256 characters");
  if (binding_required) {
    CANTDO_RETURN_IF_ERROR(Required(a.workflow_id(), "action.workflow_id"));
    CANTDO_RETURN_IF_ERROR(Required(a.run_id(), "action.run_id"));
    CANTDO_RETURN_IF_ERROR(Required(a.step(), "action.step", 128));
  }
  if (a.parameters().ByteSizeLong() > 64 * 1024) return InvalidArgument("action.parameters", "at most 64 KiB");
  return absl::OkStatus();
}

template <typename Fn>
::grpc::Status Handle(Fn&& fn) {
  absl::Status st = fn();
  return ToGrpcStatus(st);
}

}  // namespace

::grpc::Status AuthorityServiceImpl::RequestApproval(::grpc::ServerContext* ctx, const v1::RequestApprovalRequest* req,
                                                     v1::RequestApprovalResponse* resp) {
  return Handle([&]() -> absl::Status {
    CANTDO_ASSIGN_OR_RETURN(Caller caller, Authenticate(*ctx, {kWorkerId, kGatewayId}, req->on_behalf_of()));
    CANTDO_RETURN_IF_ERROR(ValidateAction(req->action(), caller.identity == kWorkerId));
    CANTDO_RETURN_IF_ERROR(Required(req->requester(), "requester", 512));
    if (req->has_approval_timeout() &&
        (req->approval_timeout().seconds() < 60 || req->approval_timeout().seconds() > 7 * 86400)) {
      return InvalidArgument("approval_timeout", "must be between 1 minute and 7 days");
    }
    CANTDO_ASSIGN_OR_RETURN(*resp, authority_.RequestApproval(caller, *req));
    return absl::OkStatus();
  });
}

::grpc::Status AuthorityServiceImpl::GetApproval(::grpc::ServerContext* ctx, const v1::GetApprovalRequest* req,
                                                 v1::GetApprovalResponse* resp) {
  return Handle([&]() -> absl::Status {
    CANTDO_ASSIGN_OR_RETURN(Caller caller, Authenticate(*ctx, {kWorkerId, kGatewayId, kAdminId}, req->on_behalf_of()));
    CANTDO_RETURN_IF_ERROR(RequiredUuid(req->approval_id(), "approval_id"));
    CANTDO_ASSIGN_OR_RETURN(*resp, authority_.GetApproval(caller, req->approval_id(), caller.identity == kAdminId));
    return absl::OkStatus();
  });
}

::grpc::Status AuthorityServiceImpl::CompleteApproval(::grpc::ServerContext* ctx,
                                                      const v1::CompleteApprovalRequest* req,
                                                      v1::CompleteApprovalResponse* resp) {
  return Handle([&]() -> absl::Status {
    CANTDO_ASSIGN_OR_RETURN(Caller caller, Authenticate(*ctx, {kBridgeId}));
    CANTDO_RETURN_IF_ERROR(RequiredUuid(req->approval_id(), "approval_id"));
    CANTDO_RETURN_IF_ERROR(Required(req->auth_req_id(), "auth_req_id", 512));
    if (req->outcome() == v1::CIBA_OUTCOME_UNSPECIFIED) return InvalidArgument("outcome", "is required");
    if (req->outcome() == v1::CIBA_OUTCOME_APPROVED) {
      CANTDO_RETURN_IF_ERROR(Required(req->id_token(), "id_token", 16 * 1024));
    } else if (!req->id_token().empty()) {
      return InvalidArgument("id_token", "must be empty unless the outcome is APPROVED");
    }
    if (req->provider_error().size() > 256) return InvalidArgument("provider_error", "at most 256 characters");
    if (req->provider_error_description().size() > 1024) {
      return InvalidArgument("provider_error_description", "at most 1024 characters");
    }
    CANTDO_ASSIGN_OR_RETURN(*resp, authority_.CompleteApproval(caller, *req));
    return absl::OkStatus();
  });
}

::grpc::Status AuthorityServiceImpl::ClaimGrant(::grpc::ServerContext* ctx, const v1::ClaimGrantRequest* req,
                                                v1::ClaimGrantResponse* resp) {
  return Handle([&]() -> absl::Status {
    CANTDO_ASSIGN_OR_RETURN(Caller caller, Authenticate(*ctx, {kWorkerId, kGatewayId}, req->on_behalf_of()));
    CANTDO_RETURN_IF_ERROR(RequiredUuid(req->grant_id(), "grant_id"));
    CANTDO_RETURN_IF_ERROR(ValidateAction(req->action(), false));
    CANTDO_RETURN_IF_ERROR(Required(req->idempotency_key(), "idempotency_key", 128));
    if (!PrintableAscii(req->idempotency_key())) return InvalidArgument("idempotency_key", "must be printable ASCII");
    CANTDO_ASSIGN_OR_RETURN(*resp, authority_.ClaimGrant(caller, *req));
    return absl::OkStatus();
  });
}

::grpc::Status AuthorityServiceImpl::ConsumeGrant(::grpc::ServerContext* ctx, const v1::ConsumeGrantRequest* req,
                                                  v1::ConsumeGrantResponse* resp) {
  return Handle([&]() -> absl::Status {
    CANTDO_ASSIGN_OR_RETURN(Caller caller, Authenticate(*ctx, {kWorkerId, kGatewayId}, req->on_behalf_of()));
    CANTDO_RETURN_IF_ERROR(RequiredUuid(req->grant_id(), "grant_id"));
    const std::string& d = req->outcome_digest();
    if (d.size() != 64 || d.find_first_not_of("0123456789abcdef") != std::string::npos) {
      return InvalidArgument("outcome_digest", "must be a lowercase hex SHA-256 (64 characters)");
    }
    CANTDO_ASSIGN_OR_RETURN(*resp, authority_.ConsumeGrant(caller, *req));
    return absl::OkStatus();
  });
}

::grpc::Status AuthorityServiceImpl::RevokeGrant(::grpc::ServerContext* ctx, const v1::RevokeGrantRequest* req,
                                                 v1::RevokeGrantResponse* resp) {
  return Handle([&]() -> absl::Status {
    CANTDO_ASSIGN_OR_RETURN(Caller caller, Authenticate(*ctx, {kAdminId, kGatewayId}, req->on_behalf_of()));
    CANTDO_RETURN_IF_ERROR(RequiredUuid(req->grant_id(), "grant_id"));
    CANTDO_RETURN_IF_ERROR(Required(req->reason(), "reason", 1024));
    CANTDO_ASSIGN_OR_RETURN(*resp, authority_.RevokeGrant(caller, *req));
    return absl::OkStatus();
  });
}

::grpc::Status AuthorityServiceImpl::ListLedgerEntries(::grpc::ServerContext* ctx,
                                                       const v1::ListLedgerEntriesRequest* req,
                                                       v1::ListLedgerEntriesResponse* resp) {
  return Handle([&]() -> absl::Status {
    CANTDO_RETURN_IF_ERROR(Authenticate(*ctx, {kGatewayId, kAdminId}).status());
    if (req->page_size() < 0) return InvalidArgument("page_size", "must not be negative");
    const int size = req->page_size() == 0 ? 100 : std::min(req->page_size(), 1000);
    int64_t start = std::max<int64_t>(req->start_sequence(), 1);
    if (!req->page_token().empty()) {
      if (!absl::SimpleAtoi(req->page_token(), &start) || start < 1) {
        return InvalidArgument("page_token", "is not a token this service issued");
      }
    }
    CANTDO_ASSIGN_OR_RETURN(auto conn, pool_.Acquire(absl::Now() + absl::Seconds(10)));
    // Read your writes: entries committed before this call are chained first.
    CANTDO_RETURN_IF_ERROR(Ledger::ChainAll(*conn).status());
    CANTDO_ASSIGN_OR_RETURN(auto entries, Ledger::List(*conn, req->filter(), start, size + 1));
    for (int i = 0; i < static_cast<int>(entries.size()) && i < size; ++i) *resp->add_entries() = entries[i];
    if (static_cast<int>(entries.size()) > size) resp->set_next_page_token(absl::StrCat(entries[size].sequence()));
    return absl::OkStatus();
  });
}

::grpc::Status AuthorityServiceImpl::VerifyLedger(::grpc::ServerContext* ctx, const v1::VerifyLedgerRequest* req,
                                                  v1::VerifyLedgerResponse* resp) {
  return Handle([&]() -> absl::Status {
    CANTDO_RETURN_IF_ERROR(Authenticate(*ctx, {kGatewayId, kAdminId}).status());
    if (req->start_sequence() < 0) return InvalidArgument("start_sequence", "must not be negative");
    if (req->end_sequence() < 0) return InvalidArgument("end_sequence", "must not be negative");
    CANTDO_ASSIGN_OR_RETURN(auto conn, pool_.Acquire(absl::Now() + absl::Seconds(10)));
    CANTDO_RETURN_IF_ERROR(Ledger::ChainAll(*conn).status());
    CANTDO_ASSIGN_OR_RETURN(*resp->mutable_verification(),
                            Ledger::Verify(*conn, req->start_sequence(), req->end_sequence(), clock_.Now()));
    return absl::OkStatus();
  });
}

::grpc::Status AuthorityServiceImpl::GetPolicy(::grpc::ServerContext* ctx, const v1::GetPolicyRequest*,
                                               v1::GetPolicyResponse* resp) {
  return Handle([&]() -> absl::Status {
    CANTDO_RETURN_IF_ERROR(Authenticate(*ctx, {kWorkerId, kGatewayId, kAdminId}).status());
    *resp->mutable_policy() = authority_.policy().proto();
    return absl::OkStatus();
  });
}

}  // namespace cantdo::authority
