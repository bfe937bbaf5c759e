#pragma once
// cantdo-gateway: the public gRPC front door (docs/api.md). Wiring of the
// pieces in this directory: caller authentication (client certificate or
// bearer token), per-caller rate limits, the three v1 services, and the
// admission loop that admits or rejects runs once their workflow.start
// approval is decided.

#include <map>
#include <memory>

#include "cantdo/runtime/oidc_trust.hpp"
#include "cantdo/runtime/service_runtime.hpp"
#include "cantdo/workflow/client.hpp"
#include "gateway/admission.hpp"
#include "gateway/authority_client.hpp"
#include "gateway/authorization_service.hpp"
#include "gateway/call_guard.hpp"
#include "gateway/ledger_service.hpp"
#include "gateway/workflow_service.hpp"

namespace cantdo::gateway {

struct GatewayConfig {
  std::string authority_address;      // host:port of cantdo-authority (mTLS)
  std::string authority_server_name;  // TLS name expected from it
  // Bearer tokens: all three set, or none (certificates only).
  std::string oidc_issuer;
  std::string oidc_audience;  // the gateway's resource indicator
  std::string oidc_jwks_uri;  // https://... or a file path
  std::string oidc_ca_file;
  std::string oidc_roles_claim = "https://cantdo.dev/roles";
  std::string callers_file;  // JSON principal -> roles
  std::string callers;       // the same document inline
  // Workflow types and their default task queues: "type=queue,type=queue".
  std::string workflow_types = "customer_offboarding=offboarding";
  int rate_limit = 50;  // calls per second per caller; 0: none
  int rate_limit_burst = 100;
  absl::Duration admission_sweep_interval = absl::Seconds(5);
  absl::Duration watch_max_lifetime = absl::Minutes(10);
  int max_watches = 64;
};

class GatewayApp final : public runtime::ServiceApp {
 public:
  std::string Name() const override { return "gateway"; }
  std::string DefaultListen() const override { return "0.0.0.0:8443"; }
  grpc::ClientCertPolicy ClientCerts() const override { return grpc::ClientCertPolicy::kRequestAndVerify; }
  void RegisterOptions(Options& options) override;
  absl::Status Init(const runtime::RuntimeContext& ctx) override;
  std::vector<::grpc::Service*> Services() override;
  const std::vector<pg::Migration>& Migrations() const override;
  void Stop() override;

  GatewayConfig& config() { return config_; }
  Admission* admission() { return admission_.get(); }

 private:
  GatewayConfig config_;
  runtime::OidcTrust oidc_;
  std::unique_ptr<CallerAuthenticator> authenticator_;
  std::unique_ptr<RateLimiter> limiter_;
  std::unique_ptr<CallGuard> guard_;
  std::unique_ptr<AuthorityClient> authority_;
  std::unique_ptr<workflow::WorkflowClient> workflows_client_;
  std::unique_ptr<Admission> admission_;
  std::unique_ptr<AdmissionLoop> admission_loop_;
  std::unique_ptr<WorkflowServiceImpl> workflows_;
  std::unique_ptr<AuthorizationServiceImpl> authorizations_;
  std::unique_ptr<LedgerServiceImpl> ledger_;
};

// "customer_offboarding=offboarding,x=y" -> {type: queue}.
absl::StatusOr<std::map<std::string, std::string>> ParseWorkflowTypes(const std::string& spec);

}  // namespace cantdo::gateway
