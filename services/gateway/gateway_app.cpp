#include "gateway/gateway_app.hpp"

#include "cantdo/offboarding/v1/offboarding.pb.h"

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "cantdo/base/log.hpp"
#include "cantdo/base/status.hpp"
#include "cantdo/db/migrations.hpp"
#include "cantdo/grpc/tls.hpp"
#include "cantdo/workflow_types/catalog.hpp"
#include "gateway/validation.hpp"

namespace cantdo::gateway {

absl::StatusOr<std::map<std::string, std::string>> ParseWorkflowTypes(const std::string& spec) {
  std::map<std::string, std::string> out;
  for (absl::string_view raw : absl::StrSplit(spec, ',', absl::SkipWhitespace())) {
    const absl::string_view item = absl::StripAsciiWhitespace(raw);
    std::pair<std::string, std::string> kv = absl::StrSplit(item, absl::MaxSplits('=', 1));
    if (!ValidateWorkflowType(kv.first, "workflow-types").ok() ||
        !ValidateName(kv.second, "workflow-types", true).ok()) {
      return InvalidArgument("workflow-types", absl::StrCat("\"", item, "\" is not type=queue"));
    }
    out[kv.first] = kv.second;
  }
  return out;
}

void GatewayApp::RegisterOptions(Options& o) {
  auto& c = config_;
  o.String("authority-address", &c.authority_address, "host:port of cantdo-authority (mTLS)", true)
      .String("authority-server-name", &c.authority_server_name,
              "TLS name to expect from the authority (default: its host)")
      .String("oidc-issuer", &c.oidc_issuer, "identity provider issuer of bearer tokens (empty: certificates only)")
      .String("oidc-audience", &c.oidc_audience, "audience bearer tokens must carry (the gateway's resource indicator)")
      .String("oidc-jwks-uri", &c.oidc_jwks_uri, "the provider's JWKS: https URL or a file path")
      .String("oidc-ca-file", &c.oidc_ca_file, "CA bundle for the JWKS URI (default: the system's)")
      .String("oidc-roles-claim", &c.oidc_roles_claim, "token claim listing the caller's roles")
      .String("callers-file", &c.callers_file, "JSON file mapping principals to roles (docs/operations.md)")
      .String("callers", &c.callers, "the callers document inline (JSON), instead of --callers-file")
      .String("workflow-types", &c.workflow_types, "registered workflow types and their task queues: type=queue,...")
      .Int("rate-limit", &c.rate_limit, "calls per second allowed per caller (0: unlimited)")
      .Int("rate-limit-burst", &c.rate_limit_burst, "calls a caller may make at once")
      .Duration("admission-sweep-interval", &c.admission_sweep_interval,
                "how often runs pending admission are re-checked (besides notifications)")
      .Duration("watch-max-lifetime", &c.watch_max_lifetime, "WatchWorkflow streams end (OK) after this long")
      .Int("max-watches", &c.max_watches, "concurrent WatchWorkflow streams")
      .Check([&c] {
        const int set = !c.oidc_issuer.empty() + !c.oidc_audience.empty() + !c.oidc_jwks_uri.empty();
        if (set != 0 && set != 3) return std::string("--oidc-issuer, --oidc-audience and --oidc-jwks-uri go together");
        if (std::string problem = runtime::CheckJwksUri(c.oidc_jwks_uri); !problem.empty()) return problem;
        if (c.rate_limit < 0 || c.rate_limit_burst < 1)
          return std::string("--rate-limit >= 0 and --rate-limit-burst >= 1");
        if (c.max_watches < 1) return std::string("--max-watches must be at least 1");
        if (!c.callers.empty() && !c.callers_file.empty())
          return std::string("--callers and --callers-file exclude each other");
        return std::string();
      });
}

absl::Status GatewayApp::Init(const runtime::RuntimeContext& ctx) {
  // The workflows' input messages, linked in so that server reflection
  // serves them: grpcurl encodes StartWorkflow's `input` (an Any) with the
  // descriptor it fetches from here.
  (void)offboarding::v1::OffboardingInput::descriptor();
  CANTDO_ASSIGN_OR_RETURN(auto types, ParseWorkflowTypes(config_.workflow_types));
  // A start derives its approval's parameters from the type's declaration:
  // a type without one could not be admitted safely.
  for (const auto& [type, queue] : types) {
    if (workflow_types::FindWorkflowType(type) == nullptr) {
      return InvalidArgument("workflow-types",
                             absl::StrCat("workflow type ", type, " is not declared (libs/workflow/types); declared: ",
                                          absl::StrJoin(workflow_types::WorkflowTypeNames(), ", ")));
    }
  }
  CallerDirectory directory;
  if (!config_.callers_file.empty()) {
    CANTDO_ASSIGN_OR_RETURN(directory, LoadCallersFile(config_.callers_file));
  } else if (!config_.callers.empty()) {
    CANTDO_ASSIGN_OR_RETURN(directory, ParseCallers(config_.callers));
  }
  if (!config_.oidc_issuer.empty()) {
    CANTDO_ASSIGN_OR_RETURN(
        oidc_,
        runtime::LoadOidcTrust(
            {config_.oidc_issuer, config_.oidc_audience, config_.oidc_jwks_uri, config_.oidc_ca_file, {}}, *ctx.clock));
  }
  authenticator_ =
      std::make_unique<CallerAuthenticator>(oidc_.verifier.get(), config_.oidc_roles_claim, std::move(directory));
  limiter_ = std::make_unique<RateLimiter>(*ctx.clock, config_.rate_limit, config_.rate_limit_burst);
  guard_ = std::make_unique<CallGuard>(*authenticator_, *limiter_);
  authority_ = std::make_unique<AuthorityClient>(authority::v1::AuthorityService::NewStub(
      cantdo::grpc::MakeMtlsChannel(config_.authority_address, ctx.tls, config_.authority_server_name)));
  workflows_client_ = std::make_unique<workflow::WorkflowClient>(*ctx.clock);
  admission_ = std::make_unique<Admission>(*ctx.pool, *authority_, *workflows_client_);
  WorkflowServiceOptions options;
  options.task_queues = std::move(types);
  options.watch_max_lifetime = config_.watch_max_lifetime;
  options.max_watches = config_.max_watches;
  workflows_ = std::make_unique<WorkflowServiceImpl>(*guard_, *ctx.pool, *authority_, *admission_, *workflows_client_,
                                                     std::move(options));
  authorizations_ = std::make_unique<AuthorizationServiceImpl>(*guard_, *authority_);
  ledger_ = std::make_unique<LedgerServiceImpl>(*guard_, *authority_);
  admission_loop_ =
      std::make_unique<AdmissionLoop>(*admission_, ctx.pool->options().dsn, config_.admission_sweep_interval);
  log::Info("gateway configured", {{"bearer_tokens", oidc_.verifier != nullptr},
                                   {"issuer", config_.oidc_issuer},
                                   {"rate_limit", config_.rate_limit},
                                   {"workflow_types", config_.workflow_types}});
  return absl::OkStatus();
}

std::vector<::grpc::Service*> GatewayApp::Services() {
  return {workflows_.get(), authorizations_.get(), ledger_.get()};
}

void GatewayApp::Stop() {
  if (workflows_) workflows_->StopWatches();
  if (admission_loop_) admission_loop_->Stop();
}

const std::vector<pg::Migration>& GatewayApp::Migrations() const { return db::AllMigrations(); }

}  // namespace cantdo::gateway
