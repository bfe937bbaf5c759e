// The worker's and the authority's /metrics, scraped over HTTP (loopback)
// after a real offboarding run: the engine's counters and the authority's
// grant transitions moved by exactly what the run did, nothing is left
// waiting, and both expositions pass `promtool check metrics`.
#include "integration/worker/offboarding_harness.hpp"
#include "support/prometheus_checks.hpp"
#include "support/wait.hpp"

using cantdo::testing::CheckPromtoolClean;
using cantdo::testing::OffboardingHarness;
using cantdo::testing::RequireSample;
using cantdo::testing::WaitUntil;
namespace wv1 = cantdo::workflow::v1;

TEST_CASE(
    "worker metrics: an approved offboarding run moves the engine's counters and the authority's grant "
    "transitions, leaves nothing waiting, and both pass promtool",
    "[integration][worker][metrics]") {
  OffboardingHarness h;
  const std::string worker_before = OffboardingHarness::Metrics(*h.worker_service);
  CHECK(RequireSample(worker_before, "cantdo_worker_activities_started_total") == 0);
  CHECK(RequireSample(worker_before, R"(cantdo_worker_tasks_waiting{kind="workflow",task_queue="offboarding"})") == 0);
  CHECK(RequireSample(worker_before, R"(cantdo_build_info{service="worker",version="0.1.0"})") == 1);
  const std::string authority_before = OffboardingHarness::Metrics(*h.authority_service);
  CHECK(RequireSample(authority_before, R"(cantdo_authority_grant_transitions_total{transition="claimed"})") == 0);

  const std::string customer = cantdo::demo::CustomerId(3);
  h.Start("offb-metrics", customer);
  h.Approve(h.WaitApproval("offb-metrics", "issue_refund"), "cfo1", "cfo");
  h.Approve(h.WaitApproval("offb-metrics", "delete_customer_data"), "dpo1", "dpo");
  REQUIRE(h.WaitClosed("offb-metrics").state() == wv1::WORKFLOW_EXECUTION_STATE_COMPLETED);

  // The worker: five steps, each an activity attempt that succeeded first
  // time; workflow tasks ran; the queue is empty again.
  std::string w;
  REQUIRE(WaitUntil(
      [&] {
        w = OffboardingHarness::Metrics(*h.worker_service);
        return RequireSample(w, R"(cantdo_worker_tasks_waiting{kind="workflow",task_queue="offboarding"})") == 0 &&
               RequireSample(w, R"(cantdo_worker_tasks_waiting{kind="activity",task_queue="offboarding"})") == 0;
      },
      absl::Seconds(10)));
  CHECK(RequireSample(w, "cantdo_worker_activities_started_total") >= 5);
  CHECK(RequireSample(w, "cantdo_worker_workflow_tasks_total") >= 1);
  CHECK(RequireSample(w, "cantdo_worker_activity_retries_total") == 0);
  CHECK(RequireSample(w, "cantdo_worker_activity_lease_expiries_total") == 0);
  CHECK(RequireSample(
            w, R"(cantdo_worker_oldest_waiting_task_age_seconds{kind="activity",task_queue="offboarding"})") == 0);
  CHECK(RequireSample(w, "cantdo_db_up") == 1);
  CheckPromtoolClean(w);

  // The authority: the admission grant (claimed in one statement, the
  // fast path), the refund's and the erasure's (each releasing a login):
  // three grants issued, claimed, consumed; nothing refused; the low-risk
  // steps were ALLOWed.
  const std::string a = OffboardingHarness::Metrics(*h.authority_service);
  CHECK(RequireSample(a, R"(cantdo_authority_grant_transitions_total{transition="issued"})") == 3);
  CHECK(RequireSample(a, R"(cantdo_authority_grant_transitions_total{transition="claimed"})") == 3);
  CHECK(RequireSample(a, R"(cantdo_authority_grant_transitions_total{transition="consumed"})") == 3);
  CHECK(cantdo::testing::SumOfSamples(a, "cantdo_authority_grant_denials_total") == 0);
  CHECK(RequireSample(a, R"(cantdo_authority_decisions_total{action="access.revoke",decision="ALLOW"})") == 1);
  CHECK(RequireSample(a, R"(cantdo_authority_decisions_total{action="refund.issue",decision="REQUIRE_APPROVAL"})") ==
        1);
  CHECK(RequireSample(
            a, R"(cantdo_authority_approvals_decided_total{action="customer_data.delete",outcome="APPROVED"})") == 1);
  CHECK(RequireSample(a, R"(cantdo_authority_credentials_live{kind="POSTGRES_ROLE"})") == 0);
  CheckPromtoolClean(a);
}
