#pragma once
// A real authority (in-process, real gRPC over mTLS on loopback, its own
// fresh database, its metrics over HTTPS on loopback) plus a stand-in bridge server that hands out auth_req_ids,
// an identity provider's signing key (TokenSigner, JWKS on disk) and a
// target table whose INSERT only a released credential may do.

#include <catch2/catch.hpp>

#include <grpcpp/client_context.h>
#include <grpcpp/server_builder.h>

#include <fstream>
#include <mutex>

#include "authority/authority_app.hpp"
#include "cantdo/authority/v1/authority_service.grpc.pb.h"
#include "cantdo/base/status.hpp"
#include "cantdo/bridge/v1/ciba_bridge_service.grpc.pb.h"
#include "cantdo/grpc/status.hpp"
#include "support/scoped_credentials_template.hpp"
#include "support/scrape.hpp"
#include "support/test_database.hpp"
#include "support/test_pki.hpp"
#include "support/token_signer.hpp"
#include "support/wait.hpp"

namespace cantdo::testing {

namespace av1 = cantdo::authority::v1;
namespace cv1 = cantdo::common::v1;

inline constexpr char kIssuer[] = "https://idp.test/";
inline constexpr char kAudience[] = "cantdo-authority";

// What the authority asked the bridge.
class FakeBridge final : public cantdo::bridge::v1::CibaBridgeService::Service {
 public:
  ::grpc::Status StartBackchannelAuthentication(
      ::grpc::ServerContext*, const cantdo::bridge::v1::StartBackchannelAuthenticationRequest* req,
      cantdo::bridge::v1::StartBackchannelAuthenticationResponse* resp) override {
    std::lock_guard<std::mutex> lock(mu);
    requests.push_back(*req);
    resp->mutable_authentication()->set_auth_req_id(AuthReqId(req->approval_id(), req->ask()));
    resp->mutable_authentication()->set_approval_id(req->approval_id());
    resp->set_created(true);
    return ::grpc::Status::OK;
  }
  // The provider's id for an approval's ask (each ask is a new request).
  static std::string AuthReqId(const std::string& approval_id, int ask) {
    return "areq-" + approval_id + (ask > 1 ? "-" + std::to_string(ask) : "");
  }
  // The requests started for `approval_id`, in order.
  std::vector<cantdo::bridge::v1::StartBackchannelAuthenticationRequest> For(const std::string& approval_id) {
    std::lock_guard<std::mutex> lock(mu);
    std::vector<cantdo::bridge::v1::StartBackchannelAuthenticationRequest> out;
    for (const auto& r : requests) {
      if (r.approval_id() == approval_id) out.push_back(r);
    }
    return out;
  }
  std::mutex mu;
  std::vector<cantdo::bridge::v1::StartBackchannelAuthenticationRequest> requests;
};

class AuthorityHarness {
 public:
  // `db_pool_size`: the authority's connections to its own database;
  // `background_interval`: how often it sweeps (long: a test's own
  // authority process does).
  explicit AuthorityHarness(bool require_auth_req_id_claim = true, int db_pool_size = 70,
                            absl::Duration background_interval = absl::Milliseconds(200))
      : db(TestDatabase::kMigrated), clock(absl::Now()) {
    auto conn = db.Connect();
    // The target system: a refunds table; the privilege group may insert.
    // Released logins are scoped (docs/scoped-credentials.md): the target
    // has the template, or no claim can release one.
    InstallScopedCredentials(*conn);
    group = db.Name() + "_may_issue_refunds";
    REQUIRE(conn->Exec("CREATE ROLE " + group + " NOLOGIN").ok());
    REQUIRE(
        conn->Exec("CREATE TABLE public.refunds (id serial primary key, customer_id text, amount_cents bigint)").ok());
    REQUIRE(conn->Exec("GRANT USAGE ON SCHEMA public TO " + group).ok());
    REQUIRE(conn->Exec("GRANT INSERT, SELECT ON public.refunds TO " + group).ok());
    REQUIRE(conn->Exec("GRANT USAGE ON SEQUENCE public.refunds_id_seq TO " + group).ok());

    // The bridge stand-in, serving mTLS with the bridge's identity.
    ::grpc::ServerBuilder b;
    auto bridge_tls = pki.Issue("ciba-bridge");
    b.AddListeningPort(
        "127.0.0.1:0",
        cantdo::grpc::MakeServerCredentials(bridge_tls, cantdo::grpc::ClientCertPolicy::kRequireAndVerify),
        &bridge_port);
    b.RegisterService(&bridge);
    bridge_server = b.BuildAndStart();
    REQUIRE(bridge_server);

    std::ofstream(dir.path() + "/jwks.json") << TokenSigner::JwksOf(idp, idp_ec);
    std::ofstream(dir.path() + "/policy.json") << PolicyJson();
    auto files = pki.WriteFiles(dir.path(), "authority");
    auto& c = app.config();
    c.policy_file = dir.path() + "/policy.json";
    c.oidc_issuer = kIssuer;
    c.oidc_audience = kAudience;
    c.oidc_jwks_uri = dir.path() + "/jwks.json";
    c.bridge_address = "127.0.0.1:" + std::to_string(bridge_port);
    c.target_db_admin_dsn = db.Dsn();
    c.target_db_name = db.Name();
    c.background_interval = background_interval;
    c.require_auth_req_id_claim = require_auth_req_id_claim;
    // Ledger checkpoints on, as deployed, with a key of the test's own.
    ledger_signer = *tlog::NoteSigner::Generate("cantdo.test/ledger");
    c.ledger_signing_key = ledger_signer.SignerKey();
    c.ledger_checkpoint_dir = dir.path() + "/checkpoints";
    c.ledger_checkpoint_interval = absl::Milliseconds(100);
    runtime::CommonConfig common;
    common.listen = "127.0.0.1:0";
    common.tls_cert = files.cert;
    common.tls_key = files.key;
    common.tls_ca = files.ca;
    common.db_dsn = db.Dsn();
    common.db_pool_size = db_pool_size;
    common.shutdown_grace = absl::Seconds(2);
    common.metrics_listen = "127.0.0.1:0";
    common.metrics_tls = true;
    ca_file = files.ca;
    auto started = runtime::StartService(app, common, clock);
    INFO(started.status().ToString());
    REQUIRE(started.ok());
    service = *std::move(started);
    target = "127.0.0.1:" + std::to_string(service->port());
    REQUIRE(ParsePort());
  }
  ~AuthorityHarness() {
    service->Shutdown();
    bridge_server->Shutdown();
    auto admin = TestDatabase::ConnectAdmin();
    (void)admin->Exec("DROP OWNED BY " + group);
  }

  std::string PolicyJson() const {
    nlohmann::json p = {
        {"version", "test-1"},
        {"role_claim", "https://cantdo.dev/roles"},
        {"approvers", {{"cfo", {"cfo1", "cfo2"}}, {"dpo", {"dpo1"}}, {"ops_manager", {"ops1"}}}},
        // The concurrency test opens 1,000 approvals for one requester
        // and approver at one instant of the fake clock: spam by the
        // defaults' measure. tests/security/approval_spam tests the limits.
        {"limits",
         {{"requester", {{"max_requests", 100000}}},
          {"approver", {{"max_requests", 100000}, {"max_pending", 100000}}}}},
        {"rules",
         {{{"action", "access.revoke"}, {"decision", "ALLOW"}},
          {{"action", "refund.issue"},
           {"decision", "REQUIRE_APPROVAL"},
           {"required_role", "cfo"},
           {"grant_ttl", "10m"},
           {"binding_message", "Refund {amount_cents} to {customer_id}"},
           {"credential", {{"kind", "POSTGRES_ROLE"}, {"target", group}}},
           {"constraints",
            {{{"pointer", "/amount_cents"}, {"required", true}, {"minimum", 1}, {"maximum", 500000}},
             {{"pointer", "/customer_id"}, {"required", true}, {"pattern", "^cust-[0-9]{1,8}$"}}}}},
          {{"action", "customer_data.delete"}, {"decision", "REQUIRE_APPROVAL"}, {"required_role", "dpo"}},
          {{"action", "workflow.start"},
           {"resource", "customer_offboarding"},
           {"decision", "REQUIRE_APPROVAL"},
           {"required_role", "ops_manager"}}}}};
    return p.dump(2);
  }

  bool ParsePort() const { return service->port() > 0; }

  // The authority's /metrics, scraped over HTTPS as Prometheus would.
  std::string Metrics() const {
    auto got = cantdo::testing::Scrape(service->metrics_port(), true, ca_file);
    INFO(got.status().ToString());
    REQUIRE(got.ok());
    REQUIRE(got->status == 200);
    return got->body;
  }

  std::unique_ptr<av1::AuthorityService::Stub> Stub(const std::string& identity) {
    return av1::AuthorityService::NewStub(cantdo::grpc::MakeMtlsChannel(target, pki.Issue(identity)));
  }

  static ::grpc::ClientContext* Ctx(::grpc::ClientContext* c) {
    c->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
    return c;
  }

  // The worker's refund request for `step` (its own workflow/run).
  static av1::RequestApprovalRequest RefundRequest(const std::string& step, int amount = 1200,
                                                   const std::string& requester = "ops1",
                                                   const std::string& action = "refund.issue") {
    av1::RequestApprovalRequest req;
    auto* a = req.mutable_action();
    a->set_action(action);
    a->set_workflow_id("wf-1");
    a->set_run_id("run-1");
    a->set_step(step);
    (*a->mutable_parameters()->mutable_fields())["amount_cents"].set_number_value(amount);
    (*a->mutable_parameters()->mutable_fields())["customer_id"].set_string_value("cust-42");
    req.set_requester(requester);
    return req;
  }

  nlohmann::json Claims(const std::string& sub, const std::string& approval_id,
                        std::vector<std::string> roles = {"cfo"}) const {
    const int64_t now = absl::ToUnixSeconds(clock.Now());
    return {{"iss", kIssuer},
            {"aud", kAudience},
            {"sub", sub},
            {"iat", now},
            {"exp", now + 300},
            {"https://cantdo.dev/roles", roles},
            {"urn:openid:params:jwt:claim:auth_req_id", FakeBridge::AuthReqId(approval_id, 1)}};
  }

  absl::StatusOr<av1::RequestApprovalResponse> Request(const av1::RequestApprovalRequest& req,
                                                       const std::string& identity = "worker") {
    ::grpc::ClientContext ctx;
    av1::RequestApprovalResponse resp;
    auto st = Stub(identity)->RequestApproval(Ctx(&ctx), req, &resp);
    if (!st.ok()) return cantdo::grpc::FromGrpcStatus(st);
    return resp;
  }

  absl::StatusOr<av1::CompleteApprovalResponse> Complete(const std::string& approval_id, const std::string& id_token,
                                                         av1::CibaOutcome outcome = av1::CIBA_OUTCOME_APPROVED,
                                                         const std::string& identity = "ciba-bridge", int ask = 1,
                                                         const std::string& provider_error = "") {
    av1::CompleteApprovalRequest req;
    req.set_approval_id(approval_id);
    req.set_auth_req_id(FakeBridge::AuthReqId(approval_id, ask));
    req.set_provider_error(provider_error);
    req.set_outcome(outcome);
    req.set_id_token(id_token);
    // The authority asks the bridge from its outbox in the background, so a
    // result may arrive before it has recorded the auth_req_id: that is
    // UNAVAILABLE (DEPENDENCY_UNAVAILABLE), and the real bridge retries the
    // delivery. So does this.
    absl::StatusOr<av1::CompleteApprovalResponse> result;
    WaitUntil(
        [&] {
          ::grpc::ClientContext ctx;
          av1::CompleteApprovalResponse resp;
          auto st = Stub(identity)->CompleteApproval(Ctx(&ctx), req, &resp);
          result = st.ok() ? absl::StatusOr<av1::CompleteApprovalResponse>(std::move(resp))
                           : cantdo::grpc::FromGrpcStatus(st);
          return !absl::IsUnavailable(result.status()) ||
                 cantdo::GetReason(result.status()) != "DEPENDENCY_UNAVAILABLE";
        },
        absl::Seconds(15), absl::Milliseconds(20));
    return result;
  }

  // Request + approve by cfo1: an ISSUED refund grant for `step` (it
  // releases a credential at claim). With action customer_data.delete,
  // approved by dpo1: a grant that releases none.
  cv1::Grant Grant(const std::string& step, int amount = 1200, const std::string& action = "refund.issue") {
    const bool refund = action == "refund.issue";
    auto r = Request(RefundRequest(step, amount, "ops1", action));
    REQUIRE(r.ok());
    const std::string id = r->approval().approval_id();
    auto c = Complete(id, idp.Sign(refund ? Claims("cfo1", id) : Claims("dpo1", id, {"dpo"})));
    INFO(c.status().ToString());
    REQUIRE(c.ok());
    REQUIRE(c->grant().state() == cv1::GRANT_STATE_ISSUED);
    return c->grant();
  }

  static av1::ClaimGrantRequest ClaimFor(const cv1::Grant& g, const std::string& step, int amount = 1200,
                                         const std::string& action = "refund.issue", const std::string& key = "key-1") {
    av1::ClaimGrantRequest req;
    req.set_grant_id(g.grant_id());
    auto* a = req.mutable_action();
    a->set_action(action);
    a->set_workflow_id("wf-1");
    a->set_run_id("run-1");
    a->set_step(step);
    (*a->mutable_parameters()->mutable_fields())["amount_cents"].set_number_value(amount);
    (*a->mutable_parameters()->mutable_fields())["customer_id"].set_string_value("cust-42");
    req.set_idempotency_key(key);
    return req;
  }

  absl::StatusOr<av1::ClaimGrantResponse> Claim(const av1::ClaimGrantRequest& req,
                                                const std::string& identity = "worker") {
    ::grpc::ClientContext ctx;
    av1::ClaimGrantResponse resp;
    auto st = Stub(identity)->ClaimGrant(Ctx(&ctx), req, &resp);
    if (!st.ok()) return cantdo::grpc::FromGrpcStatus(st);
    return resp;
  }

  absl::StatusOr<av1::ConsumeGrantResponse> Consume(const std::string& grant_id,
                                                    const std::string& identity = "worker") {
    av1::ConsumeGrantRequest req;
    req.set_grant_id(grant_id);
    req.set_outcome_digest(std::string(64, 'a'));
    ::grpc::ClientContext ctx;
    av1::ConsumeGrantResponse resp;
    auto st = Stub(identity)->ConsumeGrant(Ctx(&ctx), req, &resp);
    if (!st.ok()) return cantdo::grpc::FromGrpcStatus(st);
    return resp;
  }

  // Ledger rows of a kind (and reason), straight from the table.
  int64_t LedgerCount(const std::string& kind, const std::string& reason = "") {
    auto conn = db.Connect();
    auto r =
        conn->Exec("SELECT count(*) FROM cantdo.ledger WHERE kind = $1 AND ($2 = '' OR reason = $2)", {kind, reason});
    REQUIRE(r.ok());
    return *r->GetInt64(0, 0);
  }

  int64_t GrantCount() {
    auto conn = db.Connect();
    auto r = conn->Exec("SELECT count(*) FROM cantdo.grants");
    REQUIRE(r.ok());
    return *r->GetInt64(0, 0);
  }

  TempDir dir;
  TestDatabase db;
  FakeClock clock;
  TestPki pki;
  TokenSigner idp{"idp-rsa", TokenSigner::Alg::kRS256};
  TokenSigner idp_ec{"idp-ec", TokenSigner::Alg::kES256};
  FakeBridge bridge;
  int bridge_port = 0;
  std::unique_ptr<::grpc::Server> bridge_server;
  std::string group;
  std::string ca_file;
  tlog::NoteSigner ledger_signer;
  cantdo::authority::AuthorityApp app;
  std::unique_ptr<runtime::RunningService> service;
  std::string target;
};

}  // namespace cantdo::testing
