// The authority's /metrics, scraped over HTTPS after real calls: each
// decision, approval, grant transition and refusal moves exactly its
// counter, the counters agree with the ledger, what waits is read from the
// database, and the exposition passes `promtool check metrics`.
#include <google/protobuf/empty.pb.h>
#include <grpcpp/impl/codegen/client_unary_call.h>

#include "cantdo/base/ids.hpp"
#include "integration/authority/authority_harness.hpp"
#include "support/prometheus_checks.hpp"

using cantdo::testing::AuthorityHarness;
using cantdo::testing::CheckPromtoolClean;
using cantdo::testing::RequireSample;
using cantdo::testing::SumOfSamples;
using cantdo::testing::WaitUntil;
namespace av1 = cantdo::authority::v1;
namespace cv1 = cantdo::common::v1;

namespace {

std::string Handled(const std::string& method, const std::string& code) {
  return "cantdo_grpc_server_handled_total{grpc_service=\"cantdo.authority.v1.AuthorityService\",grpc_method=\"" +
         method + "\",grpc_code=\"" + code + "\"}";
}

}  // namespace

TEST_CASE(
    "authority metrics: decisions, an approval, a claim and consume and a refused reuse each move their "
    "counter, agree with the ledger, and pass promtool",
    "[integration][authority][metrics]") {
  AuthorityHarness h;
  const std::string before = h.Metrics();
  CHECK(RequireSample(before, R"(cantdo_authority_decisions_total{action="access.revoke",decision="ALLOW"})") == 0);
  CHECK(RequireSample(before, R"(cantdo_authority_grant_transitions_total{transition="claimed"})") == 0);
  CHECK(RequireSample(before, R"(cantdo_authority_approvals_pending{required_role="cfo"})") == 0);
  CHECK(RequireSample(before, R"(cantdo_authority_credentials_live{kind="POSTGRES_ROLE"})") == 0);
  CHECK(RequireSample(before, R"(cantdo_build_info{service="authority",version="0.1.0"})") == 1);
  CHECK(RequireSample(before, "cantdo_db_pool_max_connections") == 70);

  // An ALLOW, a DENY for an action the policy does not name (labelled
  // "other", not by what the caller sent), and an approval that waits.
  REQUIRE(h.Request(AuthorityHarness::RefundRequest("revoke", 1, "ops1", "access.revoke")).ok());
  auto unknown = h.Request(AuthorityHarness::RefundRequest("launch", 1, "ops1", "rocket.launch"));
  CHECK(unknown.status().code() == absl::StatusCode::kPermissionDenied);
  auto asked = h.Request(AuthorityHarness::RefundRequest("refund-1"));
  REQUIRE(asked.ok());
  const std::string approval_id = asked->approval().approval_id();
  h.clock.Advance(absl::Seconds(90));
  std::string m = h.Metrics();
  CHECK(RequireSample(m, R"(cantdo_authority_decisions_total{action="access.revoke",decision="ALLOW"})") == 1);
  CHECK(RequireSample(m, R"(cantdo_authority_decisions_total{action="refund.issue",decision="REQUIRE_APPROVAL"})") ==
        1);
  CHECK(RequireSample(m, R"(cantdo_authority_decisions_total{action="other",decision="DENY"})") == 1);
  CHECK(m.find("rocket.launch") == std::string::npos);
  CHECK(RequireSample(m, R"(cantdo_authority_approvals_pending{required_role="cfo"})") == 1);
  CHECK(RequireSample(m, R"(cantdo_authority_approvals_pending{required_role="dpo"})") == 0);
  CHECK(RequireSample(m, R"(cantdo_authority_approvals_oldest_pending_age_seconds{required_role="cfo"})") ==
        Approx(90).margin(1));

  // The CFO approves: the approval closes, its grant is issued.
  auto approved = h.Complete(approval_id, h.idp.Sign(h.Claims("cfo1", approval_id)));
  INFO(approved.status().ToString());
  REQUIRE(approved.ok());
  const cv1::Grant grant = approved->grant();
  m = h.Metrics();
  CHECK(RequireSample(m, R"(cantdo_authority_approvals_decided_total{action="refund.issue",outcome="APPROVED"})") == 1);
  CHECK(RequireSample(m, R"(cantdo_authority_grant_transitions_total{transition="issued"})") == 1);
  CHECK(RequireSample(m, R"(cantdo_authority_approvals_pending{required_role="cfo"})") == 0);
  CHECK(RequireSample(m, R"(cantdo_authority_approvals_oldest_pending_age_seconds{required_role="cfo"})") == 0);

  // Claim: a credential is live until the consume destroys it.
  REQUIRE(h.Claim(AuthorityHarness::ClaimFor(grant, "refund-1")).ok());
  m = h.Metrics();
  CHECK(RequireSample(m, R"(cantdo_authority_grant_transitions_total{transition="claimed"})") == 1);
  CHECK(RequireSample(m, R"(cantdo_authority_credentials_live{kind="POSTGRES_ROLE"})") == 1);
  REQUIRE(h.Consume(grant.grant_id()).ok());
  // The spent grant presented again: refused, counted by reason.
  auto reuse = h.Claim(AuthorityHarness::ClaimFor(grant, "refund-1", 1200, "refund.issue", "key-2"));
  CHECK(cantdo::GetReason(reuse.status()) == "GRANT_ALREADY_CONSUMED");
  m = h.Metrics();
  CHECK(RequireSample(m, R"(cantdo_authority_grant_transitions_total{transition="claimed"})") == 1);
  CHECK(RequireSample(m, R"(cantdo_authority_grant_transitions_total{transition="consumed"})") == 1);
  CHECK(RequireSample(m, R"(cantdo_authority_credentials_live{kind="POSTGRES_ROLE"})") == 0);
  CHECK(RequireSample(
            m, R"(cantdo_authority_grant_denials_total{operation="claim",reason="GRANT_ALREADY_CONSUMED"})") == 1);
  CHECK(RequireSample(m, "cantdo_authority_grant_denials_max_per_principal") == 1);
  CHECK(RequireSample(m, "cantdo_authority_grant_denied_principals") == 1);

  // The counters say what the ledger says.
  CHECK(SumOfSamples(m, "cantdo_authority_decisions_total") == h.LedgerCount("DECISION"));
  CHECK(SumOfSamples(m, "cantdo_authority_grant_denials_total") == h.LedgerCount("GRANT_DENIED"));
  CHECK(RequireSample(m, R"(cantdo_authority_grant_transitions_total{transition="consumed"})") ==
        h.LedgerCount("GRANT_CONSUMED"));

  // Every call by method and code; latency for each.
  CHECK(RequireSample(m, Handled("RequestApproval", "OK")) == 2);
  CHECK(RequireSample(m, Handled("RequestApproval", "PERMISSION_DENIED")) == 1);
  CHECK(RequireSample(m, Handled("ClaimGrant", "OK")) == 1);
  CHECK(RequireSample(m, Handled("ClaimGrant", "PERMISSION_DENIED")) == 1);
  CHECK(RequireSample(m, Handled("ConsumeGrant", "OK")) == 1);
  CHECK(RequireSample(
            m, R"(cantdo_grpc_server_handling_seconds_count{grpc_service="cantdo.authority.v1.AuthorityService",)"
               R"(grpc_method="ClaimGrant"})") == 2);

  // The ledger chained and checkpointed in the background: nothing left
  // pending, the newest checkpoint covers every entry.
  REQUIRE(WaitUntil(
      [&] {
        m = h.Metrics();
        return RequireSample(m, "cantdo_authority_ledger_pending_entries") == 0 &&
               RequireSample(m, "cantdo_authority_ledger_checkpoint_entries") ==
                   RequireSample(m, "cantdo_authority_ledger_chained_entries");
      },
      absl::Seconds(20)));
  {
    auto conn = h.db.Connect();
    auto entries = conn->Exec("SELECT count(*) FROM cantdo.ledger");
    REQUIRE(entries.ok());
    CHECK(RequireSample(m, "cantdo_authority_ledger_chained_entries") == *entries->GetInt64(0, 0));
  }
  CHECK(RequireSample(m, "cantdo_authority_ledger_oldest_pending_age_seconds") == 0);
  CHECK(RequireSample(m, "cantdo_authority_ledger_uncheckpointed_oldest_age_seconds") == 0);
  CHECK(RequireSample(m, "cantdo_authority_ledger_checkpoint_age_seconds") >= 0);
  CHECK(RequireSample(m, "cantdo_authority_ledger_checkpoints_total") >= 1);
  CHECK(RequireSample(m, "cantdo_db_up") == 1);
  CHECK(RequireSample(m, "cantdo_service_ready") == 1);
  CHECK(RequireSample(m, "process_open_fds") > 0);

  cantdo::testing::CheckPromtoolClean(m);
}

TEST_CASE(
    "authority metrics: a principal refused again and again shows as the per-principal peak, and no "
    "principal is a label",
    "[integration][authority][metrics]") {
  AuthorityHarness h;
  for (int i = 0; i < 6; ++i) {
    cv1::Grant nothing;
    nothing.set_grant_id(cantdo::NewUuid());
    auto refused = h.Claim(AuthorityHarness::ClaimFor(nothing, "probe-" + std::to_string(i)));
    REQUIRE(cantdo::GetReason(refused.status()) == "GRANT_NOT_FOUND");
  }
  std::string m = h.Metrics();
  CHECK(RequireSample(m, "cantdo_authority_grant_denials_max_per_principal") == 6);
  CHECK(RequireSample(m, "cantdo_authority_grant_denied_principals") == 1);
  CHECK(RequireSample(m, R"(cantdo_authority_grant_denials_total{operation="claim",reason="GRANT_NOT_FOUND"})") == 6);
  CHECK(m.find("spiffe://cantdo/worker") == std::string::npos);
  // Five minutes later the burst is over.
  h.clock.Advance(absl::Minutes(5) + absl::Seconds(1));
  m = h.Metrics();
  CHECK(RequireSample(m, "cantdo_authority_grant_denials_max_per_principal") == 0);
  CHECK(RequireSample(m, R"(cantdo_authority_grant_denials_total{operation="claim",reason="GRANT_NOT_FOUND"})") == 6);
}

TEST_CASE("authority metrics: a call of a method that does not exist is counted as unknown, never by its name",
          "[integration][authority][metrics]") {
  AuthorityHarness h;
  auto channel = cantdo::grpc::MakeMtlsChannel(h.target, h.pki.Issue("worker"));
  for (const char* name : {"/cantdo.authority.v1.AuthorityService/NoSuchMethod", "/made.up.Service/Anything"}) {
    ::grpc::internal::RpcMethod method(name, ::grpc::internal::RpcMethod::NORMAL_RPC, channel);
    ::grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    google::protobuf::Empty req, resp;
    auto st = ::grpc::internal::BlockingUnaryCall(channel.get(), method, &ctx, req, &resp);
    CHECK(st.error_code() == ::grpc::StatusCode::UNIMPLEMENTED);
  }
  const std::string m = h.Metrics();
  CHECK(m.find("NoSuchMethod") == std::string::npos);
  CHECK(m.find("made.up") == std::string::npos);
  CHECK(RequireSample(m, R"(cantdo_grpc_server_handled_total{grpc_service="unknown",grpc_method="unknown",)"
                         R"(grpc_code="UNIMPLEMENTED"})") == 2);
}
