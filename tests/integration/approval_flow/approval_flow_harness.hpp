#pragma once
// The real trio, nothing faked: the dev identity provider (tools/dev-idp,
// CIBA poll mode, 1 s interval), the real cantdo-ciba-bridge binary, and the
// real authority in-process (runtime::StartService), which verifies ID tokens
// against the provider's JWKS over https. Both services share one migrated
// test database, each as its own login role (member of cantdo_authority /
// cantdo_bridge), and one TestPki for every mTLS identity.
//
// The provider's ID tokens carry no urn:openid:params:jwt:claim:auth_req_id
// (oidc-provider never adds it; CIBA Core only requires it for push mode), so
// the authority runs with require_auth_req_id_claim = false, as it must
// against any poll/ping provider that omits the claim.

#include <catch2/catch.hpp>

#include <fstream>

#include <nlohmann/json.hpp>

#include "authority/authority_app.hpp"
#include "cantdo/authority/v1/authority_service.grpc.pb.h"
#include "cantdo/base/clock.hpp"
#include "cantdo/base/status.hpp"
#include "cantdo/grpc/status.hpp"
#include "cantdo/grpc/tls.hpp"
#include "integration/bridge/bridge_harness.hpp"
#include "support/dev_idp.hpp"
#include "support/login_role.hpp"
#include "support/port_reservation.hpp"
#include "support/test_database.hpp"
#include "support/test_pki.hpp"

namespace cantdo::flowtest {

namespace av1 = cantdo::authority::v1;
namespace cv1 = cantdo::common::v1;
using cantdo::testing::DevIdp;
using cantdo::testing::PortReservation;
using cantdo::testing::TempDir;
using cantdo::testing::TestDatabase;
using cantdo::testing::TestPki;
using cantdo::testing::WaitUntil;

inline constexpr char kWorker[] = "spiffe://cantdo/worker";
inline constexpr char kRolesClaim[] = "https://cantdo.dev/roles";
inline constexpr char kAudience[] = "cantdo-ciba-bridge";  // the bridge's client id: the ID tokens' aud

using cantdo::testing::LoginRole;

// The policy: every approver is one of the provider's users. `auditor` is a
// role nobody holds at the provider; its directory lists auth0|no-role.
inline std::string FlowPolicy() {
  nlohmann::json p = {
      {"version", "flow-1"},
      {"role_claim", kRolesClaim},
      {"approvers",
       {{"cfo", {"auth0|cfo"}},
        {"dpo", {"auth0|dpo"}},
        {"ops_manager", {"auth0|ops-manager"}},
        {"auditor", {"auth0|no-role"}}}},
      {"rules",
       {{{"action", "refund.issue"},
         {"decision", "REQUIRE_APPROVAL"},
         {"required_role", "cfo"},
         {"grant_ttl", "10m"},
         {"binding_message", "Refund {amount_cents} cents to {customer_id}"},
         {"constraints",
          {{{"pointer", "/amount_cents"}, {"required", true}, {"minimum", 1}, {"maximum", 500000}},
           {{"pointer", "/customer_id"}, {"required", true}, {"pattern", "^cus_[0-9a-z]{1,24}$"}}}}},
        {{"action", "ledger.export"},
         {"decision", "REQUIRE_APPROVAL"},
         {"required_role", "auditor"},
         {"binding_message", "Export ledger for {customer_id}"},
         {"constraints", {{{"pointer", "/customer_id"}, {"required", true}, {"pattern", "^cus_[0-9a-z]{1,24}$"}}}}}}}};
  return p.dump(2);
}

struct FlowOptions {
  // Added to the provider's environment (e.g. IDP_CIBA_MAX_EXPIRY).
  std::map<std::string, std::string> idp_env;
  // The authority's policy document.
  std::string policy = FlowPolicy();
  // The authority's clock (it must outlive the flow); null: the system
  // clock. The provider and the bridge keep real time either way.
  cantdo::Clock* clock = nullptr;
};

class ApprovalFlow {
 public:
  explicit ApprovalFlow(FlowOptions options = {}) {
    idp = std::make_unique<DevIdp>(pki, dir.path(), options.idp_env);

    // The two services name each other and each reads its peer's address
    // once, at its start: the authority's port is reserved first (held for
    // the flow's lifetime, see PortReservation) so the bridge can be told
    // where to deliver.
    bridge = std::make_unique<bridgetest::Bridge>(
        pki, dir.path(), bridge_login.dsn(),
        std::map<std::string, std::string>{{"CANTDO_CIBA_ISSUER", idp->issuer()},
                                           {"CANTDO_CIBA_CA_FILE", idp->ca_file()},
                                           {"CANTDO_AUTHORITY_ADDRESS", authority_port.address()}});
    // The authority's first dispatch must find the bridge ready (a refused
    // dispatch is retried only 30 s later).
    INFO(Logs());
    REQUIRE(bridge->child().WaitForLogLine("identity provider discovered", absl::Seconds(30)).has_value());

    std::ofstream(dir.path() + "/policy.json") << options.policy;
    auto files = pki.WriteFiles(dir.path(), "authority");
    auto& c = app.config();
    c.policy_file = dir.path() + "/policy.json";
    c.oidc_issuer = idp->issuer();
    c.oidc_audience = kAudience;
    c.oidc_jwks_uri = idp->issuer() + "/jwks";
    c.oidc_ca_file = idp->ca_file();
    c.require_auth_req_id_claim = false;
    c.bridge_address = "127.0.0.1:" + std::to_string(bridge->port());
    c.background_interval = absl::Milliseconds(200);
    // Asking again (#20) within seconds.
    c.ask_again = {absl::Seconds(1), absl::Seconds(2), absl::ZeroDuration()};
    runtime::CommonConfig common;
    common.listen = authority_port.address();
    common.tls_cert = files.cert;
    common.tls_key = files.key;
    common.tls_ca = files.ca;
    common.db_dsn = authority_login.dsn();
    common.shutdown_grace = absl::Seconds(1);
    auto started =
        runtime::StartService(app, common, options.clock != nullptr ? *options.clock : cantdo::SystemClock());
    INFO(started.status().ToString());
    REQUIRE(started.ok());
    authority = *std::move(started);
    target = "127.0.0.1:" + std::to_string(authority->port());
  }
  ~ApprovalFlow() {
    if (authority) authority->Shutdown();
    bridge.reset();
    idp.reset();
  }

  std::string Logs() const {
    return "bridge:\n" + (bridge ? bridge->Log() : "") + "\nidp:\n" + (idp ? idp->Log() : "");
  }

  std::unique_ptr<av1::AuthorityService::Stub> Stub(const std::string& identity) {
    return av1::AuthorityService::NewStub(cantdo::grpc::MakeMtlsChannel(target, pki.Issue(identity)));
  }
  static ::grpc::ClientContext* Ctx(::grpc::ClientContext* c) {
    c->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
    return c;
  }

  // The worker's action for `step` of its run.
  static cv1::ActionRef Action(const std::string& action, const std::string& step, int amount_cents = 12500) {
    cv1::ActionRef a;
    a.set_action(action);
    a.set_workflow_id("wf-refunds");
    a.set_run_id("run-7");
    a.set_step(step);
    if (amount_cents > 0) (*a.mutable_parameters()->mutable_fields())["amount_cents"].set_number_value(amount_cents);
    (*a.mutable_parameters()->mutable_fields())["customer_id"].set_string_value("cus_42");
    return a;
  }

  absl::StatusOr<av1::RequestApprovalResponse> Request(const cv1::ActionRef& action) {
    av1::RequestApprovalRequest req;
    *req.mutable_action() = action;
    req.set_requester("agent:refund-bot");
    ::grpc::ClientContext ctx;
    av1::RequestApprovalResponse resp;
    auto st = Stub("worker")->RequestApproval(Ctx(&ctx), req, &resp);
    if (!st.ok()) return cantdo::grpc::FromGrpcStatus(st);
    return resp;
  }

  av1::GetApprovalResponse Get(const std::string& approval_id) {
    av1::GetApprovalRequest req;
    req.set_approval_id(approval_id);
    ::grpc::ClientContext ctx;
    av1::GetApprovalResponse resp;
    auto st = Stub("worker")->GetApproval(Ctx(&ctx), req, &resp);
    INFO(st.error_message());
    REQUIRE(st.ok());
    return resp;
  }

  // The approval once it has left PENDING, waiting up to `timeout`.
  av1::GetApprovalResponse WaitDecided(const std::string& approval_id, absl::Duration timeout) {
    av1::GetApprovalResponse resp;
    WaitUntil(
        [&] {
          resp = Get(approval_id);
          return resp.approval().state() != cv1::APPROVAL_STATE_PENDING;
        },
        timeout);
    return resp;
  }

  // The provider's auth_req_id the authority recorded for the approval, once
  // the bridge has started the request.
  std::string AuthReqId(const std::string& approval_id) {
    std::string id;
    WaitUntil(
        [&] {
          auto r = db.Connect()->Exec(
              "SELECT coalesce(auth_req_id, '') FROM cantdo.approvals WHERE approval_id::text = $1", {approval_id});
          REQUIRE(r.ok());
          REQUIRE(r->Rows() == 1);
          id = *r->GetString(0, 0);
          return !id.empty();
        },
        absl::Seconds(20));
    REQUIRE(!id.empty());
    return id;
  }

  absl::StatusOr<av1::CompleteApprovalResponse> Complete(const std::string& approval_id, const std::string& auth_req_id,
                                                         const std::string& id_token) {
    av1::CompleteApprovalRequest req;
    req.set_approval_id(approval_id);
    req.set_auth_req_id(auth_req_id);
    req.set_outcome(av1::CIBA_OUTCOME_APPROVED);
    req.set_id_token(id_token);
    ::grpc::ClientContext ctx;
    av1::CompleteApprovalResponse resp;
    auto st = Stub("ciba-bridge")->CompleteApproval(Ctx(&ctx), req, &resp);
    if (!st.ok()) return cantdo::grpc::FromGrpcStatus(st);
    return resp;
  }

  // The evidence the authority kept: one row of cantdo.approval_results.
  struct Result {
    std::string outcome, id_token, subject, reason;
    bool verified = false;
  };
  std::optional<Result> ApprovalResult(const std::string& approval_id) {
    auto r = db.Connect()->Exec(
        "SELECT outcome, coalesce(id_token, ''), coalesce(subject, ''), reason, verified "
        "FROM cantdo.approval_results WHERE approval_id::text = $1",
        {approval_id});
    REQUIRE(r.ok());
    REQUIRE(r->Rows() <= 1);
    if (r->Rows() == 0) return std::nullopt;
    return Result{*r->GetString(0, 0), *r->GetString(0, 1), *r->GetString(0, 2), *r->GetString(0, 3),
                  *r->GetBool(0, 4)};
  }

  // Ledger entries of `kind` for the approval (and with `reason`, if given).
  int64_t LedgerCount(const std::string& approval_id, const std::string& kind, const std::string& reason = "") {
    auto r = db.Connect()->Exec(
        "SELECT count(*) FROM cantdo.ledger WHERE approval_id = $1 AND kind = $2 AND ($3 = '' OR reason = $3)",
        {approval_id, kind, reason});
    REQUIRE(r.ok());
    return *r->GetInt64(0, 0);
  }

  int64_t GrantCount(const std::string& approval_id) {
    auto r = db.Connect()->Exec("SELECT count(*) FROM cantdo.grants WHERE approval_id::text = $1", {approval_id});
    REQUIRE(r.ok());
    return *r->GetInt64(0, 0);
  }

  // Declaration order is teardown order, reversed: the services stop before
  // their login roles are dropped and the database goes.
  TestDatabase db{TestDatabase::kMigrated};
  LoginRole authority_login{db, "cantdo_authority"};
  LoginRole bridge_login{db, "cantdo_bridge"};
  TestPki pki;
  TempDir dir;
  PortReservation authority_port;  // outlives the authority
  std::unique_ptr<DevIdp> idp;
  std::unique_ptr<bridgetest::Bridge> bridge;
  cantdo::authority::AuthorityApp app;
  std::unique_ptr<runtime::RunningService> authority;
  std::string target;
};

}  // namespace cantdo::flowtest
