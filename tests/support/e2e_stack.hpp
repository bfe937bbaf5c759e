#pragma once
// The whole system as deployed, nothing faked: PostgreSQL (a fresh cantdo
// database and a fresh demo customer platform, migrated and seeded by
// cantdo-demo-platform), the local identity provider (tools/dev-idp,
// oidc-provider with CIBA), and the four service binaries as child
// processes, each with its own database login and its own certificate for
// mutual TLS. Tests act as an operator through the gateway, as the
// approvers on the provider's device, and as an agent (the worker's
// identity) trying what it should not.

#include <catch2/catch.hpp>

#include <fstream>
#include <map>
#include <memory>
#include <regex>
#include <string>

#include <google/protobuf/util/json_util.h>
#include <grpcpp/client_context.h>
#include <nlohmann/json.hpp>

#include "cantdo/authority/v1/authority_service.grpc.pb.h"
#include "cantdo/demo/demo_platform.hpp"
#include "cantdo/gateway/v1/ledger_service.grpc.pb.h"
#include "cantdo/gateway/v1/workflow_service.grpc.pb.h"
#include "cantdo/grpc/status.hpp"
#include "cantdo/grpc/tls.hpp"
#include "cantdo/offboarding/v1/offboarding.pb.h"
#include "cantdo/workflow/payload.hpp"
#include "grpc/health/v1/health.grpc.pb.h"
#include "support/child_process.hpp"
#include "support/demo_login.hpp"
#include "support/dev_idp.hpp"
#include "support/login_role.hpp"
#include "support/port_reservation.hpp"
#include "support/service_process.hpp"
#include "support/test_database.hpp"
#include "support/test_pki.hpp"

namespace cantdo::e2e {

namespace demo = cantdo::demo;
namespace av1 = cantdo::authority::v1;
namespace cv1 = cantdo::common::v1;
namespace gv1 = cantdo::gateway::v1;
namespace ov1 = cantdo::offboarding::v1;
namespace wv1 = cantdo::workflow::v1;
using cantdo::testing::DevIdp;
using cantdo::testing::LoginRole;
using cantdo::testing::PortReservation;
using cantdo::testing::ServiceProcess;
using cantdo::testing::TempDir;
using cantdo::testing::TestDatabase;
using cantdo::testing::TestPki;
using cantdo::testing::WaitUntil;

inline constexpr char kOpsManager[] = "auth0|ops-manager";
inline constexpr char kCfo[] = "auth0|cfo";
inline constexpr char kDpo[] = "auth0|dpo";
inline constexpr char kNoRole[] = "auth0|no-role";
inline constexpr int kCustomers = 1000;

using cantdo::testing::DemoLogin;

struct StackOptions {
  // How long an approver has before the worker asks again (the provider
  // caps its CIBA requests at this too), and how often it asks again.
  std::string approval_deadline = "72h";
  int approval_rerequests = 2;
  // Added to the identity provider's environment (e.g. IDP_CIBA_MAX_EXPIRY).
  std::map<std::string, std::string> idp_env;
  // The gateway also accepts the provider's access tokens (as scripts/demo's
  // does): principal platform:<client id>, roles from the token.
  bool gateway_tokens = false;
  // The bridge's first start only (e.g. a fail point), and the authority's
  // environment beyond the stack's.
  std::map<std::string, std::string> bridge_env_once;
  std::map<std::string, std::string> bridge_env;
  std::map<std::string, std::string> authority_env;
  // Every service serves /metrics on a loopback port (ServiceProcess::
  // metrics_port): the authority and the bridge over HTTPS with their own
  // certificates (--metrics-tls), the worker and the gateway plain HTTP.
  bool metrics = false;
};

class Stack {
 public:
  explicit Stack(StackOptions options = {}) : db(TestDatabase::kMigrated) {
    // The customer platform, as scripts/demo builds it.
    Tool({"cantdo-demo-platform", "--dsn=" + demo.Dsn(), "migrate"});
    Tool({"cantdo-demo-platform", "--dsn=" + demo.Dsn(), "seed", "--customers=" + std::to_string(kCustomers)});
    demo_worker = std::make_unique<DemoLogin>(demo, "cantdo_demo_worker");

    idp = std::make_unique<DevIdp>(pki, dir.path(), options.idp_env);
    std::smatch m;
    const std::string admin_dsn = TestDatabase::AdminDsn();
    REQUIRE(std::regex_search(admin_dsn, m, std::regex("@([^:/]+):([0-9]+)/")));

    std::map<std::string, std::string> bridge_env = {{"CANTDO_CIBA_ISSUER", idp->issuer()},
                                                     {"CANTDO_CIBA_CA_FILE", idp->ca_file()},
                                                     {"CANTDO_CIBA_CLIENT_ID", "cantdo-ciba-bridge"},
                                                     {"CANTDO_CIBA_CLIENT_SECRET", DevIdp::kSecret},
                                                     {"CANTDO_CIBA_DEFAULT_POLL_INTERVAL", "1s"},
                                                     {"CANTDO_CIBA_SCAN_INTERVAL", "200ms"},
                                                     {"CANTDO_CIBA_HTTP_TIMEOUT", "2s"},
                                                     {"CANTDO_CIBA_MAX_BACKOFF", "2s"},
                                                     {"CANTDO_AUTHORITY_ADDRESS", authority_port.address()}};
    for (auto& [k, v] : options.bridge_env) bridge_env[k] = v;
    auto with_metrics = [&options](std::map<std::string, std::string> env, bool tls) {
      if (options.metrics) {
        env["CANTDO_METRICS_LISTEN"] = "127.0.0.1:0";
        env["CANTDO_METRICS_TLS"] = tls ? "true" : "false";
      }
      return env;
    };
    bridge_env = with_metrics(std::move(bridge_env), true);
    bridge = std::make_unique<ServiceProcess>(pki, dir.path(), "ciba-bridge", bridge_login.dsn(), bridge_env);
    bridge->Start(options.bridge_env_once);
    REQUIRE(bridge->child().WaitForLogLine("identity provider discovered", absl::Seconds(30)).has_value());

    std::map<std::string, std::string> authority_env = {
        {"CANTDO_POLICY_FILE", cantdo::testing::SourceDir() + "/deploy/policy.json"},
        {"CANTDO_OIDC_ISSUER", idp->issuer()},
        {"CANTDO_OIDC_AUDIENCE", "cantdo-ciba-bridge"},
        {"CANTDO_OIDC_JWKS_URI", idp->issuer() + "/jwks"},
        {"CANTDO_OIDC_CA_FILE", idp->ca_file()},
        {"CANTDO_BRIDGE_ADDRESS", bridge->address()},
        {"CANTDO_TARGET_DB_ADMIN_DSN", demo.Dsn()},
        {"CANTDO_TARGET_DB_HOST", m[1]},
        {"CANTDO_TARGET_DB_PORT", m[2]},
        {"CANTDO_TARGET_DB_NAME", demo.Name()},
        {"CANTDO_BACKGROUND_INTERVAL", "200ms"},
        // Asking an approver again (#20) within seconds, not minutes.
        {"CANTDO_ASK_AGAIN_DELAY", "1s"},
        {"CANTDO_ASK_AGAIN_APPROVER_GAP", "1s"}};
    for (auto& [k, v] : options.authority_env) authority_env[k] = v;
    authority = std::make_unique<ServiceProcess>(pki, dir.path(), "authority", authority_login.dsn(),
                                                 with_metrics(std::move(authority_env), true), authority_port.port());
    authority->Start();

    worker = std::make_unique<ServiceProcess>(
        pki, dir.path(), "worker", worker_login.dsn(),
        with_metrics({{"CANTDO_AUTHORITY_ADDRESS", authority->address()},
                      {"CANTDO_CUSTOMER_DB_DSN", demo_worker->dsn()},
                      {"CANTDO_APPROVAL_DEADLINE", options.approval_deadline},
                      {"CANTDO_APPROVAL_REREQUESTS", std::to_string(options.approval_rerequests)},
                      {"CANTDO_ACTIVITY_TIMEOUT", "10s"}},
                     false));
    worker->Start();

    std::map<std::string, std::string> gateway_env{
        {"CANTDO_AUTHORITY_ADDRESS", authority->address()},
        {"CANTDO_CALLERS", R"({"callers": [{"principal": "spiffe://cantdo/operator", "roles": ["operator"]},)"
                           R"({"principal": "spiffe://cantdo/auditor", "roles": ["auditor"]},)"
                           R"({"principal": "spiffe://cantdo/platform", "roles": ["agent_platform"]}]})"},
        {"CANTDO_WORKFLOW_TYPES", "customer_offboarding=offboarding"},
        {"CANTDO_ADMISSION_SWEEP_INTERVAL", "500ms"}};
    if (options.gateway_tokens) {
      gateway_env.insert({{"CANTDO_OIDC_ISSUER", idp->issuer()},
                          {"CANTDO_OIDC_AUDIENCE", idp->gateway_audience()},
                          {"CANTDO_OIDC_JWKS_URI", idp->issuer() + "/jwks"},
                          {"CANTDO_OIDC_CA_FILE", idp->ca_file()},
                          {"CANTDO_OIDC_ROLES_CLAIM", idp->roles_claim()}});
    }
    gateway = std::make_unique<ServiceProcess>(pki, dir.path(), "gateway", gateway_login.dsn(),
                                               with_metrics(std::move(gateway_env), false));
    gateway->Start();
    WaitServing();
  }

  ~Stack() {
    gateway.reset();
    worker.reset();
    authority.reset();
    bridge.reset();
    idp.reset();
  }

  // Every service and the provider's log, for failure messages.
  std::string Logs() const {
    std::string out;
    for (const auto* s : {gateway.get(), worker.get(), authority.get(), bridge.get()}) {
      if (!s) continue;
      std::string log = s->Log();
      if (log.size() > 6000) log = "..." + log.substr(log.size() - 6000);
      out += "---- " + s->name() + "\n" + log + "\n";
    }
    return out;
  }

  // ---- clients ----

  std::shared_ptr<::grpc::Channel> Channel(const ServiceProcess& s, const std::string& identity) {
    return cantdo::grpc::MakeMtlsChannel(s.address(), pki.Issue(identity));
  }
  std::unique_ptr<gv1::WorkflowService::Stub> Operator() {
    return gv1::WorkflowService::NewStub(Channel(*gateway, "operator"));
  }
  std::unique_ptr<gv1::LedgerService::Stub> Auditor() {
    return gv1::LedgerService::NewStub(Channel(*gateway, "auditor"));
  }
  // The worker's identity on the authority: what an agent holding the
  // worker's credentials could try.
  std::unique_ptr<av1::AuthorityService::Stub> AsWorker() {
    return av1::AuthorityService::NewStub(Channel(*authority, "worker"));
  }
  // The approval (with the exact action it binds), as the worker sees it.
  cv1::Approval Approval(const std::string& approval_id) {
    av1::GetApprovalRequest req;
    req.set_approval_id(approval_id);
    ::grpc::ClientContext ctx;
    av1::GetApprovalResponse resp;
    auto st = AsWorker()->GetApproval(Ctx(&ctx), req, &resp);
    INFO(st.error_message());
    REQUIRE(st.ok());
    return resp.approval();
  }
  static ::grpc::ClientContext* Ctx(::grpc::ClientContext* c, int seconds = 30) {
    c->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(seconds));
    return c;
  }

  void WaitServing() {
    for (auto* s : {authority.get(), bridge.get(), worker.get(), gateway.get()}) {
      auto stub = ::grpc::health::v1::Health::NewStub(Channel(*s, "operator"));
      bool serving = WaitUntil(
          [&] {
            ::grpc::ClientContext ctx;
            ::grpc::health::v1::HealthCheckRequest req;
            ::grpc::health::v1::HealthCheckResponse resp;
            return stub->Check(Ctx(&ctx, 2), req, &resp).ok() &&
                   resp.status() == ::grpc::health::v1::HealthCheckResponse::SERVING;
          },
          absl::Seconds(60));
      INFO(s->name() << " not SERVING\n" << Logs());
      REQUIRE(serving);
    }
  }

  // ---- the operator's view ----

  // Starts an offboarding as the operator; `traceparent`, when not empty,
  // goes with the call as W3C trace context.
  gv1::StartWorkflowResponse StartOffboarding(const std::string& customer_id, int64_t refund_cents = 0,
                                              const std::string& traceparent = "") {
    gv1::StartWorkflowRequest req;
    req.set_workflow_type("customer_offboarding");
    req.set_workflow_id("offboard-" + customer_id);
    req.set_request_id("req-" + customer_id);
    ov1::OffboardingInput in;
    in.set_customer_id(customer_id);
    in.set_refund_amount_cents(refund_cents);
    in.set_reason("contract ended");
    req.mutable_input()->PackFrom(in);
    (*req.mutable_parameters()->mutable_fields())["customer_id"].set_string_value(customer_id);
    ::grpc::ClientContext ctx;
    if (!traceparent.empty()) ctx.AddMetadata("traceparent", traceparent);
    gv1::StartWorkflowResponse resp;
    auto st = Operator()->StartWorkflow(Ctx(&ctx), req, &resp);
    INFO(st.error_message() << "\n" << Logs());
    REQUIRE(st.ok());
    return resp;
  }

  wv1::WorkflowExecution Describe(const std::string& workflow_id) {
    gv1::GetWorkflowRequest req;
    req.set_workflow_id(workflow_id);
    ::grpc::ClientContext ctx;
    gv1::GetWorkflowResponse resp;
    auto st = Operator()->GetWorkflow(Ctx(&ctx), req, &resp);
    INFO(st.error_message());
    REQUIRE(st.ok());
    return resp.execution();
  }

  // The run once it is in `state` (fails the test after `timeout`).
  wv1::WorkflowExecution WaitState(const std::string& workflow_id, wv1::WorkflowExecutionState state,
                                   absl::Duration timeout = absl::Seconds(90)) {
    wv1::WorkflowExecution e;
    bool reached = WaitUntil(
        [&] {
          e = Describe(workflow_id);
          return e.state() == state;
        },
        timeout);
    INFO("run " << workflow_id << " is " << wv1::WorkflowExecutionState_Name(e.state()) << ", expected "
                << wv1::WorkflowExecutionState_Name(state) << "\n"
                << Logs());
    REQUIRE(reached);
    return e;
  }

  // The run's result (OffboardingResult) from its completion event.
  ov1::OffboardingResult Result(const std::string& workflow_id) {
    gv1::GetWorkflowHistoryRequest req;
    req.set_workflow_id(workflow_id);
    req.set_page_size(1000);
    ::grpc::ClientContext ctx;
    gv1::GetWorkflowHistoryResponse resp;
    REQUIRE(Operator()->GetWorkflowHistory(Ctx(&ctx), req, &resp).ok());
    ov1::OffboardingResult out;
    for (const auto& e : resp.events()) {
      if (e.has_workflow_execution_completed()) REQUIRE(e.workflow_execution_completed().result().UnpackTo(&out));
    }
    return out;
  }

  // ---- the approvers' devices ----

  // The provider's pending request for `subject` (waits for it).
  std::string Pending(const std::string& subject) { return idp->WaitForPending(subject); }
  nlohmann::json Approve(const std::string& subject, const std::string& as = "") {
    return idp->Device("POST", "/requests/" + Pending(subject) + "/approve" + (as.empty() ? "" : "?as=" + as));
  }
  nlohmann::json Deny(const std::string& subject) {
    return idp->Device("POST", "/requests/" + Pending(subject) + "/deny");
  }

  // ---- the data ----

  demo::CustomerSnapshot Snapshot(const std::string& customer_id) {
    auto conn = demo.Connect();
    auto s = demo::Snapshot(*conn, customer_id);
    INFO(s.status().ToString());
    REQUIRE(s.ok());
    return *s;
  }

  // Ledger entries of a run, in order, through the gateway (as an auditor).
  std::vector<cv1::LedgerEntry> Ledger(const std::string& workflow_id) {
    gv1::ListLedgerEntriesRequest req;
    req.mutable_filter()->set_workflow_id(workflow_id);
    req.set_page_size(1000);
    ::grpc::ClientContext ctx;
    gv1::ListLedgerEntriesResponse resp;
    auto st = Auditor()->ListLedgerEntries(Ctx(&ctx), req, &resp);
    INFO(st.error_message());
    REQUIRE(st.ok());
    return {resp.entries().begin(), resp.entries().end()};
  }
  // "KIND action" for each entry, e.g. "GRANT_CONSUMED refund.issue".
  static std::vector<std::string> Kinds(const std::vector<cv1::LedgerEntry>& entries, const std::string& action) {
    std::vector<std::string> out;
    for (const auto& e : entries) {
      if (e.action() == action) {
        out.push_back(cv1::LedgerEventKind_Name(e.kind()).substr(std::string("LEDGER_EVENT_KIND_").size()));
      }
    }
    return out;
  }
  cv1::LedgerVerification VerifyLedger() {
    ::grpc::ClientContext ctx;
    gv1::VerifyLedgerResponse resp;
    auto st = Auditor()->VerifyLedger(Ctx(&ctx), gv1::VerifyLedgerRequest(), &resp);
    INFO(st.error_message());
    REQUIRE(st.ok());
    return resp.verification();
  }

  TempDir dir;
  TestPki pki;
  TestDatabase db;
  TestDatabase demo;
  LoginRole gateway_login{db, "cantdo_gateway"};
  LoginRole authority_login{db, "cantdo_authority"};
  LoginRole worker_login{db, "cantdo_worker"};
  LoginRole bridge_login{db, "cantdo_bridge"};
  std::unique_ptr<DemoLogin> demo_worker;
  // The bridge and the authority name each other and each reads its peer's
  // address once, at its start: the authority's port is reserved before the
  // bridge starts, and held for the stack's lifetime (restarts included).
  PortReservation authority_port;
  std::unique_ptr<DevIdp> idp;
  std::unique_ptr<ServiceProcess> bridge, authority, worker, gateway;

 private:
  static void Tool(std::vector<std::string> argv) {
    argv[0] = cantdo::testing::BuildDir() + "/tools/demo-platform/" + argv[0];
    TempDir tmp;
    cantdo::testing::ChildProcess p(argv, {}, tmp.path() + "/tool.log");
    auto rc = p.Wait(absl::Seconds(120));
    INFO(argv[0] << ":\n" << p.Log());
    REQUIRE(rc.has_value());
    REQUIRE(*rc == 0);
  }
};

}  // namespace cantdo::e2e
