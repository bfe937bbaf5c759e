#include "authority/authority_app.hpp"

#include <algorithm>

#include <nlohmann/json.hpp>

#include "absl/strings/escaping.h"
#include "absl/strings/str_split.h"
#include "cantdo/grpc/tls.hpp"
#include "cantdo/base/log.hpp"
#include "cantdo/base/status.hpp"
#include "cantdo/db/migrations.hpp"
#include "cantdo/pg/dsn.hpp"

namespace cantdo::authority {

void AuthorityApp::RegisterOptions(Options& o) {
  auto& c = config_;
  o.String("policy-file", &c.policy_file, "the policy document (JSON)", true)
      .String("oidc-issuer", &c.oidc_issuer, "identity provider issuer, exactly as in ID tokens' iss", true)
      .String("oidc-audience", &c.oidc_audience, "our client id at the identity provider (ID tokens' aud)", true)
      .String("oidc-jwks-uri", &c.oidc_jwks_uri, "the provider's JWKS: https URL or a file path", true)
      .String("oidc-ca-file", &c.oidc_ca_file, "CA bundle for the JWKS URI (default: the system's)")
      .Bool("require-auth-req-id-claim", &c.require_auth_req_id_claim,
            "require the CIBA auth_req_id claim in ID tokens (push-mode providers send it)")
      .Duration("approval-clock-skew", &c.approval_clock_skew,
                "how much earlier than its CIBA request an approver's ID token may say it was issued")
      .String("bridge-address", &c.bridge_address, "host:port of cantdo-ciba-bridge (mTLS)")
      .String("bridge-server-name", &c.bridge_server_name, "TLS name to expect from the bridge (default: its host)")
      .String("ciba-scope", &c.ciba_scope,
              "scope of every CIBA request (space-separated, with openid); add the scope that releases the roles "
              "claim where the provider needs one")
      .String("ciba-acr-values", &c.ciba_acr_values, "acr_values of every CIBA request (space-separated), if any")
      .String("ciba-claims", &c.ciba_claims,
              "OIDC claims request parameter (JSON object) of every CIBA request, for providers that release a "
              "claim only when asked, e.g. {\"id_token\":{\"groups\":{\"essential\":true}}}")
      .Duration("ciba-max-requested-expiry", &c.ciba_max_requested_expiry,
                "cap on requested_expiry (default: the approval's remaining time, at most 7 days)")
      .Duration("ask-again-delay", &c.ask_again.delay,
                "wait before asking an approver again after the provider ended a request undecided (doubles each time)")
      .Duration("ask-again-max-delay", &c.ask_again.max_delay, "cap of that wait")
      .Duration("ask-again-approver-gap", &c.ask_again.approver_gap,
                "an approver is asked again at most this often, across approvals")
      .Duration("jwks-min-refresh-interval", &c.jwks_min_refresh_interval,
                "an unknown kid refetches the provider's keys at most this often (retryable meanwhile)")
      .String("target-db-admin-dsn", &c.target_db_admin_dsn,
              "DSN with CREATEROLE on the target database, for short-lived login roles")
      .String("target-db-host", &c.target_db_host, "host the released Postgres credentials connect to")
      .Int("target-db-port", &c.target_db_port, "port the released Postgres credentials connect to")
      .String("target-db-name", &c.target_db_name, "database the released Postgres credentials connect to")
      .String("target-db-sslmode", &c.target_db_sslmode,
              "libpq sslmode of the released Postgres credentials (default: that of --target-db-admin-dsn)")
      .String("secrets-key", &c.secrets_key, "base64 AES-256 key for stored static secrets (set via environment)")
      .Duration("credential-ttl", &c.credential_ttl, "lifetime of a released credential if never consumed")
      .Duration("credential-orphan-grace", &c.credential_orphan_grace,
                "age after which a credential no committed claim owns is destroyed by the sweeper")
      .Duration("background-interval", &c.background_interval, "how often to dispatch and sweep")
      .Duration("ledger-chain-interval", &c.ledger_chain_interval,
                "how often pending ledger entries are hash-chained (at most this long unhashed)")
      .String("ledger-signing-key", &c.ledger_signing_key,
              "signer key for ledger checkpoints, PRIVATE+KEY+<name>+... (cantdo-ledger keygen); set via environment")
      .String("ledger-signing-key-file", &c.ledger_signing_key_file,
              "file holding the signer key for ledger checkpoints (a mounted Secret)")
      .String("ledger-checkpoint-dir", &c.ledger_checkpoint_dir,
              "directory the signed ledger checkpoints are written to (outside the database)")
      .Duration("ledger-checkpoint-interval", &c.ledger_checkpoint_interval,
                "how often a checkpoint is signed while the ledger grows")
      .Check([&c] {
        std::vector<absl::string_view> scopes = absl::StrSplit(c.ciba_scope, ' ', absl::SkipEmpty());
        return std::find(scopes.begin(), scopes.end(), "openid") != scopes.end() ? ""
                                                                                 : "--ciba-scope must include openid";
      })
      .Check([&c] {
        return c.ciba_claims.empty() || nlohmann::json::parse(c.ciba_claims, nullptr, false).is_object()
                   ? ""
                   : "--ciba-claims must be a JSON object";
      })
      .Check([&c] {
        return c.ask_again.delay >= absl::Seconds(1) && c.ask_again.max_delay >= c.ask_again.delay &&
                       c.ask_again.approver_gap >= absl::ZeroDuration()
                   ? ""
                   : "--ask-again-delay must be at least 1s and at most --ask-again-max-delay";
      })
      .Check([&c] { return runtime::CheckJwksUri(c.oidc_jwks_uri); })
      .Check([&c] {
        const bool key = !c.ledger_signing_key.empty() || !c.ledger_signing_key_file.empty();
        return key == !c.ledger_checkpoint_dir.empty()
                   ? ""
                   : "ledger checkpoints need both a signing key (--ledger-signing-key or --ledger-signing-key-file) "
                     "and --ledger-checkpoint-dir";
      });
}

absl::Status AuthorityApp::BuildCredentialIssuers(pg::Pool& pool) {
  if (!config_.target_db_admin_dsn.empty()) {
    // Released logins connect the way the authority's own connection to
    // the target does (verify-full in prod), unless configured apart.
    std::string sslmode = config_.target_db_sslmode;
    if (sslmode.empty()) {
      CANTDO_ASSIGN_OR_RETURN(sslmode, pg::DsnSetting(config_.target_db_admin_dsn, "sslmode"));
    }
    postgres_credentials_ = std::make_unique<PostgresRoleIssuer>(
        PostgresTarget{config_.target_db_admin_dsn, config_.target_db_host, config_.target_db_port,
                       config_.target_db_name, sslmode.empty() ? "prefer" : sslmode});
  }
  if (!config_.secrets_key.empty()) {
    std::string key;
    if (!absl::Base64Unescape(config_.secrets_key, &key) || key.size() != 32) {
      return InvalidArgument("secrets-key", "must be 32 bytes, base64-encoded");
    }
    secrets_ = std::make_unique<StaticSecretIssuer>(pool, key);
  }
  return absl::OkStatus();
}

void AuthorityApp::StartBackgroundWork(pg::Pool* pool) {
  background_ = std::thread([this] {
    while (!stop_.WaitForNotificationWithTimeout(config_.background_interval)) {
      if (auto n = authority_->DispatchPending(); !n.ok()) {
        log::Warn("dispatch failed", {{"error", std::string(n.status().message())}});
      }
      if (auto n = authority_->SweepExpired(); !n.ok()) {
        log::Warn("sweep failed", {{"error", std::string(n.status().message())}});
      }
    }
  });
  chainer_ = std::thread([this, pool] {
    while (!stop_.WaitForNotificationWithTimeout(config_.ledger_chain_interval)) {
      auto conn = pool->Acquire(absl::Now() + absl::Seconds(5));
      absl::Status st = conn.ok() ? Ledger::ChainAll(**conn).status() : conn.status();
      if (!st.ok()) {
        metrics_->LedgerChainFailed();
        log::Warn("ledger chaining failed", {{"error", std::string(st.message())}});
      }
    }
  });
  if (checkpointer_) {
    checkpoint_thread_ = std::thread([this, pool] {
      while (!stop_.WaitForNotificationWithTimeout(config_.ledger_checkpoint_interval)) {
        auto conn = pool->Acquire(absl::Now() + absl::Seconds(5));
        absl::StatusOr<std::optional<tlog::Checkpoint>> made =
            conn.ok() ? checkpointer_->MaybeCheckpoint(**conn) : conn.status();
        if (made.ok() && made->has_value()) metrics_->LedgerCheckpointed();
        if (!made.ok()) {
          metrics_->LedgerCheckpointFailed(made.status().code());
          // DATA_LOSS here means the database's history changed under a
          // signed checkpoint: an alert, not a retry.
          log::Error("ledger checkpoint failed", {{"error", std::string(made.status().message())},
                                                  {"code", absl::StatusCodeToString(made.status().code())}});
        }
      }
    });
  }
}

absl::Status AuthorityApp::Init(const runtime::RuntimeContext& ctx) {
  CANTDO_ASSIGN_OR_RETURN(policy_, Policy::LoadFile(config_.policy_file, ctx.clock->Now()));
  runtime::OidcTrustConfig oidc{
      config_.oidc_issuer, config_.oidc_audience, config_.oidc_jwks_uri, config_.oidc_ca_file, {}};
  oidc.jwks.min_refresh_interval = config_.jwks_min_refresh_interval;
  CANTDO_ASSIGN_OR_RETURN(oidc_, runtime::LoadOidcTrust(oidc, *ctx.clock));
  CANTDO_RETURN_IF_ERROR(BuildCredentialIssuers(*ctx.pool));
  sink_ = std::make_unique<WorkflowSignalSink>(*ctx.clock);
  if (!config_.bridge_address.empty()) {
    CibaRequestOptions ciba;
    ciba.scope = config_.ciba_scope;
    ciba.acr_values = absl::StrSplit(config_.ciba_acr_values, ' ', absl::SkipEmpty());
    ciba.claims = config_.ciba_claims;
    ciba.max_requested_expiry = config_.ciba_max_requested_expiry;
    bridge_ = std::make_unique<GrpcBridgeStarter>(
        cantdo::grpc::MakeMtlsChannel(config_.bridge_address, ctx.tls, config_.bridge_server_name), std::move(ciba));
  }
  AuthorityOptions options;
  options.issuer = config_.oidc_issuer;
  options.require_auth_req_id_claim = config_.require_auth_req_id_claim;
  options.approval_clock_skew = config_.approval_clock_skew;
  options.credential_ttl = config_.credential_ttl;
  options.credential_orphan_grace = config_.credential_orphan_grace;
  options.ask_again = config_.ask_again;
  metrics_ = std::make_unique<AuthorityMetrics>(*ctx.metrics, *policy_, *ctx.clock);
  authority_ =
      std::make_unique<Authority>(*ctx.pool, *ctx.clock, *policy_, *oidc_.verifier, options,
                                  postgres_credentials_.get(), secrets_.get(), sink_.get(), bridge_.get(), *metrics_);
  if (!config_.ledger_checkpoint_dir.empty()) {
    CANTDO_ASSIGN_OR_RETURN(tlog::NoteSigner signer,
                            LoadLedgerSigningKey(config_.ledger_signing_key, config_.ledger_signing_key_file));
    CANTDO_ASSIGN_OR_RETURN(checkpointer_,
                            LedgerCheckpointer::Create(std::move(signer), config_.ledger_checkpoint_dir));
    log::Info("ledger checkpoints on", {{"dir", config_.ledger_checkpoint_dir},
                                        {"verifier_key", checkpointer_->verifier_key()},
                                        {"size", checkpointer_->Latest().size}});
  } else {
    log::Warn("ledger checkpoints off: no signing key; the ledger is only as trustworthy as the database");
  }
  metrics_->AddCollectors(*ctx.metrics, *ctx.pool, checkpointer_.get());
  service_ = std::make_unique<AuthorityServiceImpl>(*authority_, *ctx.pool, *ctx.clock, checkpointer_.get());
  log::Info("policy loaded",
            {{"version", policy_->version()}, {"sha256", policy_->hash()}, {"rules", policy_->proto().rules_size()}});
  StartBackgroundWork(ctx.pool);
  return absl::OkStatus();
}

void AuthorityApp::Stop() {
  if (!stop_.HasBeenNotified()) stop_.Notify();
  if (background_.joinable()) background_.join();
  if (chainer_.joinable()) chainer_.join();
  if (checkpoint_thread_.joinable()) checkpoint_thread_.join();
  if (authority_) authority_->Stop();
}

const std::vector<pg::Migration>& AuthorityApp::Migrations() const { return db::AllMigrations(); }

}  // namespace cantdo::authority
