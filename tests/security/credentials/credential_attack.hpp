#pragma once
// The attacker of issue 17, part 2: it holds the PostgreSQL login a claimed
// grant released and tries to do more with it than the approver approved.
//
// Real parts only: the demo customer platform in its own database
// (db/demo/migrations, seeded), the authority in-process over mutual TLS
// creating the logins on that database (OffboardingHarness, worker not
// started), approvals delivered as the bridge delivers them (an ID token
// the authority verifies). Each Try* attempts every path a login could
// take to the effect: the platform's scoped function, then the tables
// directly (what a member of the old table-wide privilege groups could do).
// The verdict is what the customer database holds afterwards.

#include <catch2/catch.hpp>

#include <memory>
#include <string>

#include "cantdo/pg/connection.hpp"
#include "cantdo/pg/sql_state.hpp"
#include "integration/worker/offboarding_harness.hpp"
#include "support/wait.hpp"
#include "worker/customer_platform.hpp"

namespace cantdo::testing {

class CredentialAttack {
 public:
  CredentialAttack() : h(WithoutWorker()) {}

  static OffboardingHarness::Options WithoutWorker() {
    OffboardingHarness::Options o;
    o.start_worker = false;
    return o;
  }

  // The action as the worker asks for it in the offboarding run.
  cv1::ActionRef Refund(const std::string& customer_id, int64_t amount_cents) {
    cv1::ActionRef a = Base("refund.issue", "issue_refund", customer_id);
    (*a.mutable_parameters()->mutable_fields())["amount_cents"].set_number_value(static_cast<double>(amount_cents));
    (*a.mutable_parameters()->mutable_fields())["currency"].set_string_value(Currency(customer_id));
    return a;
  }
  cv1::ActionRef Erasure(const std::string& customer_id) {
    return Base("customer_data.delete", "delete_customer_data", customer_id);
  }

  // RequestApproval as the worker, approved on the approver's device
  // (`subject` with `role`), claimed with the worker's identity.
  av1::ClaimGrantResponse ApproveAndClaim(const cv1::ActionRef& action, const std::string& subject,
                                          const std::string& role) {
    av1::RequestApprovalRequest req;
    *req.mutable_action() = action;
    req.set_requester(kOperator);
    av1::RequestApprovalResponse requested;
    {
      ::grpc::ClientContext ctx;
      auto st = Worker()->RequestApproval(WithDeadline(&ctx), req, &requested);
      INFO(st.error_message());
      REQUIRE(st.ok());
    }
    h.Approve(requested.approval().approval_id(), subject, role);
    av1::ClaimGrantRequest claim;
    claim.set_grant_id(ApprovedGrant(requested.approval().approval_id()));
    *claim.mutable_action() = action;
    claim.set_idempotency_key("attack-claim");
    av1::ClaimGrantResponse claimed;
    ::grpc::ClientContext ctx;
    auto st = Worker()->ClaimGrant(WithDeadline(&ctx), claim, &claimed);
    INFO(st.error_message());
    REQUIRE(st.ok());
    REQUIRE(claimed.credential().has_postgres_login());
    return claimed;
  }

  absl::Status Consume(const std::string& grant_id) {
    av1::ConsumeGrantRequest req;
    req.set_grant_id(grant_id);
    req.set_outcome_digest(std::string(64, 'a'));
    av1::ConsumeGrantResponse resp;
    ::grpc::ClientContext ctx;
    auto st = Worker()->ConsumeGrant(WithDeadline(&ctx), req, &resp);
    return st.ok() ? absl::OkStatus() : cantdo::grpc::FromGrpcStatus(st);
  }

  static absl::StatusOr<std::unique_ptr<pg::Connection>> LogIn(const cv1::PostgresLogin& login) {
    return pg::Connection::Connect(worker::DsnForLogin(login), absl::Seconds(5));
  }

  // A refund to `customer_id` of `amount_cents` under `key`, by any path.
  // OK if one path wrote it; otherwise the scoped function's refusal.
  static absl::Status TryRefund(pg::Connection& as, const std::string& customer_id, int64_t amount_cents,
                                const std::string& currency, const std::string& key) {
    auto via_function = as.Exec("SELECT refund_id FROM platform.issue_refund($1, $2::bigint, $3, 'attack', $4)",
                                {customer_id, std::to_string(amount_cents), currency, key});
    if (via_function.ok()) return absl::OkStatus();
    auto direct = as.Exec(
        "INSERT INTO platform.refunds (customer_id, amount_cents, currency, reason, idempotency_key, grant_id, "
        "approval_id, approved_by) VALUES ($1, $2::bigint, $3, 'attack', $4, $4, 'forged', 'forged')",
        {customer_id, std::to_string(amount_cents), currency, key});
    if (direct.ok()) return absl::OkStatus();
    return via_function.status();
  }

  // The customer's personal data erased, by any path.
  static absl::Status TryErase(pg::Connection& as, const std::string& customer_id, const std::string& key) {
    auto via_function = as.Exec("SELECT users_deleted FROM platform.erase_customer_data($1, $2)", {customer_id, key});
    if (via_function.ok()) return absl::OkStatus();
    auto direct = as.Exec("DELETE FROM platform.users WHERE customer_id = $1", {customer_id});
    if (direct.ok() && direct->CommandTuples() > 0) return absl::OkStatus();
    return via_function.status();
  }

  int64_t RefundRows(const std::string& customer_id) {
    return h.Count("SELECT count(*) FROM platform.refunds WHERE customer_id = $1", {customer_id});
  }
  int64_t Users(const std::string& customer_id) {
    return h.Count("SELECT count(*) FROM platform.users WHERE customer_id = $1", {customer_id});
  }
  bool RoleExists(const std::string& role) {
    return h.Count("SELECT count(*) FROM pg_roles WHERE rolname = $1", {role}) == 1;
  }

  std::string Currency(const std::string& customer_id) {
    auto conn = h.demo.Connect();
    auto r = conn->Exec("SELECT currency FROM platform.customers WHERE customer_id = $1", {customer_id});
    REQUIRE(r.ok());
    REQUIRE(r->Rows() == 1);
    return *r->GetString(0, 0);
  }

  OffboardingHarness h;

 private:
  static cv1::ActionRef Base(const std::string& action, const std::string& step, const std::string& customer_id) {
    cv1::ActionRef a;
    a.set_action(action);
    a.set_resource("customer/" + customer_id);
    a.set_workflow_id("wf-attack-" + step);
    a.set_run_id("run-1");
    a.set_step(step);
    (*a.mutable_parameters()->mutable_fields())["customer_id"].set_string_value(customer_id);
    return a;
  }

  static ::grpc::ClientContext* WithDeadline(::grpc::ClientContext* ctx) {
    ctx->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
    return ctx;
  }

  std::unique_ptr<av1::AuthorityService::Stub> Worker() {
    return av1::AuthorityService::NewStub(cantdo::grpc::MakeMtlsChannel(h.authority_address, h.pki.Issue("worker")));
  }

  // The grant minted for an approved approval.
  std::string ApprovedGrant(const std::string& approval_id) {
    auto conn = h.db.Connect();
    auto r = conn->Exec("SELECT grant_id::text FROM cantdo.grants WHERE approval_id = $1::uuid", {approval_id});
    REQUIRE(r.ok());
    REQUIRE(r->Rows() == 1);
    return *r->GetString(0, 0);
  }
};

}  // namespace cantdo::testing
