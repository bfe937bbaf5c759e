// The offboarding workflow end to end against the demo customer platform,
// a real authority over mTLS and the worker: every allowed action visibly
// changes the platform, every refused one changes nothing.

#include <csignal>

#include "grpc/health/v1/health.grpc.pb.h"

#include "support/child_process.hpp"
#include "support/wait.hpp"
#include "offboarding_harness.hpp"

namespace cantdo::testing {
namespace {

using Harness = OffboardingHarness;

// `want` appears in `got` in this order (other entries may interleave).
bool InOrder(const std::vector<std::string>& got, const std::vector<std::string>& want) {
  size_t i = 0;
  for (const auto& g : got) {
    if (i < want.size() && g == want[i]) ++i;
  }
  return i == want.size();
}

std::string Joined(const std::vector<std::string>& v) {
  std::string out;
  for (const auto& s : v) out += s + " ";
  return out;
}

const ov1::StepResult& Step(const ov1::OffboardingResult& r, const std::string& name) {
  for (const auto& s : r.steps()) {
    if (s.step() == name) return s;
  }
  FAIL("no step " << name << " in " << r.DebugString());
  return r.steps(0);
}

int64_t Detail(const ov1::StepResult& s, const std::string& key) {
  auto it = s.details().find(key);
  REQUIRE(it != s.details().end());
  return std::stoll(it->second);
}

}  // namespace

TEST_CASE("offboarding: approved by CFO and DPO, every step changes the platform and the ledger shows it",
          "[integration][worker]") {
  Harness h;
  const std::string customer = demo::CustomerId(1);
  const demo::CustomerSnapshot before = h.Snapshot(customer);
  REQUIRE(before.users_active > 0);
  REQUIRE(before.subscriptions_active > 0);
  REQUIRE(before.invoices > 0);

  const std::string run_id = h.Start("offb-approved", customer);
  h.Approve(h.WaitApproval("offb-approved", "issue_refund"), "cfo1", "cfo");
  h.Approve(h.WaitApproval("offb-approved", "delete_customer_data"), "dpo1", "dpo");
  auto closed = h.WaitClosed("offb-approved");
  INFO(closed.DebugString());
  REQUIRE(closed.state() == wv1::WORKFLOW_EXECUTION_STATE_COMPLETED);

  const ov1::OffboardingResult result = h.Result(run_id);
  INFO(result.DebugString());
  CHECK(result.status() == ov1::OFFBOARDING_STATUS_COMPLETED);
  CHECK(result.denied_steps().empty());
  for (const char* s : {"revoke_access", "export_billing", "cancel_subscriptions"}) {
    CHECK(Step(result, s).outcome() == ov1::STEP_OUTCOME_ALLOWED_DONE);
  }
  const auto& refund = Step(result, "issue_refund");
  CHECK(refund.outcome() == ov1::STEP_OUTCOME_APPROVED_DONE);
  CHECK(refund.approver_subject() == "cfo1");
  CHECK(refund.required_role() == "cfo");
  CHECK_FALSE(refund.grant_id().empty());
  const auto& erase = Step(result, "delete_customer_data");
  CHECK(erase.outcome() == ov1::STEP_OUTCOME_APPROVED_DONE);
  CHECK(erase.approver_subject() == "dpo1");

  // The platform: access revoked, billing exported with its checksum,
  // subscriptions canceled, one refund of the unused period written by a
  // grant's login, personal data erased, accounting rows kept anonymised.
  const demo::CustomerSnapshot after = h.Snapshot(customer);
  CHECK(after.users == 0);
  CHECK(after.sessions == 0);
  CHECK(after.api_keys == 0);
  CHECK(after.subscriptions_active == 0);
  CHECK(after.subscriptions_canceled == before.subscriptions_active);
  CHECK(after.billing_exports == 1);
  CHECK(after.refunds == 1);
  CHECK(after.refunded_cents == Detail(Step(result, "cancel_subscriptions"), "refundable_cents"));
  CHECK(after.refunded_cents > 0);
  CHECK(after.invoices == before.invoices);
  CHECK(after.payments == before.payments);
  CHECK(after.invoices_with_personal_data == 0);
  CHECK(after.payments_with_personal_data == 0);
  CHECK(after.contact_email.empty());
  CHECK(after.anonymised);
  CHECK(after.erased);
  CHECK(after.status == "closed");
  CHECK(Detail(Step(result, "revoke_access"), "users_deactivated") == before.users_active);
  CHECK(Detail(Step(result, "delete_customer_data"), "users_deleted") == before.users);
  CHECK(h.Count("SELECT count(*) FROM platform.billing_exports WHERE customer_id = $1 AND content_sha256 = $2",
                {customer, Step(result, "export_billing").details().at("sha256")}) == 1);
  // Written by the short-lived login, which is gone within moments of the
  // consume.
  const std::string writer = refund.details().at("written_by");
  CHECK(writer.rfind("cantdo_x_", 0) == 0);
  CHECK(cantdo::testing::WaitUntil(
      [&] { return h.Count("SELECT count(*) FROM pg_roles WHERE rolname = $1", {writer}) == 0; }, absl::Seconds(30)));
  // Other customers are untouched.
  const demo::CustomerSnapshot other = h.Snapshot(demo::CustomerId(2));
  CHECK(other.users_active == other.users);
  CHECK(other.refunds == 0);

  // The ledger: ALLOW for the three low-risk steps; the full grant life for
  // each irreversible one.
  for (const char* action : {"access.revoke", "billing.export", "subscriptions.cancel"}) {
    CHECK(h.Ledger("offb-approved", action) == std::vector<std::string>{"DECISION:ALLOW"});
  }
  for (const char* action : {"refund.issue", "customer_data.delete"}) {
    auto ledger = h.Ledger("offb-approved", action);
    INFO(action << ": " << Joined(ledger));
    CHECK(InOrder(ledger, {"DECISION:REQUIRE_APPROVAL", "APPROVAL_REQUESTED", "APPROVAL_VERIFIED", "GRANT_ISSUED",
                           "GRANT_CLAIMED", "GRANT_CONSUMED"}));
    CHECK(std::count(ledger.begin(), ledger.end(), "GRANT_CONSUMED") == 1);
    CHECK(std::count(ledger.begin(), ledger.end(), "GRANT_DENIED") == 0);
  }
}

TEST_CASE("offboarding: without a grant the platform itself refuses the worker's refund and erasure",
          "[integration][worker]") {
  Harness::Options o;
  o.start_worker = false;
  Harness h(o);
  const std::string customer = demo::CustomerId(7);
  const demo::CustomerSnapshot before = h.Snapshot(customer);
  auto conn = pg::Connection::Connect(h.worker_demo_login->dsn(), absl::Seconds(5));
  REQUIRE(conn.ok());

  auto refund = (*conn)->Exec(
      "INSERT INTO platform.refunds (customer_id, amount_cents, currency, reason, idempotency_key, grant_id, "
      "approval_id, approved_by) VALUES ($1, 1000, 'EUR', 'no grant', 'k-1', 'none', 'none', 'nobody')",
      {customer});
  CHECK(absl::IsPermissionDenied(refund.status()));
  CHECK(pg::SqlStateOf(refund.status()) == "42501");
  for (const char* erase : {"DELETE FROM platform.users WHERE customer_id = $1",
                            "UPDATE platform.customers SET contact_email = NULL WHERE customer_id = $1",
                            "UPDATE platform.invoices SET billing_name = NULL WHERE customer_id = $1"}) {
    auto st = (*conn)->Exec(erase, {customer});
    INFO(erase << ": " << st.status().ToString());
    CHECK(pg::SqlStateOf(st.status()) == "42501");
  }
  // What the worker may do, it can (it reads the platform).
  CHECK((*conn)->Exec("SELECT count(*) FROM platform.refunds").ok());

  const demo::CustomerSnapshot after = h.Snapshot(customer);
  CHECK(after.refunds == 0);
  CHECK(after.users == before.users);
  CHECK(after.contact_email == before.contact_email);
  CHECK(after.invoices_with_personal_data == before.invoices_with_personal_data);
}

TEST_CASE("offboarding: the CFO denies, no refund is written and the run ends PARTIALLY_DENIED",
          "[integration][worker]") {
  Harness h;
  const std::string customer = demo::CustomerId(2);
  const std::string run_id = h.Start("offb-cfo-denies", customer);
  h.Deny(h.WaitApproval("offb-cfo-denies", "issue_refund"));
  h.Approve(h.WaitApproval("offb-cfo-denies", "delete_customer_data"), "dpo1", "dpo");
  auto closed = h.WaitClosed("offb-cfo-denies");
  REQUIRE(closed.state() == wv1::WORKFLOW_EXECUTION_STATE_COMPLETED);

  const auto result = h.Result(run_id);
  INFO(result.DebugString());
  CHECK(result.status() == ov1::OFFBOARDING_STATUS_PARTIALLY_DENIED);
  REQUIRE(result.denied_steps_size() == 1);
  CHECK(result.denied_steps(0) == "issue_refund");
  const auto& refund = Step(result, "issue_refund");
  CHECK(refund.outcome() == ov1::STEP_OUTCOME_DENIED);
  CHECK(refund.approval_state() == cv1::APPROVAL_STATE_DENIED);
  CHECK(refund.approval_reason() == cv1::APPROVAL_DENIED);
  CHECK(refund.required_role() == "cfo");
  CHECK(refund.grant_id().empty());
  CHECK(refund.message().find("denied") != std::string::npos);
  CHECK(Step(result, "delete_customer_data").outcome() == ov1::STEP_OUTCOME_APPROVED_DONE);

  CHECK(h.Snapshot(customer).refunds == 0);
  CHECK(h.Count("SELECT count(*) FROM platform.refunds") == 0);
  auto ledger = h.Ledger("offb-cfo-denies", "refund.issue");
  INFO(Joined(ledger));
  CHECK(std::count(ledger.begin(), ledger.end(), "GRANT_ISSUED") == 0);
  CHECK(std::count(ledger.begin(), ledger.end(), "GRANT_CLAIMED") == 0);
}

TEST_CASE("offboarding: the DPO denies, the customer's data stays intact", "[integration][worker]") {
  Harness h;
  const std::string customer = demo::CustomerId(3);
  const demo::CustomerSnapshot before = h.Snapshot(customer);
  const std::string run_id = h.Start("offb-dpo-denies", customer, /*refund_cents=*/1234);
  h.Approve(h.WaitApproval("offb-dpo-denies", "issue_refund"), "cfo1", "cfo");
  h.Deny(h.WaitApproval("offb-dpo-denies", "delete_customer_data"));
  auto closed = h.WaitClosed("offb-dpo-denies");
  REQUIRE(closed.state() == wv1::WORKFLOW_EXECUTION_STATE_COMPLETED);

  const auto result = h.Result(run_id);
  INFO(result.DebugString());
  CHECK(result.status() == ov1::OFFBOARDING_STATUS_PARTIALLY_DENIED);
  CHECK(Step(result, "delete_customer_data").outcome() == ov1::STEP_OUTCOME_DENIED);
  CHECK(Step(result, "issue_refund").outcome() == ov1::STEP_OUTCOME_APPROVED_DONE);

  const demo::CustomerSnapshot after = h.Snapshot(customer);
  CHECK(after.refunds == 1);
  CHECK(after.refunded_cents == 1234);  // the amount given at start
  CHECK(after.users == before.users);
  CHECK(after.contact_email == before.contact_email);
  CHECK(after.company_name == before.company_name);
  CHECK(after.invoices_with_personal_data == before.invoices_with_personal_data);
  CHECK(after.payments_with_personal_data == before.payments_with_personal_data);
  CHECK_FALSE(after.erased);
  CHECK_FALSE(after.anonymised);
}

TEST_CASE("offboarding: an approval nobody decides is asked again, then the run fails with APPROVAL_EXPIRED",
          "[integration][worker]") {
  Harness::Options o;
  o.approval_deadline = absl::Hours(1);
  o.approval_rerequests = 1;
  Harness h(o);
  const std::string customer = demo::CustomerId(4);
  h.Start("offb-expires", customer);
  const std::string first = h.WaitApproval("offb-expires", "issue_refund");
  h.WaitParked("offb-expires");
  h.clock.Advance(absl::Hours(1) + absl::Minutes(2));
  h.worker.engine()->Wake();
  const std::string second = h.WaitApproval("offb-expires", "issue_refund.attempt2");
  CHECK(first != second);
  h.WaitParked("offb-expires");
  h.clock.Advance(absl::Hours(1) + absl::Minutes(2));
  h.worker.engine()->Wake();
  auto closed = h.WaitClosed("offb-expires");
  INFO(closed.DebugString());
  REQUIRE(closed.state() == wv1::WORKFLOW_EXECUTION_STATE_FAILED);
  CHECK(closed.failure().type() == "APPROVAL_EXPIRED");
  CHECK(closed.failure().message().find("requested 2 time(s)") != std::string::npos);
  CHECK(closed.failure().message().find("cancel_subscriptions=ALLOWED_DONE") != std::string::npos);
  CHECK(h.Snapshot(customer).refunds == 0);
  CHECK_FALSE(h.Snapshot(customer).erased);
}

TEST_CASE(
    "offboarding: an answer that fails verification is nobody's decision: the approver is asked again, and "
    "unverified every time, the run fails with the verification's reason and nothing is erased (#20)",
    "[integration][worker]") {
  Harness::Options o;
  o.approval_rerequests = 1;
  Harness h(o);
  const std::string customer = demo::CustomerId(5);
  const demo::CustomerSnapshot before = h.Snapshot(customer);
  const std::string run_id = h.Start("offb-unverified", customer, /*refund_cents=*/700);
  // The refund: a DPO's token answers the CFO's request; the CFO is asked
  // again and approves.
  const std::string refund1 = h.WaitApproval("offb-unverified", "issue_refund");
  h.ApproveWithRole(refund1, "cfo1", "dpo");
  const std::string refund2 = h.WaitApproval("offb-unverified", "issue_refund.attempt2");
  CHECK(refund1 != refund2);
  h.Approve(refund2, "cfo1", "cfo");
  // The erasure: unverified both times it is asked.
  h.ApproveWithRole(h.WaitApproval("offb-unverified", "delete_customer_data"), "dpo1", "cfo");
  h.ApproveWithRole(h.WaitApproval("offb-unverified", "delete_customer_data.attempt2"), "dpo1", "cfo");
  auto closed = h.WaitClosed("offb-unverified");
  INFO(closed.DebugString());
  REQUIRE(closed.state() == wv1::WORKFLOW_EXECUTION_STATE_FAILED);
  CHECK(closed.failure().type() == "APPROVAL_ROLE_MISMATCH");
  CHECK(closed.failure().message().find("customer_data.delete was not approved by a verified dpo") !=
        std::string::npos);
  CHECK(closed.failure().message().find("nobody denied it") != std::string::npos);
  CHECK(closed.failure().message().find("issue_refund=APPROVED_DONE") != std::string::npos);
  CHECK(closed.failure().message().find("delete_customer_data=UNVERIFIED") != std::string::npos);
  const demo::CustomerSnapshot after = h.Snapshot(customer);
  CHECK(after.refunds == 1);
  CHECK(after.refunded_cents == 700);
  CHECK_FALSE(after.erased);
  CHECK(after.users == before.users);
  auto ledger = h.Ledger("offb-unverified", "customer_data.delete");
  INFO(Joined(ledger));
  CHECK(std::count(ledger.begin(), ledger.end(), "GRANT_ISSUED") == 0);
}

TEST_CASE("offboarding: a run pending admission does nothing until admitted", "[integration][worker]") {
  Harness h;
  const std::string customer = demo::CustomerId(5);
  const std::string run_id = h.Start("offb-pending", customer, 0, /*pending_admission=*/true);
  // Past the decision point: polls the worker was woken for after the start
  // committed all found nothing (2 threads, workflow and activity scans: a
  // few polls were possibly under way already).
  const int64_t polls = h.worker.engine()->Stats().empty_polls;
  REQUIRE(cantdo::testing::WaitUntil(
      [&] {
        h.worker.engine()->Wake();
        return h.worker.engine()->Stats().empty_polls >= polls + 8;
      },
      absl::Seconds(20), absl::Milliseconds(50)));
  CHECK(h.Ledger("offb-pending", "access.revoke").empty());
  CHECK(h.Snapshot(customer).users_active == h.Snapshot(customer).users);
  h.Admit("offb-pending");
  h.WaitApproval("offb-pending", "issue_refund");
  CHECK(h.Ledger("offb-pending", "access.revoke") == std::vector<std::string>{"DECISION:ALLOW"});
  CHECK(h.Snapshot(customer).users_active == 0);
}

TEST_CASE(
    "offboarding: worker SIGKILLed between writing the refund and consuming the grant, after restart "
    "exactly one refund exists",
    "[integration][worker]") {
  Harness::Options o;
  o.start_worker = false;
  Harness h(o);
  const std::string customer = demo::CustomerId(6);
  auto files = h.pki.WriteFiles(h.dir.path(), "worker");
  auto run_worker = [&](bool fail_point, const std::string& log) {
    std::map<std::string, std::string> env;
    if (fail_point) env["CANTDO_FAILPOINT"] = "offboarding.issue_refund.after_write";
    return std::make_unique<ChildProcess>(
        std::vector<std::string>{BuildDir() + "/services/worker/cantdo-worker", "--listen=127.0.0.1:0",
                                 "--tls-cert=" + files.cert, "--tls-key=" + files.key, "--tls-ca=" + files.ca,
                                 "--db-dsn=" + h.worker_login->dsn(), "--authority-address=" + h.authority_address,
                                 "--customer-db-dsn=" + h.worker_demo_login->dsn(), "--activity-timeout=3s",
                                 "--concurrency=2"},
        env, h.dir.path() + "/" + log);
  };
  const std::string run_id = h.Start("offb-crash", customer);
  auto first = run_worker(true, "worker1.log");
  h.Approve(h.WaitApproval("offb-crash", "issue_refund"), "cfo1", "cfo");
  auto status = first->Wait(absl::Seconds(60));
  INFO(first->Log());
  REQUIRE(status.has_value());
  CHECK(*status == 128 + SIGKILL);
  // Died with the refund written and the grant claimed, not consumed.
  CHECK(h.Count("SELECT count(*) FROM platform.refunds WHERE customer_id = $1", {customer}) == 1);
  {
    auto conn = h.db.Connect();
    auto g = conn->Exec("SELECT state FROM cantdo.grants WHERE workflow_id = 'offb-crash' AND action = 'refund.issue'");
    REQUIRE(g.ok());
    REQUIRE(g->Rows() == 1);
    CHECK(*g->GetString(0, 0) == "CLAIMED");
  }

  auto second = run_worker(false, "worker2.log");
  h.Approve(h.WaitApproval("offb-crash", "delete_customer_data"), "dpo1", "dpo");
  auto closed = h.WaitClosed("offb-crash", absl::Seconds(90));
  INFO(second->Log());
  REQUIRE(closed.state() == wv1::WORKFLOW_EXECUTION_STATE_COMPLETED);
  CHECK(h.Count("SELECT count(*) FROM platform.refunds WHERE customer_id = $1", {customer}) == 1);
  CHECK(h.Count("SELECT count(*) FROM platform.refunds") == 1);
  const auto result = h.Result(run_id);
  CHECK(Step(result, "issue_refund").outcome() == ov1::STEP_OUTCOME_APPROVED_DONE);
  auto ledger = h.Ledger("offb-crash", "refund.issue");
  INFO(Joined(ledger));
  CHECK(std::count(ledger.begin(), ledger.end(), "GRANT_CLAIMED") == 2);  // claim, re-claim with the same key
  CHECK(std::count(ledger.begin(), ledger.end(), "GRANT_CONSUMED") == 1);
  second->Signal(SIGTERM);
  CHECK(second->Wait(absl::Seconds(30)).value_or(-1) == 0);
}

}  // namespace cantdo::testing

namespace cantdo::testing {

TEST_CASE("worker: health is SERVING only while Postgres and the authority are reachable", "[integration][worker]") {
  Harness h;
  auto health = [&]() {
    auto stub = ::grpc::health::v1::Health::NewStub(cantdo::grpc::MakeMtlsChannel(
        "127.0.0.1:" + std::to_string(h.worker_service->port()), h.pki.Issue("operator")));
    ::grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
    ::grpc::health::v1::HealthCheckRequest req;
    ::grpc::health::v1::HealthCheckResponse resp;
    auto st = stub->Check(&ctx, req, &resp);
    return st.ok() ? resp.status() : ::grpc::health::v1::HealthCheckResponse::UNKNOWN;
  };
  auto wait_for = [&](::grpc::health::v1::HealthCheckResponse::ServingStatus want) {
    return cantdo::testing::WaitUntil([&] { return health() == want; }, absl::Seconds(10));
  };
  CHECK(wait_for(::grpc::health::v1::HealthCheckResponse::SERVING));
  h.authority_service->Shutdown();
  CHECK(wait_for(::grpc::health::v1::HealthCheckResponse::NOT_SERVING));
}

}  // namespace cantdo::testing
