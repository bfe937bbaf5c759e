#include "authority/grants.hpp"

#include "absl/strings/str_cat.h"
#include "authority/credential_intent_store.hpp"
#include "authority/ledger_records.hpp"
#include "authority/parameters.hpp"
#include "authority/pg_time.hpp"
#include "cantdo/base/fail_point.hpp"
#include "cantdo/base/ids.hpp"
#include "cantdo/base/log.hpp"
#include "cantdo/base/status.hpp"
#include "cantdo/pg/transaction.hpp"

namespace cantdo::authority {
namespace {

namespace cv1 = common::v1;

// Connections for credential intents (see Grants::IntentConnection): an
// intent is one short INSERT or DELETE, so two serve many claims.
constexpr int kIntentConnections = 2;
// Consumed credentials waiting for their drop; beyond this, the sweeper's.
constexpr std::size_t kReaperCapacity = 10000;

std::string StateName(cv1::GrantState s) { return cv1::GrantState_Name(s).substr(std::string("GRANT_STATE_").size()); }

// A workflow.start grant for step "admission" gates the run named by its
// binding (the gateway requests it when it creates the run).
bool IsAdmissionGrant(const cv1::Grant& g) { return g.action() == "workflow.start" && g.step() == "admission"; }

// Admits the grant's run through cantdo.workflow_admit (V0008), in `tx`.
// Returns the function's outcome (ADMITTED or ALREADY_ADMITTED); any other
// outcome fails the transaction, so the grant is not consumed for a run that
// cannot run (closed meanwhile, gated by another approval).
absl::StatusOr<std::string> AdmitRun(pg::Connection& tx, const cv1::Grant& g, absl::Time now) {
  CANTDO_ASSIGN_OR_RETURN(pg::Result r, tx.Exec("SELECT outcome FROM cantdo.workflow_admit($1, $2::timestamptz)",
                                                {g.grant_id(), PgTime(now)}));
  CANTDO_ASSIGN_OR_RETURN(std::string outcome, r.GetString(0, 0));
  if (outcome == "ADMITTED" || outcome == "ALREADY_ADMITTED") return outcome;
  const char* reason = outcome == "NOT_FOUND" ? "WORKFLOW_NOT_FOUND"
                       : outcome == "CLOSED"  ? "WORKFLOW_ALREADY_CLOSED"
                                              : "WORKFLOW_NOT_ADMITTED";
  absl::Status s = FailedPrecondition(
      reason, absl::StrCat("run ", g.run_id(), " of workflow ", g.workflow_id(), " cannot be admitted: ", outcome));
  s = WithMetadata(std::move(s), "workflow_id", g.workflow_id());
  return WithMetadata(std::move(s), "run_id", g.run_id());
}

// Why a claim that did not win is refused: the first binding or state that
// fails, in the documented order; "" when it is the same execution claiming
// again (same idempotency key), which is not a second use.
std::string ClaimRefusal(const GrantRow* current, const PresentedClaim& c, absl::Time now) {
  if (current == nullptr) return "GRANT_NOT_FOUND";
  const cv1::Grant& g = current->proto;
  const cv1::ActionRef& a = c.action;
  if (g.principal() != c.principal) return "GRANT_PRINCIPAL_MISMATCH";
  if (g.action() != a.action() || g.resource() != a.resource()) return "GRANT_ACTION_MISMATCH";
  if (g.workflow_id() != a.workflow_id() || g.run_id() != a.run_id()) return "GRANT_WORKFLOW_MISMATCH";
  if (g.step() != a.step()) return "GRANT_STEP_MISMATCH";
  if (g.parameters_hash() != c.parameters_hash) return "GRANT_PARAMETERS_MISMATCH";
  if (g.state() == cv1::GRANT_STATE_CONSUMED) return "GRANT_ALREADY_CONSUMED";
  if (g.state() == cv1::GRANT_STATE_REVOKED) return "GRANT_REVOKED";
  if (g.state() == cv1::GRANT_STATE_EXPIRED || g.expire_time().seconds() <= absl::ToUnixSeconds(now)) {
    return "GRANT_EXPIRED";
  }
  if (g.state() == cv1::GRANT_STATE_CLAIMED && current->claim_key_sha256 == c.claim_key_sha256) return "";
  return "GRANT_ALREADY_CLAIMED";
}

// Why a consume that did not win is refused; "" for a repeat of the same
// consume (same outcome digest), which answers with the consumed grant.
std::string ConsumeRefusal(const GrantRow* current, const std::string& principal, const std::string& digest) {
  if (current == nullptr) return "GRANT_NOT_FOUND";
  const cv1::Grant& g = current->proto;
  if (g.principal() != principal) return "GRANT_PRINCIPAL_MISMATCH";
  if (g.state() == cv1::GRANT_STATE_CONSUMED) return g.outcome_digest() == digest ? "" : "GRANT_ALREADY_CONSUMED";
  if (g.state() == cv1::GRANT_STATE_REVOKED) return "GRANT_REVOKED";
  if (g.state() == cv1::GRANT_STATE_ISSUED) return "GRANT_NOT_CLAIMED";
  return "GRANT_EXPIRED";
}

}  // namespace

Grants::Grants(pg::Pool& pool, Clock& clock, GrantsOptions options, CredentialIssuer* postgres_credentials,
               CredentialIssuer* secrets, AuthorityMetrics& metrics)
    : pool_(pool),
      clock_(clock),
      options_(options),
      postgres_credentials_(postgres_credentials),
      secrets_(secrets),
      metrics_(metrics),
      reaper_(
          [this](const cv1::Grant& g, const std::string& handle) { return ForgetCredential(g, handle, kAuthorityId); },
          kReaperCapacity) {}

CredentialIssuer* Grants::IssuerFor(cv1::ExecutionCredentialKind kind) const {
  switch (kind) {
    case cv1::EXECUTION_CREDENTIAL_KIND_POSTGRES_ROLE:
      return postgres_credentials_;
    case cv1::EXECUTION_CREDENTIAL_KIND_STATIC_SECRET:
      return secrets_;
    default:
      return nullptr;
  }
}

absl::StatusOr<IssuedCredential> Grants::MakeCredential(CredentialIssuer& issuer, const GrantRow& grant,
                                                        absl::Time until, const cv1::ActionRef& approved,
                                                        std::vector<std::string>* made) {
  const cv1::Grant& g = grant.proto;
  const std::string handle = issuer.NewHandle(g);
  if (!handle.empty()) {
    // Durable before the credential exists: whatever happens next (a
    // rollback, a retry, a crash), the sweeper finds it.
    CANTDO_ASSIGN_OR_RETURN(auto conn, IntentConnection());
    CANTDO_RETURN_IF_ERROR(CredentialIntentStore::Record(
        *conn, {handle, g.grant_id(), CredentialKindName(g.credential_kind())}, clock_.Now()));
    made->push_back(handle);
  }
  CANTDO_ASSIGN_OR_RETURN(IssuedCredential cred, issuer.Issue(g, handle, grant.credential_target, until, approved));
  FailPoint("authority.claim.after_credential_created");
  return cred;
}

absl::StatusOr<pg::PooledConnection> Grants::IntentConnection() {
  pg::Pool* pool = nullptr;
  {
    absl::MutexLock lock(&intents_mu_);
    if (!intents_pool_) {
      pg::PoolOptions options = pool_.options();
      options.max_size = kIntentConnections;
      options.application_name = absl::StrCat(options.application_name, "-intents");
      CANTDO_ASSIGN_OR_RETURN(intents_pool_, pg::Pool::Create(std::move(options)));
    }
    pool = intents_pool_.get();
  }
  return pool->Acquire(absl::Now() + absl::Seconds(10));
}

absl::Status Grants::DestroyUnowned(CredentialIssuer& issuer, const std::string& handle) {
  CANTDO_RETURN_IF_ERROR(issuer.Destroy(handle));
  CANTDO_ASSIGN_OR_RETURN(auto conn, IntentConnection());
  return CredentialIntentStore::Forget(*conn, handle).status();
}

absl::StatusOr<absl::Status> Grants::Refuse(pg::Connection& tx, const Caller& caller, const std::string& grant_id,
                                            const GrantRow* current, const LedgerRecord& attempted,
                                            const std::string& reason, nlohmann::json detail, absl::Time now) {
  LedgerRecord rec = current != nullptr
                         ? GrantRecord(cv1::LEDGER_EVENT_KIND_GRANT_DENIED, caller.principal(), current->proto)
                         : attempted;
  rec.kind = cv1::LEDGER_EVENT_KIND_GRANT_DENIED;
  rec.actor = caller.principal();
  rec.acting_service = caller.identity;
  rec.grant_id = grant_id;
  rec.reason = reason;
  rec.detail = std::move(detail);
  CANTDO_RETURN_IF_ERROR(Ledger::Append(tx, rec, now).status());
  const std::string operation = rec.detail.value("operation", "use");
  return WithMetadata(PermissionDenied(reason, absl::StrCat(operation, " refused: ", reason)), "grant_id", grant_id);
}

absl::StatusOr<v1::ClaimGrantResponse> Grants::Claim(const Caller& caller, const v1::ClaimGrantRequest& req) {
  CANTDO_ASSIGN_OR_RETURN(CanonicalParameters params, CanonicaliseParameters(req.action().parameters()));
  PresentedClaim presented;
  presented.grant_id = req.grant_id();
  presented.principal = caller.principal();
  presented.acting_service = caller.identity;
  presented.action = req.action();
  presented.parameters_hash = params.sha256;
  presented.claim_key_sha256 = Sha256Hex(req.idempotency_key());
  const nlohmann::json claimed_detail = {{"reclaim", false}, {"idempotency_key_sha256", presented.claim_key_sha256}};
  v1::ClaimGrantResponse resp;
  {
    // Fast path: a live ISSUED grant whose every binding matches and that
    // releases no credential is claimed, and recorded, in one statement.
    // Anything else (a credential to issue, a re-claim, a refusal) takes
    // the transaction below, which re-checks from scratch.
    CANTDO_ASSIGN_OR_RETURN(std::optional<GrantRow> won,
                            GrantStore::ClaimInOneStatement(pool_, presented, clock_.Now(), claimed_detail));
    if (won) {
      metrics_.Grant(GrantTransition::kClaimed);
      CANTDO_ASSIGN_OR_RETURN(*resp.mutable_action(), ApprovedAction(*won));
      *resp.mutable_grant() = std::move(won->proto);
      return resp;
    }
  }
  absl::Status refusal;
  // Credentials made by any attempt of the transaction below (it may run
  // more than once), and the one the committed attempt owns.
  std::vector<std::string> made;
  std::string issued_handle;
  CredentialIssuer* issuer = nullptr;
  bool reclaim = false;
  absl::Status st = pg::RunInTransaction(pool_, {}, [&](pg::Connection& tx) -> absl::Status {
    resp.Clear();
    refusal = absl::OkStatus();
    issued_handle.clear();
    reclaim = false;
    const absl::Time now = clock_.Now();
    CANTDO_ASSIGN_OR_RETURN(std::optional<GrantRow> grant, GrantStore::ClaimIfIssued(tx, presented, now));
    if (!grant) {
      // Why not: read the row (locked, so concurrent claimers queue here).
      CANTDO_ASSIGN_OR_RETURN(auto current, GrantStore::Load(tx, req.grant_id(), true));
      const std::string reason = ClaimRefusal(current ? &*current : nullptr, presented, now);
      if (!reason.empty()) {
        // What was attempted, so an unknown grant's attempt shows up under
        // its workflow and action.
        LedgerRecord attempted;
        attempted.action = req.action().action();
        attempted.resource = req.action().resource();
        attempted.workflow_id = req.action().workflow_id();
        attempted.run_id = req.action().run_id();
        attempted.step = req.action().step();
        attempted.parameters_hash = params.sha256;
        CANTDO_ASSIGN_OR_RETURN(refusal,
                                Refuse(tx, caller, req.grant_id(), current ? &*current : nullptr, attempted, reason,
                                       {{"operation", "claim"},
                                        {"presented_action", req.action().action()},
                                        {"presented_workflow_id", req.action().workflow_id()},
                                        {"presented_step", req.action().step()},
                                        {"presented_parameters_hash", params.sha256}},
                                       now));
        return absl::OkStatus();
      }
      // The same claimer again (crash between claim and consume): same
      // execution, fresh credential; the old one is destroyed below.
      reclaim = true;
      CANTDO_RETURN_IF_ERROR(GrantStore::TouchClaim(tx, req.grant_id(), now));
      grant = std::move(current);
    }

    const cv1::Grant& g = grant->proto;
    issuer = IssuerFor(g.credential_kind());
    if (g.credential_kind() != cv1::EXECUTION_CREDENTIAL_KIND_UNSPECIFIED) {
      if (issuer == nullptr) {
        return WithReason(absl::InternalError("no issuer configured for this grant's credential kind"),
                          "CREDENTIAL_UNAVAILABLE");
      }
      if (reclaim && !grant->credential_handle.empty()) {
        CANTDO_RETURN_IF_ERROR(issuer->Destroy(grant->credential_handle));
      }
      const absl::Time until =
          std::min(now + options_.credential_ttl, absl::FromUnixSeconds(g.expire_time().seconds()));
      // Scoped to the action exactly as approved (the authority's record).
      CANTDO_ASSIGN_OR_RETURN(cv1::ActionRef approved, ApprovedAction(*grant));
      CANTDO_ASSIGN_OR_RETURN(IssuedCredential cred, MakeCredential(*issuer, *grant, until, approved, &made));
      issued_handle = cred.handle;
      *resp.mutable_credential() = std::move(cred.credential);
      CANTDO_RETURN_IF_ERROR(GrantStore::SetCredentialHandle(tx, req.grant_id(), issued_handle));
    }
    CANTDO_ASSIGN_OR_RETURN(auto fresh, GrantStore::Load(tx, req.grant_id(), false));
    if (!fresh) return absl::InternalError("the claimed grant is missing");
    *resp.mutable_grant() = fresh->proto;
    CANTDO_ASSIGN_OR_RETURN(*resp.mutable_action(), ApprovedAction(*fresh));
    LedgerRecord rec = GrantRecord(cv1::LEDGER_EVENT_KIND_GRANT_CLAIMED, caller.principal(), fresh->proto);
    rec.acting_service = caller.identity;
    rec.detail = {{"reclaim", reclaim}, {"idempotency_key_sha256", presented.claim_key_sha256}};
    if (resp.has_credential()) rec.detail["credential_kind"] = fresh->proto.credential_kind();
    return Ledger::Append(tx, rec, now).status();
  });
  // A credential no committed claim owns (an attempt that was retried, or a
  // claim that rolled back) must not outlive it; if destroying it fails
  // here, the sweeper destroys it through its intent.
  for (const std::string& handle : made) {
    if (st.ok() && handle == issued_handle) continue;
    if (absl::Status gone = DestroyUnowned(*issuer, handle); !gone.ok()) {
      log::Warn("credential of an uncommitted claim not destroyed; the sweeper retries",
                {{"grant_id", req.grant_id()}, {"error", std::string(gone.message())}});
    }
  }
  CANTDO_RETURN_IF_ERROR(st);
  if (!refusal.ok()) {
    metrics_.GrantDenied("claim", GetReason(refusal).value_or(""), caller.principal());
    return refusal;
  }
  metrics_.Grant(reclaim ? GrantTransition::kReclaimed : GrantTransition::kClaimed);
  return resp;
}

absl::StatusOr<v1::ConsumeGrantResponse> Grants::Consume(const Caller& caller, const v1::ConsumeGrantRequest& req) {
  v1::ConsumeGrantResponse resp;
  absl::Status refusal;
  std::string handle;
  const nlohmann::json consumed_detail = {{"outcome_digest", req.outcome_digest()}};
  // Fast path: a CLAIMED live grant of the caller's is consumed, and
  // recorded, in one statement, unless it is an admission grant (whose
  // consume admits a run in the same transaction) or the consume is not
  // the first (the transaction below tells a repeat from a reuse).
  CANTDO_ASSIGN_OR_RETURN(std::optional<GrantRow> fast,
                          GrantStore::ConsumeInOneStatement(pool_, req.grant_id(), caller.principal(), caller.identity,
                                                            req.outcome_digest(), clock_.Now(), consumed_detail));
  if (fast) {
    metrics_.Grant(GrantTransition::kConsumed);
    handle = fast->credential_handle;
    resp.set_ledger_entry_id(fast->ledger_entry_id);
    *resp.mutable_grant() = std::move(fast->proto);
  } else {
    bool consumed = false;
    CANTDO_RETURN_IF_ERROR(pg::RunInTransaction(pool_, {}, [&](pg::Connection& tx) -> absl::Status {
      resp.Clear();
      refusal = absl::OkStatus();
      handle.clear();
      consumed = false;
      const absl::Time now = clock_.Now();
      CANTDO_ASSIGN_OR_RETURN(
          std::optional<GrantRow> won,
          GrantStore::ConsumeIfClaimed(tx, req.grant_id(), caller.principal(), req.outcome_digest(), now));
      if (won) {
        consumed = true;
        handle = won->credential_handle;
        *resp.mutable_grant() = won->proto;
        LedgerRecord rec = GrantRecord(cv1::LEDGER_EVENT_KIND_GRANT_CONSUMED, caller.principal(), won->proto);
        rec.acting_service = caller.identity;
        rec.detail = consumed_detail;
        if (IsAdmissionGrant(won->proto)) {
          // Consuming a workflow.start grant IS the admission: the run gets
          // its first task in this transaction or the consume does not
          // happen.
          CANTDO_ASSIGN_OR_RETURN(std::string admitted, AdmitRun(tx, won->proto, now));
          rec.detail["admission"] = admitted;
        }
        CANTDO_ASSIGN_OR_RETURN(int64_t entry, Ledger::Append(tx, rec, now));
        resp.set_ledger_entry_id(entry);
        return absl::OkStatus();
      }
      CANTDO_ASSIGN_OR_RETURN(auto current, GrantStore::Load(tx, req.grant_id(), true));
      const std::string reason =
          ConsumeRefusal(current ? &*current : nullptr, caller.principal(), req.outcome_digest());
      if (reason.empty()) {
        *resp.mutable_grant() = current->proto;  // a repeat of the same consume
        CANTDO_ASSIGN_OR_RETURN(int64_t entry, GrantStore::ConsumedEntryId(tx, req.grant_id()));
        resp.set_ledger_entry_id(entry);
        return absl::OkStatus();
      }
      CANTDO_ASSIGN_OR_RETURN(refusal, Refuse(tx, caller, req.grant_id(), current ? &*current : nullptr, LedgerRecord(),
                                              reason, {{"operation", "consume"}}, now));
      return absl::OkStatus();
    }));
    if (!refusal.ok()) {
      metrics_.GrantDenied("consume", GetReason(refusal).value_or(""), caller.principal());
      return refusal;
    }
    if (consumed) metrics_.Grant(GrantTransition::kConsumed);
  }
  if (!handle.empty()) {
    // Committed as consumed: the credential can do nothing once this
    // returns, and is dropped and recorded right after, off the caller's
    // path. If either fails, the grant still names the credential and the
    // sweeper destroys it.
    if (absl::Status off = DisableCredential(resp.grant(), handle); !off.ok()) {
      log::Warn("credential not disabled at consume; the sweeper destroys it",
                {{"grant_id", req.grant_id()}, {"error", std::string(off.message())}});
    }
    FailPoint("authority.consume.after_credential_disabled");
    (void)reaper_.Enqueue(resp.grant(), handle);
  }
  return resp;
}

absl::StatusOr<v1::RevokeGrantResponse> Grants::Revoke(const Caller& caller, const v1::RevokeGrantRequest& req) {
  v1::RevokeGrantResponse resp;
  absl::Status refusal;
  std::string handle;
  bool revoked = false;
  CANTDO_RETURN_IF_ERROR(pg::RunInTransaction(pool_, {}, [&](pg::Connection& tx) -> absl::Status {
    resp.Clear();
    refusal = absl::OkStatus();
    handle.clear();
    revoked = false;
    const absl::Time now = clock_.Now();
    CANTDO_ASSIGN_OR_RETURN(auto current, GrantStore::Load(tx, req.grant_id(), true));
    if (!current) {
      refusal = WithReason(absl::NotFoundError(absl::StrCat("no grant ", req.grant_id())), "GRANT_NOT_FOUND");
      return absl::OkStatus();
    }
    const auto state = current->proto.state();
    if (state == cv1::GRANT_STATE_REVOKED) {
      *resp.mutable_grant() = current->proto;
      return absl::OkStatus();
    }
    if (state == cv1::GRANT_STATE_CONSUMED || state == cv1::GRANT_STATE_EXPIRED) {
      refusal = FailedPrecondition(state == cv1::GRANT_STATE_CONSUMED ? "GRANT_ALREADY_CONSUMED" : "GRANT_EXPIRED",
                                   absl::StrCat("grant is ", StateName(state), " and cannot be revoked"));
      return absl::OkStatus();
    }
    CANTDO_RETURN_IF_ERROR(GrantStore::Revoke(tx, req.grant_id(), req.reason(), now));
    revoked = true;
    handle = current->credential_handle;
    CANTDO_ASSIGN_OR_RETURN(auto fresh, GrantStore::Load(tx, req.grant_id(), false));
    if (!fresh) return absl::InternalError("the revoked grant is missing");
    *resp.mutable_grant() = fresh->proto;
    LedgerRecord rec = GrantRecord(cv1::LEDGER_EVENT_KIND_GRANT_REVOKED, caller.principal(), fresh->proto);
    rec.acting_service = caller.identity;
    rec.detail = {{"reason", req.reason()}};
    return Ledger::Append(tx, rec, now).status();
  }));
  CANTDO_RETURN_IF_ERROR(refusal);
  if (revoked) metrics_.Grant(GrantTransition::kRevoked);
  if (!handle.empty()) {
    // Revoked: the credential goes now (the sweeper retries if this fails).
    if (absl::Status gone = ForgetCredential(resp.grant(), handle, kAuthorityId); !gone.ok()) {
      log::Warn("credential not destroyed at revoke; the sweeper retries",
                {{"grant_id", req.grant_id()}, {"error", std::string(gone.message())}});
    }
  }
  return resp;
}

absl::Status Grants::DisableCredential(const cv1::Grant& g, const std::string& handle) {
  CredentialIssuer* issuer = IssuerFor(g.credential_kind());
  if (issuer == nullptr) return absl::FailedPreconditionError("no issuer for the grant's credential kind");
  return issuer->Disable(handle);
}

absl::Status Grants::ForgetCredential(const cv1::Grant& g, const std::string& handle, const std::string& actor) {
  CredentialIssuer* issuer = IssuerFor(g.credential_kind());
  if (issuer == nullptr) return absl::FailedPreconditionError("no issuer for the grant's credential kind");
  CANTDO_RETURN_IF_ERROR(issuer->Destroy(handle));
  return pg::RunInTransaction(pool_, {}, [&](pg::Connection& tx) -> absl::Status {
    CANTDO_RETURN_IF_ERROR(CredentialIntentStore::Forget(tx, handle).status());
    CANTDO_ASSIGN_OR_RETURN(bool cleared, GrantStore::ForgetCredentialHandle(tx, g.grant_id(), handle));
    if (!cleared) return absl::OkStatus();  // the other path recorded it
    return Ledger::Append(tx, GrantRecord(cv1::LEDGER_EVENT_KIND_CREDENTIAL_DESTROYED, actor, g), clock_.Now())
        .status();
  });
}

absl::StatusOr<int> Grants::DestroyOrphanCredentials(int limit) {
  std::vector<CredentialIntent> orphans;
  {
    CANTDO_ASSIGN_OR_RETURN(auto conn, pool_.Acquire(absl::Now() + absl::Seconds(10)));
    CANTDO_ASSIGN_OR_RETURN(
        orphans, CredentialIntentStore::Orphans(*conn, clock_.Now() - options_.credential_orphan_grace, limit));
  }
  int destroyed = 0;
  for (const CredentialIntent& orphan : orphans) {
    cv1::ExecutionCredentialKind kind = cv1::EXECUTION_CREDENTIAL_KIND_UNSPECIFIED;
    cv1::ExecutionCredentialKind_Parse("EXECUTION_CREDENTIAL_KIND_" + orphan.kind, &kind);
    CredentialIssuer* issuer = IssuerFor(kind);
    if (issuer == nullptr || !issuer->Destroy(orphan.handle).ok()) continue;  // the next sweep retries
    CANTDO_RETURN_IF_ERROR(pg::RunInTransaction(pool_, {}, [&](pg::Connection& tx) -> absl::Status {
      CANTDO_ASSIGN_OR_RETURN(bool mine, CredentialIntentStore::Forget(tx, orphan.handle));
      if (!mine) return absl::OkStatus();  // another replica recorded it
      CANTDO_ASSIGN_OR_RETURN(auto g, GrantStore::Load(tx, orphan.grant_id, false));
      if (!g) return absl::InternalError("an intent's grant is missing");
      LedgerRecord rec = GrantRecord(cv1::LEDGER_EVENT_KIND_CREDENTIAL_DESTROYED, kAuthorityId, g->proto);
      rec.detail = {{"orphan", true}};
      return Ledger::Append(tx, rec, clock_.Now()).status();
    }));
    ++destroyed;
  }
  return destroyed;
}

}  // namespace cantdo::authority
