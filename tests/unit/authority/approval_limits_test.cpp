// The approval-spam limits as a pure decision: who counts, which limit
// refuses first, and when a cool-down starts and ends.
#include <catch2/catch.hpp>

#include "authority/approval_limits.hpp"
#include "cantdo/base/status.hpp"

using cantdo::GetMetadata;
using cantdo::GetReason;
using cantdo::authority::AccountablePrincipal;
using cantdo::authority::Caller;
using cantdo::authority::CheckLimits;
using cantdo::authority::CooldownEnd;
using cantdo::authority::LimitFacts;
namespace av1 = cantdo::authority::v1;

namespace {

const absl::Time kNow = absl::FromUnixSeconds(1'800'000'000);

av1::ApprovalLimits Limits() {
  av1::ApprovalLimits l;
  l.mutable_requester()->set_max_requests(10);
  l.mutable_requester()->mutable_window()->set_seconds(3600);
  l.mutable_approver()->set_max_requests(30);
  l.mutable_approver()->mutable_window()->set_seconds(3600);
  l.set_approver_max_pending(20);
  l.set_max_denials(3);
  l.mutable_denial_window()->set_seconds(86400);
  l.mutable_denial_cooldown()->set_seconds(86400);
  return l;
}

std::optional<std::string> Refusal(const LimitFacts& facts, absl::Time now = kNow) {
  absl::Status s = CheckLimits(Limits(), facts, now, "platform:spammer", "cfo");
  if (s.ok()) return std::nullopt;
  return GetReason(s).value_or("no reason");
}

}  // namespace

TEST_CASE("approval limits: the accountable principal is the one the gateway acts for, else the run's requester",
          "[unit][authority]") {
  CHECK(AccountablePrincipal(Caller{"spiffe://cantdo/gateway", "platform:acme"}, "user:crm#alice") == "platform:acme");
  CHECK(AccountablePrincipal(Caller{"spiffe://cantdo/worker", ""}, "spiffe://cantdo/operator") ==
        "spiffe://cantdo/operator");
  // Admission: the gateway asks for itself, for the operator starting a run.
  CHECK(AccountablePrincipal(Caller{"spiffe://cantdo/gateway", ""}, "user:idp#op") == "user:idp#op");
}

TEST_CASE("approval limits: nothing recent, nothing refused", "[unit][authority]") {
  CHECK(Refusal({}) == std::nullopt);
}

TEST_CASE("approval limits: a requester's rate limit, with the time until a slot frees", "[unit][authority]") {
  LimitFacts facts;
  facts.requester = {9, kNow - absl::Minutes(50)};
  CHECK(Refusal(facts) == std::nullopt);
  facts.requester = {10, kNow - absl::Minutes(50)};
  absl::Status s = CheckLimits(Limits(), facts, kNow, "platform:spammer", "cfo");
  CHECK(s.code() == absl::StatusCode::kResourceExhausted);
  CHECK(GetReason(s) == std::optional<std::string>("APPROVAL_REQUESTER_RATE_LIMITED"));
  auto meta = GetMetadata(s);
  CHECK(meta["accountable"] == "platform:spammer");
  CHECK(meta["limit"] == "10");
  CHECK(meta["window"] == "1h");
  CHECK(meta["retry_after_seconds"] == "600");
  // The oldest counted leaves the window: a slot is free again.
  CHECK(Refusal(facts, kNow + absl::Minutes(10)) == std::nullopt);
}

TEST_CASE("approval limits: the approver's queue and rate, whoever asks", "[unit][authority]") {
  LimitFacts facts;
  facts.approver_pending = 20;
  absl::Status full = CheckLimits(Limits(), facts, kNow, "platform:a", "cfo");
  CHECK(full.code() == absl::StatusCode::kResourceExhausted);
  CHECK(GetReason(full) == std::optional<std::string>("APPROVAL_APPROVER_QUEUE_FULL"));
  CHECK(GetMetadata(full)["required_role"] == "cfo");
  // The approver's subject is never in the answer.
  for (const auto& [key, value] : GetMetadata(full)) CHECK(key != "approver");

  facts.approver_pending = 19;
  facts.approver = {30, kNow - absl::Minutes(1)};
  CHECK(Refusal(facts) == std::optional<std::string>("APPROVAL_APPROVER_RATE_LIMITED"));
  facts.approver = {29, kNow - absl::Minutes(1)};
  CHECK(Refusal(facts) == std::nullopt);
}

TEST_CASE("approval limits: the cool-down comes first, then the requester, the queue, the approver's rate",
          "[unit][authority]") {
  LimitFacts facts;
  facts.requester = {10, kNow - absl::Minutes(1)};
  facts.approver = {30, kNow - absl::Minutes(1)};
  facts.approver_pending = 20;
  CHECK(Refusal(facts) == std::optional<std::string>("APPROVAL_REQUESTER_RATE_LIMITED"));
  facts.denials = {kNow - absl::Hours(3), kNow - absl::Hours(2), kNow - absl::Hours(1)};
  CHECK(Refusal(facts) == std::optional<std::string>("APPROVAL_DENIALS_COOLDOWN"));
  facts.requester = {};
  facts.denials.clear();
  CHECK(Refusal(facts) == std::optional<std::string>("APPROVAL_APPROVER_QUEUE_FULL"));
}

TEST_CASE("approval limits: three denials within the window start a cool-down from the last", "[unit][authority]") {
  const auto limits = Limits();
  const absl::Time t = kNow - absl::Hours(5);
  // Two denials are not enough.
  CHECK(CooldownEnd(limits, {t, t + absl::Hours(1)}) == absl::InfinitePast());
  // Three within 24 h: until the third + 24 h, in whatever order they come.
  const absl::Time end = CooldownEnd(limits, {t + absl::Hours(2), t, t + absl::Hours(1)});
  CHECK(end == t + absl::Hours(2) + absl::Hours(24));
  LimitFacts facts;
  facts.denials = {t, t + absl::Hours(1), t + absl::Hours(2)};
  absl::Status s = CheckLimits(limits, facts, kNow, "platform:spammer", "cfo");
  CHECK(s.code() == absl::StatusCode::kPermissionDenied);
  CHECK(GetReason(s) == std::optional<std::string>("APPROVAL_DENIALS_COOLDOWN"));
  auto meta = GetMetadata(s);
  CHECK(meta["accountable"] == "platform:spammer");
  CHECK(meta["required_role"] == "cfo");
  CHECK(meta["denials"] == "3");
  CHECK(meta["retry_after_seconds"] == std::to_string(absl::ToInt64Seconds(end - kNow)));
  // Over at the end, not a second before.
  CHECK(Refusal(facts, end - absl::Seconds(1)) == std::optional<std::string>("APPROVAL_DENIALS_COOLDOWN"));
  CHECK(Refusal(facts, end) == std::nullopt);
}

TEST_CASE("approval limits: denials spread wider than the window start nothing", "[unit][authority]") {
  const auto limits = Limits();
  const absl::Time t = kNow - absl::Hours(40);
  CHECK(CooldownEnd(limits, {t, t + absl::Hours(13), t + absl::Hours(26)}) == absl::InfinitePast());
  // Exactly the window still counts.
  CHECK(CooldownEnd(limits, {t, t + absl::Hours(12), t + absl::Hours(24)}) == t + absl::Hours(48));
}

TEST_CASE("approval limits: a later stray denial does not cut a running cool-down short", "[unit][authority]") {
  // Three denials close together, then a fourth (of a request opened
  // before the cool-down) long after: the cool-down of the three holds.
  auto limits = Limits();
  limits.mutable_denial_window()->set_seconds(3600);
  const absl::Time t = kNow - absl::Hours(10);
  const std::vector<absl::Time> denials = {t, t + absl::Minutes(10), t + absl::Minutes(20), t + absl::Hours(8)};
  CHECK(CooldownEnd(limits, denials) == t + absl::Minutes(20) + absl::Hours(24));
}

TEST_CASE("approval limits: a limit the policy switched off (0) refuses nothing", "[unit][authority]") {
  av1::ApprovalLimits off;  // every count 0
  LimitFacts facts;
  facts.requester = {1000, kNow};
  facts.approver = {1000, kNow};
  facts.approver_pending = 1000;
  facts.denials = {kNow - absl::Minutes(3), kNow - absl::Minutes(2), kNow - absl::Minutes(1)};
  CHECK(CheckLimits(off, facts, kNow, "platform:a", "cfo").ok());
  CHECK(CooldownEnd(off, facts.denials) == absl::InfinitePast());
}
