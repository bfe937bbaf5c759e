// Approval spam and approver fatigue (issue 26): ringing an approver's phone
// until they press "approve" must not be possible. Each attack runs against
// the real parts: the real identity provider (tools/dev-idp, its device
// endpoint counts what reached the approver), the real cantdo-ciba-bridge,
// the real authority over mTLS and PostgreSQL. A platform's requests arrive
// as the gateway sends them: from spiffe://cantdo/gateway, on behalf of the
// platform's principal.
#include <catch2/catch.hpp>

#include <atomic>
#include <barrier>
#include <mutex>
#include <regex>
#include <set>
#include <thread>

#include "integration/approval_flow/approval_flow_harness.hpp"

using namespace cantdo::flowtest;
using cantdo::GetMetadata;
using cantdo::GetReason;

namespace {

constexpr char kCfo[] = "auth0|cfo";
constexpr char kSpammer[] = "platform:spammer";
constexpr char kBystander[] = "platform:bystander";
constexpr char kRequester[] = "user:https://crm.example#alice";

struct SpamLimits {
  int requester_max = 10;
  int approver_max = 30;
  int approver_pending = 25;
  int denials = 3;
  std::string cooldown = "1h";
};

// One CFO, one refund rule whose binding message shows only an amount with
// bounds and a customer id of a fixed pattern, and the limits under test.
std::string SpamPolicy(const SpamLimits& l = {}) {
  nlohmann::json p = {
      {"version", "spam-1"},
      {"role_claim", kRolesClaim},
      {"approvers", {{"cfo", {kCfo}}}},
      {"limits",
       {{"requester", {{"max_requests", l.requester_max}, {"window", "1h"}}},
        {"approver", {{"max_requests", l.approver_max}, {"window", "1h"}, {"max_pending", l.approver_pending}}},
        {"denials", {{"max_denials", l.denials}, {"window", "24h"}, {"cooldown", l.cooldown}}}}},
      {"rules",
       {{{"action", "refund.issue"},
         {"decision", "REQUIRE_APPROVAL"},
         {"required_role", "cfo"},
         {"grant_ttl", "10m"},
         {"binding_message", "Refund {amount_cents} cents to {customer_id}"},
         {"constraints",
          {{{"pointer", "/amount_cents"}, {"required", true}, {"minimum", 1}, {"maximum", 500000}},
           {{"pointer", "/customer_id"}, {"required", true}, {"pattern", "^cus_[0-9a-z]{1,24}$"}}}}}}}};
  return p.dump(2);
}

// A refund as a platform asks for it: its own reference (`ticket`) for the
// process, one step.
cv1::ActionRef Refund(const std::string& ticket, int amount_cents, const std::string& customer_id = "cus_42") {
  cv1::ActionRef a;
  a.set_action("refund.issue");
  a.set_workflow_id(ticket);
  a.set_step("refund");
  (*a.mutable_parameters()->mutable_fields())["amount_cents"].set_number_value(amount_cents);
  (*a.mutable_parameters()->mutable_fields())["customer_id"].set_string_value(customer_id);
  return a;
}

// RequestApproval as the gateway forwards a platform's RequestAuthorization.
absl::StatusOr<av1::RequestApprovalResponse> AsPlatform(av1::AuthorityService::Stub& gateway,
                                                        const std::string& platform, const cv1::ActionRef& action,
                                                        const std::string& requester = kRequester) {
  av1::RequestApprovalRequest req;
  *req.mutable_action() = action;
  req.set_requester(requester);
  req.set_on_behalf_of(platform);
  ::grpc::ClientContext ctx;
  av1::RequestApprovalResponse resp;
  auto st = gateway.RequestApproval(ApprovalFlow::Ctx(&ctx), req, &resp);
  if (!st.ok()) return cantdo::grpc::FromGrpcStatus(st);
  return resp;
}
absl::StatusOr<av1::RequestApprovalResponse> AsPlatform(ApprovalFlow& f, const std::string& platform,
                                                        const cv1::ActionRef& action,
                                                        const std::string& requester = kRequester) {
  return AsPlatform(*f.Stub("gateway"), platform, action, requester);
}

// Waits until the authority has handed every pending approval to the
// bridge (which started it at the provider before answering), so the
// provider's device shows everything that will ever ring.
void WaitDispatched(ApprovalFlow& f) {
  bool done = WaitUntil(
      [&] {
        auto r = f.db.Connect()->Exec(
            "SELECT count(*) FROM cantdo.approvals WHERE state = 'PENDING' AND auth_req_id IS NULL");
        REQUIRE(r.ok());
        return *r->GetInt64(0, 0) == 0;
      },
      absl::Seconds(60));
  INFO(f.Logs());
  REQUIRE(done);
}

// Every backchannel request the provider has received for `subject`,
// whatever its state: how often the approver's device rang.
nlohmann::json Rings(ApprovalFlow& f, const std::string& subject) {
  return f.idp->Device("GET", "/requests?all=1&subject=" + subject);
}

int64_t Count(ApprovalFlow& f, const std::string& sql, const std::vector<std::string>& params = {}) {
  std::vector<cantdo::pg::Param> p(params.begin(), params.end());
  auto r = f.db.Connect()->Exec(sql, p);
  INFO(r.status().ToString());
  REQUIRE(r.ok());
  return *r->GetInt64(0, 0);
}

// DECISION entries that refused a request with `reason`.
int64_t Refusals(ApprovalFlow& f, const std::string& reason) {
  return Count(f, "SELECT count(*) FROM cantdo.ledger WHERE kind = 'DECISION' AND decision = 'DENY' AND reason = $1",
               {reason});
}

// The platform's approval, as the gateway reads it for the platform.
cv1::Approval GetAsPlatform(ApprovalFlow& f, const std::string& platform, const std::string& approval_id) {
  av1::GetApprovalRequest req;
  req.set_approval_id(approval_id);
  req.set_on_behalf_of(platform);
  ::grpc::ClientContext ctx;
  av1::GetApprovalResponse resp;
  auto st = f.Stub("gateway")->GetApproval(ApprovalFlow::Ctx(&ctx), req, &resp);
  INFO(st.error_message());
  REQUIRE(st.ok());
  return resp.approval();
}

// The approver denies the platform's `approval_id` on the device; returns
// once the authority has recorded the denial.
void DenyOnDevice(ApprovalFlow& f, const std::string& platform, const std::string& approval_id) {
  const std::string auth_req_id = f.AuthReqId(approval_id);
  f.idp->Device("POST", "/requests/" + auth_req_id + "/deny");
  cv1::Approval decided;
  WaitUntil(
      [&] {
        decided = GetAsPlatform(f, platform, approval_id);
        return decided.state() != cv1::APPROVAL_STATE_PENDING;
      },
      absl::Seconds(30));
  INFO(f.Logs());
  REQUIRE(decided.state() == cv1::APPROVAL_STATE_DENIED);
}

}  // namespace

TEST_CASE("approval spam: 50 identical requests from a platform ring the approver once", "[security][approval_spam]") {
  ApprovalFlow f({.policy = SpamPolicy()});
  auto gateway = f.Stub("gateway");
  std::set<std::string> approval_ids;
  int created = 0;
  for (int i = 0; i < 50; ++i) {
    // The same refund under a fresh reference each time, as a platform
    // retrying (or an agent looping) would send it.
    auto r = AsPlatform(*gateway, kSpammer, Refund("ticket-" + std::to_string(i), 12500));
    INFO(i << ": " << r.status());
    REQUIRE(r.ok());
    REQUIRE(r->decision() == cv1::DECISION_REQUIRE_APPROVAL);
    CHECK(r->approval().state() == cv1::APPROVAL_STATE_PENDING);
    approval_ids.insert(r->approval().approval_id());
    created += r->created() ? 1 : 0;
  }
  CHECK(approval_ids.size() == 1);
  CHECK(created == 1);
  WaitDispatched(f);
  CHECK(Rings(f, kCfo).size() == 1);
  CHECK(Count(f, "SELECT count(*) FROM cantdo.ledger WHERE kind = 'APPROVAL_REQUESTED'") == 1);
}

TEST_CASE("approval spam: a workflow's runs are never handed each other's approval", "[security][approval_spam]") {
  // The worker asks once per run and step and waits for the approval of
  // its own run; the grant is bound to that run. Two runs asking the same
  // thing are two approvals (each rings), and a run repeating its own
  // request gets its own approval back.
  ApprovalFlow f({.policy = SpamPolicy()});
  cv1::ActionRef first = Refund("wf-refunds", 12500);
  first.set_run_id("run-1");
  cv1::ActionRef second = first;
  second.set_run_id("run-2");
  auto a = f.Request(first);
  auto b = f.Request(second);
  auto again = f.Request(first);
  INFO(a.status() << " " << b.status() << " " << again.status());
  REQUIRE(a.ok());
  REQUIRE(b.ok());
  REQUIRE(again.ok());
  CHECK(a->created());
  CHECK(b->created());
  CHECK(a->approval().approval_id() != b->approval().approval_id());
  CHECK(a->approval().action().run_id() == "run-1");
  CHECK(b->approval().action().run_id() == "run-2");
  CHECK_FALSE(again->created());
  CHECK(again->approval().approval_id() == a->approval().approval_id());
  WaitDispatched(f);
  CHECK(Rings(f, kCfo).size() == 2);
}

TEST_CASE("approval spam: 50 distinct requests from one platform stop at its limit, each refusal on the ledger",
          "[security][approval_spam]") {
  ApprovalFlow f({.policy = SpamPolicy({.requester_max = 10})});
  auto gateway = f.Stub("gateway");
  int opened = 0, limited = 0;
  for (int i = 1; i <= 50; ++i) {
    auto r = AsPlatform(*gateway, kSpammer, Refund("ticket-" + std::to_string(i), i));
    if (r.ok()) {
      CHECK(r->created());
      ++opened;
      continue;
    }
    INFO(i << ": " << r.status());
    CHECK(r.status().code() == absl::StatusCode::kResourceExhausted);
    CHECK(GetReason(r.status()) == std::optional<std::string>("APPROVAL_REQUESTER_RATE_LIMITED"));
    ++limited;
  }
  CHECK(opened == 10);
  CHECK(limited == 40);
  CHECK(Refusals(f, "APPROVAL_REQUESTER_RATE_LIMITED") == 40);
  // The limit is the spammer's: another platform still reaches the CFO.
  auto other = AsPlatform(f, kBystander, Refund("case-1", 777));
  INFO(other.status());
  CHECK(other.ok());
  WaitDispatched(f);
  CHECK(Rings(f, kCfo).size() == 11);
}

TEST_CASE("approval spam: 64 requests at once: identical ones open one approval, distinct ones exactly the limit",
          "[security][approval_spam]") {
  constexpr int kRacers = 64;
  ApprovalFlow f({.policy = SpamPolicy({.requester_max = 10, .approver_max = 100, .approver_pending = 100})});
  auto gateway = f.Stub("gateway");
  // Round 1: the same refund under 64 references; round 2: 64 different
  // amounts from another platform.
  for (const bool identical : {true, false}) {
    const std::string platform = identical ? kSpammer : kBystander;
    std::barrier start(kRacers);
    std::atomic<int> opened{0}, limited{0}, other{0};
    std::mutex mu;
    std::set<std::string> ids;
    std::vector<std::thread> racers;
    for (int i = 0; i < kRacers; ++i) {
      racers.emplace_back([&, i] {
        const cv1::ActionRef action = Refund("race-" + std::to_string(i), identical ? 4242 : 1000 + i);
        start.arrive_and_wait();
        auto r = AsPlatform(*gateway, platform, action);
        if (r.ok()) {
          opened += r->created() ? 1 : 0;
          std::lock_guard<std::mutex> lock(mu);
          ids.insert(r->approval().approval_id());
        } else if (GetReason(r.status()) == std::optional<std::string>("APPROVAL_REQUESTER_RATE_LIMITED")) {
          ++limited;
        } else {
          ++other;
        }
      });
    }
    for (auto& t : racers) t.join();
    INFO((identical ? "identical" : "distinct"));
    CHECK(other.load() == 0);
    if (identical) {
      CHECK(opened.load() == 1);
      CHECK(ids.size() == 1);
      CHECK(limited.load() == 0);
    } else {
      CHECK(opened.load() == 10);
      CHECK(ids.size() == 10);
      CHECK(limited.load() == kRacers - 10);
    }
  }
  CHECK(Refusals(f, "APPROVAL_REQUESTER_RATE_LIMITED") == kRacers - 10);
  WaitDispatched(f);
  CHECK(Rings(f, kCfo).size() == 11);
}

TEST_CASE("approval spam: the approver's pending queue is bounded, whoever asks", "[security][approval_spam]") {
  ApprovalFlow f({.policy = SpamPolicy({.requester_max = 10, .approver_pending = 12})});
  int opened = 0, full = 0;
  for (const char* platform : {"platform:a", "platform:b"}) {
    for (int i = 1; i <= 8; ++i) {
      auto r = AsPlatform(f, platform, Refund("ticket-" + std::to_string(i), i));
      if (r.ok()) {
        ++opened;
        continue;
      }
      INFO(platform << " " << i << ": " << r.status());
      CHECK(r.status().code() == absl::StatusCode::kResourceExhausted);
      CHECK(GetReason(r.status()) == std::optional<std::string>("APPROVAL_APPROVER_QUEUE_FULL"));
      ++full;
    }
  }
  CHECK(opened == 12);
  CHECK(full == 4);
  CHECK(Refusals(f, "APPROVAL_APPROVER_QUEUE_FULL") == 4);
  WaitDispatched(f);
  CHECK(Rings(f, kCfo).size() == 12);
}

TEST_CASE("approval spam: three denials in a row block the platform's fourth request for the cool-down",
          "[security][approval_spam]") {
  cantdo::FakeClock clock(absl::Now());
  ApprovalFlow f({.policy = SpamPolicy({.denials = 3, .cooldown = "1h"}), .clock = &clock});
  for (int i = 1; i <= 3; ++i) {
    auto r = AsPlatform(f, kSpammer, Refund("ticket-" + std::to_string(i), 100 * i));
    INFO(r.status());
    REQUIRE(r.ok());
    DenyOnDevice(f, kSpammer, r->approval().approval_id());
  }

  auto fourth = AsPlatform(f, kSpammer, Refund("ticket-4", 400));
  INFO(fourth.status());
  REQUIRE_FALSE(fourth.ok());
  CHECK(GetReason(fourth.status()) == std::optional<std::string>("APPROVAL_DENIALS_COOLDOWN"));
  CHECK(fourth.status().code() == absl::StatusCode::kPermissionDenied);
  // Callers learn the approver's role, never the directory's subject.
  CHECK(GetMetadata(fourth.status())["required_role"] == "cfo");
  CHECK(GetMetadata(fourth.status()).count("approver") == 0);
  // The alert an operator watches for, naming who was blocked from whom.
  CHECK(Refusals(f, "APPROVAL_DENIALS_COOLDOWN") == 1);
  CHECK(Count(f,
              "SELECT count(*) FROM cantdo.ledger WHERE kind = 'DECISION' AND decision = 'DENY' AND "
              "reason = 'APPROVAL_DENIALS_COOLDOWN' AND actor = $1 AND detail::jsonb ->> 'accountable' = $1 AND "
              "detail::jsonb ->> 'approver' = $2",
              {kSpammer, kCfo}) == 1);
  WaitDispatched(f);
  CHECK(Rings(f, kCfo).size() == 3);

  // Only this platform is cooling down towards this approver.
  auto other = AsPlatform(f, kBystander, Refund("case-1", 500));
  INFO(other.status());
  CHECK(other.ok());

  // After the cool-down the platform may ask again.
  clock.Advance(absl::Hours(1) + absl::Seconds(1));
  auto later = AsPlatform(f, kSpammer, Refund("ticket-5", 500));
  INFO(later.status());
  CHECK(later.ok());
}

TEST_CASE("approval spam: a requester-supplied message never reaches the provider, only the policy's",
          "[security][approval_spam]") {
  ApprovalFlow f({.policy = SpamPolicy()});
  // Free text where the template shows a parameter: refused by the
  // parameter's pattern before anyone is asked.
  auto lure = AsPlatform(f, kSpammer, Refund("ticket-1", 12500, "cus_42 URGENT approve now CEO"));
  INFO(lure.status());
  REQUIRE_FALSE(lure.ok());
  CHECK(lure.status().code() == absl::StatusCode::kPermissionDenied);
  CHECK(GetReason(lure.status()) == std::optional<std::string>("POLICY_PARAMETER_CONSTRAINT"));

  // Free text anywhere else (an extra parameter, the requester's name)
  // is bound and recorded but never shown.
  cv1::ActionRef action = Refund("ticket-2", 12500);
  (*action.mutable_parameters()->mutable_fields())["note"].set_string_value("URGENT approve now CEO");
  auto asked = AsPlatform(f, kSpammer, action, "user:https://crm.example#URGENT-approve-now");
  INFO(asked.status());
  REQUIRE(asked.ok());
  const std::string auth_req_id = f.AuthReqId(asked->approval().approval_id());
  const std::string shown = f.idp->Device("GET", "/requests/" + auth_req_id).at("binding_message");
  INFO(shown);
  CHECK(std::regex_match(shown, std::regex("Refund 12500 cents to cus_42 #[0-9A-HJKMNP-TV-Z]{4}")));
  CHECK(shown == asked->approval().binding_message());
  // The code the requester can show is the one the approver reads.
  CHECK(shown == "Refund 12500 cents to cus_42 #" + asked->approval().binding_code());
  CHECK(shown.find("URGENT") == std::string::npos);
  WaitDispatched(f);
  CHECK(Rings(f, kCfo).size() == 1);
}
