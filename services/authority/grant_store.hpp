#pragma once
// GrantStore: one-shot grants (table cantdo.grants, V0002). The only place
// their SQL lives; rows are read by column name.
//
// State moves are conditional UPDATEs: of any number of concurrent callers
// exactly one matches a row (READ COMMITTED re-evaluates the condition on
// the row version it waited for), the others get nothing and read the row
// back to learn why. Functions run on the caller's connection; those that
// write expect the caller's transaction (REQUIRES: inside a transaction)
// unless they say they are one statement.

#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "cantdo/common/v1/authorization.pb.h"
#include "cantdo/pg/pool.hpp"

namespace cantdo::authority {

struct GrantRow {
  common::v1::Grant proto;
  std::string credential_target;  // the policy's credential target
  std::string claim_key_sha256;   // "" until claimed
  std::string credential_handle;  // the live credential's handle, or ""
  // The approval's parameters (RFC 8785 text), exactly as approved.
  std::string approved_parameters;
  // Set by the *InOneStatement calls: the entry_id of the ledger entry the
  // statement wrote with the grant's move.
  int64_t ledger_entry_id = 0;
};

// What a claimer presents: every field must equal the grant's.
struct PresentedClaim {
  std::string grant_id, principal;
  std::string acting_service;    // the calling service (Caller::identity), for the ledger
  common::v1::ActionRef action;  // parameters are compared by hash
  std::string parameters_hash;
  std::string claim_key_sha256;
};

// A new grant, minted from a verified approval.
struct NewGrant {
  std::string grant_id, approval_id, approver_subject;
  absl::Time issue_time, expire_time;
  std::string credential_kind;  // ExecutionCredentialKind name without prefix, or ""
  std::string credential_target;
};

// How a credential kind is stored (grants.credential_kind,
// credential_intents.kind): the enum name without its prefix, "" for none.
std::string CredentialKindName(common::v1::ExecutionCredentialKind kind);

// The action exactly as approved: the grant's binding with the approval's
// parameters.
absl::StatusOr<common::v1::ActionRef> ApprovedAction(const GrantRow& grant);

class GrantStore {
 public:
  static absl::StatusOr<std::optional<GrantRow>> Load(pg::Connection& conn, const std::string& grant_id, bool lock);

  // Inserts the grant with the binding of its approval. REQUIRES: inside a
  // transaction.
  static absl::Status Mint(pg::Connection& tx, const NewGrant& grant);

  // ISSUED -> CLAIMED if `c` matches every binding and the grant is live.
  // REQUIRES: inside a transaction.
  static absl::StatusOr<std::optional<GrantRow>> ClaimIfIssued(pg::Connection& tx, const PresentedClaim& c,
                                                               absl::Time now);
  // The same for a grant that releases no credential, together with its
  // GRANT_CLAIMED ledger entry (`detail`), as one statement on a pooled
  // connection (one round trip, its own implicit transaction).
  static absl::StatusOr<std::optional<GrantRow>> ClaimInOneStatement(pg::Pool& pool, const PresentedClaim& c,
                                                                     absl::Time now, const nlohmann::json& detail);
  // A repeated claim of the same execution: moves claim_time.
  static absl::Status TouchClaim(pg::Connection& tx, const std::string& grant_id, absl::Time now);
  static absl::Status SetCredentialHandle(pg::Connection& tx, const std::string& grant_id, const std::string& handle);

  // CLAIMED -> CONSUMED for `principal` if live. REQUIRES: inside a
  // transaction.
  static absl::StatusOr<std::optional<GrantRow>> ConsumeIfClaimed(pg::Connection& tx, const std::string& grant_id,
                                                                  const std::string& principal,
                                                                  const std::string& outcome_digest, absl::Time now);
  // The same with its GRANT_CONSUMED ledger entry as one statement, for
  // grants whose consume does nothing else (not admission grants).
  // `acting_service` is the calling service, for the ledger entry.
  static absl::StatusOr<std::optional<GrantRow>> ConsumeInOneStatement(pg::Pool& pool, const std::string& grant_id,
                                                                       const std::string& principal,
                                                                       const std::string& acting_service,
                                                                       const std::string& outcome_digest,
                                                                       absl::Time now, const nlohmann::json& detail);

  // The entry_id of the grant's GRANT_CONSUMED ledger entry (0 if none),
  // for a repeated consume's answer.
  static absl::StatusOr<int64_t> ConsumedEntryId(pg::Connection& conn, const std::string& grant_id);

  // -> REVOKED. REQUIRES: inside a transaction, the grant locked.
  static absl::Status Revoke(pg::Connection& tx, const std::string& grant_id, const std::string& reason,
                             absl::Time now);
  // ISSUED/CLAIMED past their expire_time -> EXPIRED, at most `limit`.
  static absl::StatusOr<std::vector<GrantRow>> ExpireOverdue(pg::Connection& tx, absl::Time now, int limit);

  // Grants that still name a credential but are no longer CLAIMED.
  static absl::StatusOr<std::vector<GrantRow>> WithStaleCredentials(pg::Connection& conn, int limit);
  // Clears the credential handle if the grant still names `handle`;
  // returns whether it did (so exactly one of several racers records it).
  static absl::StatusOr<bool> ForgetCredentialHandle(pg::Connection& tx, const std::string& grant_id,
                                                     const std::string& handle);
};

}  // namespace cantdo::authority
