#pragma once
// The offboarding workflow against real things: a migrated cantdo database,
// the demo customer platform in its own fresh database (migrated, seeded),
// a real authority in-process over mutual TLS whose claims create
// short-lived logins on the platform (PostgresRoleIssuer), and the worker
// (WorkerApp, in-process) with its own least-privilege logins. Approvals
// are delivered the way the bridge delivers them: CompleteApproval as
// spiffe://cantdo/ciba-bridge with an ID token signed by the test identity
// provider (TokenSigner), which the authority verifies itself.

#include <catch2/catch.hpp>

#include <grpcpp/server_builder.h>

#include <fstream>
#include <functional>
#include <map>
#include <regex>
#include <thread>

#include "authority/authority_app.hpp"
#include "cantdo/base/ids.hpp"
#include "cantdo/base/status.hpp"
#include "cantdo/demo/demo_platform.hpp"
#include "cantdo/grpc/status.hpp"
#include "cantdo/offboarding/v1/offboarding.pb.h"
#include "cantdo/pg/sql_state.hpp"
#include "cantdo/pg/transaction.hpp"
#include "cantdo/workflow/admission.hpp"
#include "cantdo/workflow/client.hpp"
#include "cantdo/workflow/payload.hpp"
#include "cantdo/workflow_types/catalog.hpp"
#include "support/child_process.hpp"
#include "support/demo_login.hpp"
#include "support/login_role.hpp"
#include "support/scrape.hpp"
#include "support/test_database.hpp"
#include "support/test_pki.hpp"
#include "support/token_signer.hpp"
#include "worker/worker_app.hpp"

namespace cantdo::testing {

namespace av1 = cantdo::authority::v1;
namespace cv1 = cantdo::common::v1;
namespace ov1 = cantdo::offboarding::v1;
namespace wv1 = cantdo::workflow::v1;

inline constexpr char kOffIssuer[] = "https://idp.test/";
inline constexpr char kOffAudience[] = "cantdo-authority";
inline constexpr char kOperator[] = "user:https://idp.test/#operator1";
inline constexpr int kDemoCustomers = 60;

// Hands out auth_req_ids like the bridge does; records nothing else.
class OffboardingFakeBridge final : public cantdo::bridge::v1::CibaBridgeService::Service {
 public:
  ::grpc::Status StartBackchannelAuthentication(
      ::grpc::ServerContext*, const cantdo::bridge::v1::StartBackchannelAuthenticationRequest* req,
      cantdo::bridge::v1::StartBackchannelAuthenticationResponse* resp) override {
    resp->mutable_authentication()->set_auth_req_id("areq-" + req->approval_id());
    resp->mutable_authentication()->set_approval_id(req->approval_id());
    resp->set_created(true);
    return ::grpc::Status::OK;
  }
};

using cantdo::testing::DemoLogin;

class OffboardingHarness {
 public:
  struct Options {
    bool start_worker = true;
    absl::Duration approval_deadline = absl::Hours(72);
    int approval_rerequests = 2;
    // Changes the shipped policy (deploy/policy.json) before the authority
    // loads it.
    std::function<void(nlohmann::json&)> policy;
  };

  OffboardingHarness() : OffboardingHarness(Options{}) {}
  explicit OffboardingHarness(Options options)
      : db(TestDatabase::kMigrated), clock(absl::FromUnixSeconds(absl::ToUnixSeconds(absl::Now()))) {
    {
      auto conn = demo.Connect();
      auto migrated = demo::Migrate(*conn);
      INFO(migrated.status().ToString());
      REQUIRE(migrated.ok());
      demo::SeedOptions seed;
      seed.customers = kDemoCustomers;
      seed.now = clock.Now();
      auto seeded = demo::Seed(*conn, seed);
      INFO(seeded.status().ToString());
      REQUIRE(seeded.ok());
    }
    worker_demo_login = std::make_unique<DemoLogin>(demo, "cantdo_demo_worker");
    authority_login = std::make_unique<LoginRole>(db, "cantdo_authority");
    worker_login = std::make_unique<LoginRole>(db, "cantdo_worker");

    ::grpc::ServerBuilder b;
    b.AddListeningPort("127.0.0.1:0",
                       cantdo::grpc::MakeServerCredentials(pki.Issue("ciba-bridge"),
                                                           cantdo::grpc::ClientCertPolicy::kRequireAndVerify),
                       &bridge_port);
    b.RegisterService(&bridge);
    bridge_server = b.BuildAndStart();
    REQUIRE(bridge_server);

    std::ofstream(dir.path() + "/jwks.json") << TokenSigner::JwksOf(idp, idp_ec);
    std::ifstream policy_in(SourceDir() + "/deploy/policy.json");
    nlohmann::json policy = nlohmann::json::parse(policy_in);
    // The shipped policy, with this test's approver directory.
    policy["approvers"] = {{"ops_manager", {"ops1"}}, {"cfo", {"cfo1"}}, {"dpo", {"dpo1"}}};
    if (options.policy) options.policy(policy);
    std::ofstream(dir.path() + "/policy.json") << policy.dump(2);

    std::smatch m;
    const std::string admin_dsn = TestDatabase::AdminDsn();
    REQUIRE(std::regex_search(admin_dsn, m, std::regex("@([^:/]+):([0-9]+)/")));
    auto files = pki.WriteFiles(dir.path(), "authority");
    auto& c = authority.config();
    c.policy_file = dir.path() + "/policy.json";
    c.oidc_issuer = kOffIssuer;
    c.oidc_audience = kOffAudience;
    c.oidc_jwks_uri = dir.path() + "/jwks.json";
    c.bridge_address = "127.0.0.1:" + std::to_string(bridge_port);
    c.target_db_admin_dsn = demo.Dsn();
    c.target_db_host = m[1];
    c.target_db_port = std::stoi(m[2]);
    c.target_db_name = demo.Name();
    c.background_interval = absl::Milliseconds(200);
    runtime::CommonConfig common;
    common.listen = "127.0.0.1:0";
    common.tls_cert = files.cert;
    common.tls_key = files.key;
    common.tls_ca = files.ca;
    common.db_dsn = authority_login->dsn();
    common.db_pool_size = 8;
    common.shutdown_grace = absl::Seconds(2);
    common.metrics_listen = "127.0.0.1:0";  // plain HTTP: loopback
    auto started = runtime::StartService(authority, common, clock);
    INFO(started.status().ToString());
    REQUIRE(started.ok());
    authority_service = *std::move(started);
    authority_address = "127.0.0.1:" + std::to_string(authority_service->port());

    pg::PoolOptions po;
    po.dsn = db.Dsn();
    po.max_size = 4;
    auto pool_or = pg::Pool::Create(po);
    REQUIRE(pool_or.ok());
    pool = *std::move(pool_or);

    if (options.start_worker) StartWorker(options);
  }

  ~OffboardingHarness() {
    StopWorker();
    authority_service->Shutdown();
    bridge_server->Shutdown();
  }

  // The worker as its own service, in-process.
  void StartWorker(const Options& options) {
    auto files = pki.WriteFiles(dir.path(), "worker");
    auto& c = worker.config();
    c.authority_address = authority_address;
    c.customer_db_dsn = worker_demo_login->dsn();
    c.concurrency = 2;
    c.identity = "test-worker";
    c.offboarding.approval_deadline = options.approval_deadline;
    c.offboarding.approval_rerequests = options.approval_rerequests;
    c.offboarding.activity_timeout = absl::Seconds(20);
    runtime::CommonConfig common;
    common.listen = "127.0.0.1:0";
    common.tls_cert = files.cert;
    common.tls_key = files.key;
    common.tls_ca = files.ca;
    common.db_dsn = worker_login->dsn();
    common.db_pool_size = 6;
    common.shutdown_grace = absl::Seconds(2);
    common.metrics_listen = "127.0.0.1:0";
    auto started = runtime::StartService(worker, common, clock);
    INFO(started.status().ToString());
    REQUIRE(started.ok());
    worker_service = *std::move(started);
  }
  // A service's /metrics over plain HTTP (both listen on loopback).
  static std::string Metrics(runtime::RunningService& service) {
    REQUIRE(service.metrics_port() > 0);
    REQUIRE_FALSE(service.metrics_tls());
    auto got = Scrape(service.metrics_port(), false);
    INFO(got.status().ToString());
    REQUIRE(got.ok());
    REQUIRE(got->status == 200);
    return got->body;
  }

  void StopWorker() {
    if (worker_service) worker_service->Shutdown();
    worker_service.reset();
  }

  // Starts an offboarding run and admits it the only way there is (V0008),
  // as the gateway does (#7): the authority is asked, as
  // spiffe://cantdo/gateway, for the workflow.start approval of what the
  // type derives from the input, the run is created pending admission, the
  // ops manager approves, and the gateway's claim and consume of the grant
  // admit it in the authority's transaction. `pending_admission`: stop
  // before the approval (Admit() finishes it).
  std::string Start(const std::string& workflow_id, const std::string& customer_id, int64_t refund_cents = 0,
                    bool pending_admission = false) {
    ov1::OffboardingInput in;
    in.set_customer_id(customer_id);
    in.set_refund_amount_cents(refund_cents);
    in.set_reason("customer churned");
    workflow::StartRequest r;
    r.workflow_id = workflow_id;
    r.run_id = NewUuid();
    r.workflow_type = "customer_offboarding";
    r.task_queue = "offboarding";
    r.input = workflow::Pack(in);
    r.request_id = workflow_id;
    r.requester = kOperator;
    r.pending_admission = true;
    auto parameters = workflow::AdmissionParameters(workflow_types::CustomerOffboarding(), r.input);
    REQUIRE(parameters.ok());
    av1::RequestApprovalRequest ask;
    auto* a = ask.mutable_action();
    a->set_action(workflow::kAdmissionAction);
    a->set_resource(r.workflow_type);
    a->set_workflow_id(workflow_id);
    a->set_run_id(r.run_id);
    a->set_step(workflow::kAdmissionStep);
    *a->mutable_parameters() = *parameters;
    ask.set_requester(kOperator);
    auto asked = AsGateway(&av1::AuthorityService::Stub::RequestApproval, ask);
    INFO(asked.status().ToString());
    REQUIRE(asked.ok());
    r.admission_approval_id = asked->approval().approval_id();
    r.parameters = *parameters;
    auto started = pg::RunInTransaction(*pool, {}, [&](pg::Connection& conn) { return client.Start(conn, r); });
    INFO(started.status().ToString());
    REQUIRE(started.ok());
    admissions[workflow_id] = asked->approval();
    if (!pending_admission) Admit(workflow_id);
    return started->run_id;
  }

  // The ops manager approves the run's admission; its grant is claimed and
  // consumed as the gateway, which admits the run.
  void Admit(const std::string& workflow_id) {
    const cv1::Approval& approval = admissions.at(workflow_id);
    const av1::CompleteApprovalResponse approved = Approve(approval.approval_id(), "ops1", "ops_manager");
    REQUIRE(approved.grant().state() == cv1::GRANT_STATE_ISSUED);
    av1::ClaimGrantRequest claim;
    claim.set_grant_id(approved.grant().grant_id());
    *claim.mutable_action() = approval.action();
    claim.set_idempotency_key(approval.action().run_id());
    auto claimed = AsGateway(&av1::AuthorityService::Stub::ClaimGrant, claim);
    INFO(claimed.status().ToString());
    REQUIRE(claimed.ok());
    av1::ConsumeGrantRequest consume;
    consume.set_grant_id(approved.grant().grant_id());
    consume.set_outcome_digest(Sha256Hex("admitted " + approval.action().run_id()));
    auto consumed = AsGateway(&av1::AuthorityService::Stub::ConsumeGrant, consume);
    INFO(consumed.status().ToString());
    REQUIRE(consumed.ok());
    REQUIRE(Describe(workflow_id).state() == wv1::WORKFLOW_EXECUTION_STATE_RUNNING);
  }

  // One call to the authority with the gateway's certificate.
  template <typename Req, typename Resp>
  absl::StatusOr<Resp> AsGateway(::grpc::Status (av1::AuthorityService::Stub::*method)(::grpc::ClientContext*,
                                                                                       const Req&, Resp*),
                                 const Req& req) {
    auto stub = av1::AuthorityService::NewStub(cantdo::grpc::MakeMtlsChannel(authority_address, pki.Issue("gateway")));
    ::grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
    Resp resp;
    auto st = ((*stub).*method)(&ctx, req, &resp);
    if (!st.ok()) return cantdo::grpc::FromGrpcStatus(st);
    return resp;
  }

  wv1::WorkflowExecution Describe(const std::string& workflow_id) {
    auto d =
        pg::RunInTransaction(*pool, {}, [&](pg::Connection& conn) { return client.Describe(conn, workflow_id, ""); });
    INFO(d.status().ToString());
    REQUIRE(d.ok());
    return *d;
  }

  static bool Closed(wv1::WorkflowExecutionState s) {
    return s != wv1::WORKFLOW_EXECUTION_STATE_RUNNING && s != wv1::WORKFLOW_EXECUTION_STATE_PENDING_ADMISSION &&
           s != wv1::WORKFLOW_EXECUTION_STATE_UNSPECIFIED;
  }

  wv1::WorkflowExecution WaitClosed(const std::string& workflow_id, absl::Duration timeout = absl::Seconds(60)) {
    const absl::Time until = absl::Now() + timeout;
    for (;;) {
      auto d = Describe(workflow_id);
      if (Closed(d.state())) return d;
      if (absl::Now() > until) FAIL("run " << workflow_id << " did not close: " << d.DebugString());
      absl::SleepFor(absl::Milliseconds(50));
    }
  }

  // The run's result: the WorkflowExecutionCompleted payload.
  ov1::OffboardingResult Result(const std::string& run_id) {
    auto page =
        pg::RunInTransaction(*pool, {}, [&](pg::Connection& conn) { return client.History(conn, run_id, 1, 10000); });
    REQUIRE(page.ok());
    for (const auto& e : page->events) {
      if (e.has_workflow_execution_completed()) {
        auto r = workflow::Unpack<ov1::OffboardingResult>(e.workflow_execution_completed().result());
        REQUIRE(r.ok());
        return *r;
      }
    }
    FAIL("run " << run_id << " has no completion event");
    return {};
  }

  // Waits until the workflow has no task or activity in flight (it waits on
  // a timer or a signal), so moving the fake clock expires no lease of an
  // activity that is still running.
  void WaitParked(const std::string& workflow_id, absl::Duration timeout = absl::Seconds(60)) {
    auto conn = db.Connect();
    const absl::Time until = absl::Now() + timeout;
    for (;;) {
      auto r = conn->Exec(
          "SELECT (SELECT count(*) FROM cantdo.activity_tasks a JOIN cantdo.workflow_runs w USING (run_id) "
          "        WHERE w.workflow_id = $1) + "
          "       (SELECT count(*) FROM cantdo.workflow_tasks t JOIN cantdo.workflow_runs w USING (run_id) "
          "        WHERE w.workflow_id = $1)",
          {workflow_id});
      REQUIRE(r.ok());
      if (*r->GetInt64(0, 0) == 0) return;
      if (absl::Now() > until) FAIL("run " << workflow_id << " never parked");
      absl::SleepFor(absl::Milliseconds(50));
    }
  }

  // The approval the run asked for at `step`, once it exists.
  std::string WaitApproval(const std::string& workflow_id, const std::string& step,
                           absl::Duration timeout = absl::Seconds(60)) {
    auto conn = db.Connect();
    const absl::Time until = absl::Now() + timeout;
    for (;;) {
      auto r = conn->Exec("SELECT approval_id::text FROM cantdo.approvals WHERE workflow_id = $1 AND step = $2",
                          {workflow_id, step});
      REQUIRE(r.ok());
      if (r->Rows() == 1) return *r->GetString(0, 0);
      if (absl::Now() > until) FAIL("no approval for " << workflow_id << " step " << step);
      absl::SleepFor(absl::Milliseconds(50));
    }
  }

  absl::StatusOr<av1::CompleteApprovalResponse> Deliver(const std::string& approval_id, av1::CibaOutcome outcome,
                                                        const std::string& id_token) {
    av1::CompleteApprovalRequest req;
    req.set_approval_id(approval_id);
    req.set_auth_req_id("areq-" + approval_id);
    req.set_outcome(outcome);
    req.set_id_token(id_token);
    if (outcome == av1::CIBA_OUTCOME_DENIED) {
      req.set_provider_error("access_denied");
      req.set_provider_error_description("the approver declined on their device");
    }
    auto stub =
        av1::AuthorityService::NewStub(cantdo::grpc::MakeMtlsChannel(authority_address, pki.Issue("ciba-bridge")));
    // Like the bridge: retry while the authority has not yet recorded this
    // approval's CIBA request (its dispatcher runs in the background).
    for (int attempt = 0;; ++attempt) {
      ::grpc::ClientContext ctx;
      ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
      av1::CompleteApprovalResponse resp;
      auto st = stub->CompleteApproval(&ctx, req, &resp);
      if (st.ok()) return resp;
      if (st.error_code() != ::grpc::StatusCode::UNAVAILABLE || attempt >= 100) {
        return cantdo::grpc::FromGrpcStatus(st);
      }
      absl::SleepFor(absl::Milliseconds(100));
    }
  }

  // The approver approves on their device: a signed ID token with the role.
  av1::CompleteApprovalResponse Approve(const std::string& approval_id, const std::string& subject,
                                        const std::string& role) {
    const int64_t now = absl::ToUnixSeconds(clock.Now());
    nlohmann::json claims = {{"iss", kOffIssuer}, {"aud", kOffAudience}, {"sub", subject},
                             {"iat", now},        {"exp", now + 300},    {"https://cantdo.dev/roles", {role}}};
    auto r = Deliver(approval_id, av1::CIBA_OUTCOME_APPROVED, idp.Sign(claims));
    INFO(r.status().ToString());
    REQUIRE(r.ok());
    REQUIRE(r->approval().state() == cv1::APPROVAL_STATE_APPROVED);
    return *r;
  }

  // The approver's token carries `role`, not the one the approval needs:
  // it verifies, but the authority refuses it (APPROVAL_ROLE_MISMATCH) and
  // the approval becomes INVALID. Nobody decided anything.
  void ApproveWithRole(const std::string& approval_id, const std::string& subject, const std::string& role) {
    const int64_t now = absl::ToUnixSeconds(clock.Now());
    nlohmann::json claims = {{"iss", kOffIssuer}, {"aud", kOffAudience}, {"sub", subject},
                             {"iat", now},        {"exp", now + 300},    {"https://cantdo.dev/roles", {role}}};
    auto r = Deliver(approval_id, av1::CIBA_OUTCOME_APPROVED, idp.Sign(claims));
    INFO(r.status().ToString());
    REQUIRE(r.status().code() == absl::StatusCode::kPermissionDenied);
    REQUIRE(cantdo::GetReason(r.status()) == std::optional<std::string>("APPROVAL_ROLE_MISMATCH"));
  }

  void Deny(const std::string& approval_id) {
    auto r = Deliver(approval_id, av1::CIBA_OUTCOME_DENIED, "");
    INFO(r.status().ToString());
    REQUIRE(r.ok());
    REQUIRE(r->approval().state() == cv1::APPROVAL_STATE_DENIED);
  }

  demo::CustomerSnapshot Snapshot(const std::string& customer_id) {
    auto conn = demo.Connect();
    auto s = demo::Snapshot(*conn, customer_id);
    INFO(s.status().ToString());
    REQUIRE(s.ok());
    return *s;
  }

  // "KIND:decision" (or "KIND") of the run's ledger entries, in order.
  std::vector<std::string> Ledger(const std::string& workflow_id, const std::string& action) {
    auto conn = db.Connect();
    auto r = conn->Exec(
        "SELECT kind || CASE WHEN decision <> '' THEN ':' || decision ELSE '' END FROM cantdo.ledger "
        "WHERE workflow_id = $1 AND action = $2 ORDER BY sequence",
        {workflow_id, action});
    REQUIRE(r.ok());
    std::vector<std::string> out;
    for (int i = 0; i < r->Rows(); ++i) out.push_back(*r->GetString(i, 0));
    return out;
  }

  int64_t Count(const std::string& sql, std::initializer_list<pg::Param> params = {}) {
    auto conn = demo.Connect();
    auto r = conn->Exec(sql, params);
    INFO(r.status().ToString());
    REQUIRE(r.ok());
    return *r->GetInt64(0, 0);
  }

  TempDir dir;
  TestDatabase db;
  TestDatabase demo;
  FakeClock clock;
  TestPki pki;
  TokenSigner idp{"idp-rsa", TokenSigner::Alg::kRS256};
  TokenSigner idp_ec{"idp-ec", TokenSigner::Alg::kES256};
  std::unique_ptr<DemoLogin> worker_demo_login;
  std::unique_ptr<LoginRole> authority_login;
  std::unique_ptr<LoginRole> worker_login;
  OffboardingFakeBridge bridge;
  int bridge_port = 0;
  std::unique_ptr<::grpc::Server> bridge_server;
  cantdo::authority::AuthorityApp authority;
  std::unique_ptr<runtime::RunningService> authority_service;
  std::string authority_address;
  std::unique_ptr<pg::Pool> pool;
  workflow::WorkflowClient client{clock};
  // Each started run's admission approval, by workflow id.
  std::map<std::string, cv1::Approval> admissions;
  cantdo::worker::WorkerApp worker;
  std::unique_ptr<runtime::RunningService> worker_service;
};

}  // namespace cantdo::testing
