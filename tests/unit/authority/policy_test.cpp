// The policy: default deny, constraints, directory, binding messages, and
// that the policy we ship parses.
#include <catch2/catch.hpp>

#include <filesystem>

#include "authority/policy.hpp"
#include "cantdo/base/status.hpp"
#include "support/child_process.hpp"

using cantdo::GetReason;
using cantdo::authority::Policy;

namespace {

std::unique_ptr<Policy> Parse(const std::string& doc) {
  auto p = Policy::Parse(doc, absl::Now());
  INFO(p.status().ToString());
  REQUIRE(p.ok());
  return *std::move(p);
}

const char* kPolicy = R"({
  "version": "v1",
  "approvers": {"cfo": ["cfo1"]},
  "rules": [
    {"action": "access.revoke", "decision": "ALLOW"},
    {"action": "workflow.start", "resource": "customer_offboarding", "decision": "REQUIRE_APPROVAL", "required_role": "cfo"},
    {"action": "refund.issue", "decision": "REQUIRE_APPROVAL", "required_role": "cfo",
     "binding_message": "Refund {amount_cents} to {customer_id}",
     "constraints": [{"pointer": "/amount_cents", "required": true, "minimum": 1, "maximum": 1000}]}
  ]})";

}  // namespace

TEST_CASE("policy: unlisted actions and resources are denied", "[unit][authority]") {
  auto p = Parse(kPolicy);
  CHECK(p->Classify("access.revoke", "", nlohmann::json::object())->decision == cantdo::common::v1::DECISION_ALLOW);
  CHECK(GetReason(p->Classify("db.drop", "", {}).status()) == std::optional<std::string>("POLICY_ACTION_UNKNOWN"));
  CHECK(p->Classify("workflow.start", "customer_offboarding", {}).ok());
  CHECK(GetReason(p->Classify("workflow.start", "something_else", {}).status()) ==
        std::optional<std::string>("POLICY_ACTION_UNKNOWN"));
}

TEST_CASE("policy: parameter constraints", "[unit][authority]") {
  auto p = Parse(kPolicy);
  auto reason = [&](const nlohmann::json& params) { return GetReason(p->Classify("refund.issue", "", params).status()); };
  CHECK(p->Classify("refund.issue", "", {{"amount_cents", 1000}}).ok());
  CHECK(reason({{"amount_cents", 1001}}) == std::optional<std::string>("POLICY_PARAMETER_CONSTRAINT"));
  CHECK(reason({{"amount_cents", 0}}) == std::optional<std::string>("POLICY_PARAMETER_CONSTRAINT"));
  CHECK(reason({{"amount_cents", 10.5}}) == std::optional<std::string>("POLICY_PARAMETER_CONSTRAINT"));
  CHECK(reason({{"amount_cents", "100"}}) == std::optional<std::string>("POLICY_PARAMETER_CONSTRAINT"));
  CHECK(reason(nlohmann::json::object()) == std::optional<std::string>("POLICY_PARAMETER_CONSTRAINT"));
}

TEST_CASE("policy: binding messages fit Auth0's rule", "[unit][authority]") {
  auto p = Parse(kPolicy);
  const auto& rule = p->proto().rules(2);
  CHECK(Policy::BindingMessage(rule, {{"amount_cents", 1200}, {"customer_id", "cust-42"}}) == "Refund 1200 to cust-42");
  const std::string odd = Policy::BindingMessage(rule, {{"amount_cents", 1}, {"customer_id", "Zoë <script>"}});
  CHECK(odd.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789 +-_.,:#") == std::string::npos);
  CHECK(Policy::BindingMessage(rule, {{"amount_cents", 1}, {"customer_id", std::string(200, 'x')}}).size() == 64);
}

TEST_CASE("policy: documents that cannot work are refused at load", "[unit][authority]") {
  auto bad = [](const std::string& doc) { return Policy::Parse(doc, absl::Now()).status(); };
  CHECK_FALSE(bad("not json").ok());
  CHECK_FALSE(bad(R"({"rules": []})").ok());  // no version
  CHECK_FALSE(bad(R"({"version": "v", "rules": [{"action": "x", "decision": "MAYBE"}]})").ok());
  CHECK_FALSE(bad(R"({"version": "v", "rules": [{"action": "x", "decision": "REQUIRE_APPROVAL"}]})").ok());
  // A role nobody holds would block the action forever.
  CHECK_FALSE(bad(R"({"version": "v", "rules": [{"action": "x", "decision": "REQUIRE_APPROVAL", "required_role": "cfo"}]})").ok());
  CHECK_FALSE(bad(R"({"version": "v", "approvers": {"cfo": ["a"]}, "rules": [{"action": "x", "decision": "ALLOW", "grant_ttl": "soon"}]})").ok());
}

TEST_CASE("policy: the shipped deploy/policy.json is valid and covers the offboarding actions", "[unit][authority]") {
  const std::string path = cantdo::testing::SourceDir() + "/deploy/policy.json";
  auto p = Policy::LoadFile(path, absl::Now());
  INFO(p.status().ToString());
  REQUIRE(p.ok());
  for (const char* a : {"access.revoke", "billing.export", "subscriptions.cancel"}) {
    CHECK((*p)->Classify(a, "", {})->decision == cantdo::common::v1::DECISION_ALLOW);
  }
  CHECK((*p)->Classify("refund.issue", "", {{"amount_cents", 4200}, {"customer_id", "c"}})->rule->required_role() == "cfo");
  CHECK((*p)->Classify("customer_data.delete", "", {{"customer_id", "c"}})->rule->required_role() == "dpo");
  CHECK((*p)->Classify("workflow.start", "customer_offboarding", {{"customer_id", "c"}})->rule->required_role() ==
        "ops_manager");
}
