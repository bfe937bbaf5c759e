#pragma once
// Grants: the one-shot grant lifecycle at execution time. Claim (ISSUED ->
// CLAIMED, releasing the execution credential), consume (CLAIMED ->
// CONSUMED; for an admission grant, admitting the run in the same
// transaction) and revoke. A consume answers once the credential is
// disabled (it can do nothing from then on); its CredentialReaper drops it
// and records CREDENTIAL_DESTROYED moments later. A revoke destroys it
// before answering. Every refusal is committed to the
// ledger (GRANT_DENIED) before it is returned, through one function.
//
// Concurrency: a claim or consume is one conditional UPDATE (GrantStore),
// so of any number of concurrent callers exactly one wins; the others read
// the row back, locked, and are refused with the first check that fails.

#include <memory>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "authority/authority_metrics.hpp"
#include "authority/caller.hpp"
#include "authority/credential_reaper.hpp"
#include "authority/credentials.hpp"
#include "authority/grant_store.hpp"
#include "authority/ledger.hpp"
#include "cantdo/authority/v1/authority_service.pb.h"
#include "cantdo/base/clock.hpp"
#include "cantdo/pg/pool.hpp"

namespace cantdo::authority {

struct GrantsOptions {
  // How long a released credential stays valid if never consumed (never
  // beyond the grant's own expiry).
  absl::Duration credential_ttl = absl::Minutes(2);
  // How old an intent no committed claim owns must be before its credential
  // is destroyed as an orphan (longer than any claim transaction takes).
  absl::Duration credential_orphan_grace = absl::Minutes(1);
};

class Grants {
 public:
  // Everything must outlive this. Either issuer may be null when the policy
  // releases no credential of that kind. Transitions and refusals are
  // counted in `metrics` once committed.
  Grants(pg::Pool& pool, Clock& clock, GrantsOptions options, CredentialIssuer* postgres_credentials,
         CredentialIssuer* secrets, AuthorityMetrics& metrics);

  absl::StatusOr<v1::ClaimGrantResponse> Claim(const Caller& caller, const v1::ClaimGrantRequest& req);
  absl::StatusOr<v1::ConsumeGrantResponse> Consume(const Caller& caller, const v1::ConsumeGrantRequest& req);
  absl::StatusOr<v1::RevokeGrantResponse> Revoke(const Caller& caller, const v1::RevokeGrantRequest& req);

  // Destroys the credential `handle` released for grant `g` and, if the
  // grant still names it, clears it and records CREDENTIAL_DESTROYED as
  // `actor`. The consume's reaper, a revoke and the sweeper may race to do
  // this for the same grant; exactly one of them records it.
  absl::Status ForgetCredential(const common::v1::Grant& g, const std::string& handle, const std::string& actor);
  // Whether this replica's consume reaper is about to destroy `handle`
  // (the sweeper leaves it to the reaper).
  bool ReaperHolds(const std::string& handle) { return reaper_.Holds(handle); }
  // Stops the consume reaper (CredentialReaper::Stop): before the pool and
  // the credential issuers go.
  void StopReaper() { reaper_.Stop(); }

  // Destroys the credentials of intents older than the orphan grace that no
  // committed claim owns (a claim that rolled back, was retried, or whose
  // authority died before it committed), each recorded as
  // CREDENTIAL_DESTROYED (detail orphan = true). Returns how many.
  absl::StatusOr<int> DestroyOrphanCredentials(int limit);

 private:
  CredentialIssuer* IssuerFor(common::v1::ExecutionCredentialKind kind) const;
  // Disables credential `handle` of grant `g` (CredentialIssuer::Disable).
  absl::Status DisableCredential(const common::v1::Grant& g, const std::string& handle);
  // Creates the credential of `g` for a claim in progress: its intent is
  // recorded (committed on its own) first, and its handle appended to
  // `*made` before it exists.
  // `approved` is what the credential may do (see CredentialIssuer::Issue).
  absl::StatusOr<IssuedCredential> MakeCredential(CredentialIssuer& issuer, const GrantRow& g, absl::Time until,
                                                  const common::v1::ActionRef& approved,
                                                  std::vector<std::string>* made);
  // Destroys a credential no committed claim owns and forgets its intent.
  absl::Status DestroyUnowned(CredentialIssuer& issuer, const std::string& handle);
  // The one way a refusal is committed: a GRANT_DENIED entry in `tx` with
  // `reason` about grant `grant_id` (its binding when `current` exists,
  // else `attempted`'s), returning the PERMISSION_DENIED to answer once
  // `tx` has committed.
  absl::StatusOr<absl::Status> Refuse(pg::Connection& tx, const Caller& caller, const std::string& grant_id,
                                      const GrantRow* current, const LedgerRecord& attempted, const std::string& reason,
                                      nlohmann::json detail, absl::Time now);

  // A connection for the credential intents a claim records while its own
  // transaction holds a connection of `pool_`: from a pool of its own, or
  // as many concurrent claims as `pool_` has connections would each hold
  // one and wait for a second, and none would proceed.
  absl::StatusOr<pg::PooledConnection> IntentConnection();

  pg::Pool& pool_;
  absl::Mutex intents_mu_;
  std::unique_ptr<pg::Pool> intents_pool_ ABSL_GUARDED_BY(intents_mu_);
  Clock& clock_;
  GrantsOptions options_;
  CredentialIssuer* postgres_credentials_;
  CredentialIssuer* secrets_;
  AuthorityMetrics& metrics_;
  // Last: its thread, which calls ForgetCredential, stops before the rest
  // of this object goes.
  CredentialReaper reaper_;
};

}  // namespace cantdo::authority
