#pragma once
// cantdo-authority: the security kernel (policy, approvals, one-shot grants,
// execution credentials, ledger) served over mutual TLS. Wiring of the
// pieces in this directory; see authority.hpp for the logic.

#include <atomic>
#include <memory>
#include <thread>

#include "absl/synchronization/notification.h"
#include "authority/authority.hpp"
#include "authority/authority_metrics.hpp"
#include "authority/authority_service.hpp"
#include "authority/bridge_starter.hpp"
#include "authority/ledger_checkpointer.hpp"
#include "cantdo/runtime/oidc_trust.hpp"
#include "cantdo/runtime/service_runtime.hpp"

namespace cantdo::authority {

struct AuthorityConfig {
  std::string policy_file;
  std::string oidc_issuer;
  std::string oidc_audience;
  std::string oidc_jwks_uri;  // https://... or a file path
  std::string oidc_ca_file;   // CA bundle for an https JWKS URI
  bool require_auth_req_id_claim = false;
  // How much earlier than its request's dispatch an approver's token may say
  // it was issued.
  absl::Duration approval_clock_skew = absl::Seconds(5);
  std::string bridge_address;  // host:port of the ciba-bridge; empty: none
  std::string bridge_server_name;
  // What each CIBA request asks the provider for (CibaRequestOptions).
  std::string ciba_scope = "openid";
  std::string ciba_acr_values;  // space-separated
  std::string ciba_claims;      // JSON object text
  absl::Duration ciba_max_requested_expiry = absl::ZeroDuration();
  // Asking again after the provider ended a request undecided.
  AskAgainOptions ask_again;
  // How often the provider's keys may be refetched for an unknown kid.
  absl::Duration jwks_min_refresh_interval = absl::Seconds(30);
  std::string target_db_admin_dsn;  // CREATEROLE connection for POSTGRES_ROLE credentials
  std::string target_db_host = "127.0.0.1";
  int target_db_port = 5432;
  std::string target_db_name;
  // libpq sslmode the released logins use; "" = that of target_db_admin_dsn
  // (libpq's default, prefer, if it names none).
  std::string target_db_sslmode;
  std::string secrets_key;  // base64 (32 bytes) for STATIC_SECRET credentials
  absl::Duration credential_ttl = absl::Minutes(2);
  // How old a recorded credential intent must be, with no committed claim
  // owning its credential, before the sweeper destroys that credential
  // (longer than any claim transaction takes).
  absl::Duration credential_orphan_grace = absl::Minutes(1);
  absl::Duration background_interval = absl::Seconds(2);
  // How often pending ledger entries are chained (readers chain first
  // anyway; this bounds how long an entry stays unhashed).
  absl::Duration ledger_chain_interval = absl::Milliseconds(200);
  // Signed checkpoints of the ledger (ledger_checkpointer.hpp): the signer
  // key itself (set through the environment, CANTDO_LEDGER_SIGNING_KEY) or
  // a file holding it (a mounted Kubernetes Secret), and the directory the
  // checkpoints are written to. Without a key there are no checkpoints.
  std::string ledger_signing_key;
  std::string ledger_signing_key_file;
  std::string ledger_checkpoint_dir;
  // How often a checkpoint is signed while the ledger grows.
  absl::Duration ledger_checkpoint_interval = absl::Seconds(2);
};

class AuthorityApp final : public runtime::ServiceApp {
 public:
  std::string Name() const override { return "authority"; }
  std::string DefaultListen() const override { return "0.0.0.0:9443"; }
  void RegisterOptions(Options& options) override;
  absl::Status Init(const runtime::RuntimeContext& ctx) override;
  std::vector<::grpc::Service*> Services() override { return {service_.get()}; }
  const std::vector<pg::Migration>& Migrations() const override;
  void Stop() override;

  AuthorityConfig& config() { return config_; }
  Authority* authority() { return authority_.get(); }
  // Null when checkpoints are off (no signing key).
  LedgerCheckpointer* checkpointer() { return checkpointer_.get(); }

 private:
  // The issuers of execution credentials the configuration names (a
  // PostgreSQL target, static secrets); none is required.
  absl::Status BuildCredentialIssuers(pg::Pool& pool);
  // Starts the approval dispatch and expiry sweep, the ledger chainer and,
  // with checkpoints on, the checkpointer; Stop() ends them.
  void StartBackgroundWork(pg::Pool* pool);

  AuthorityConfig config_;
  std::unique_ptr<Policy> policy_;
  runtime::OidcTrust oidc_;
  std::unique_ptr<CredentialIssuer> postgres_credentials_;
  std::unique_ptr<CredentialIssuer> secrets_;
  std::unique_ptr<DecisionSink> sink_;
  std::unique_ptr<BridgeStarter> bridge_;
  std::unique_ptr<AuthorityMetrics> metrics_;
  std::unique_ptr<Authority> authority_;
  std::unique_ptr<LedgerCheckpointer> checkpointer_;
  std::unique_ptr<AuthorityServiceImpl> service_;
  absl::Notification stop_;
  std::thread background_;
  std::thread chainer_;
  std::thread checkpoint_thread_;
};

}  // namespace cantdo::authority
