// The policy: default deny, constraints, directory, binding messages,
// limits, and that the policy we ship parses.
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
     "constraints": [{"pointer": "/amount_cents", "required": true, "minimum": 1, "maximum": 1000},
                     {"pointer": "/customer_id", "required": true, "pattern": "^cust-[0-9]{1,8}$"}]}
  ]})";

// A policy with one REQUIRE_APPROVAL rule whose template and constraints
// are given, and whatever else `extra` adds at the top level.
std::string RuleDoc(const std::string& binding_message, const std::string& constraints, const std::string& extra = "") {
  return R"({"version": "v", "approvers": {"cfo": ["cfo1"]}, )" + extra +
         R"("rules": [{"action": "refund.issue", "decision": "REQUIRE_APPROVAL", "required_role": "cfo", )"
         R"("binding_message": ")" +
         binding_message + R"(", "constraints": [)" + constraints + "]}]}";
}

absl::Status Load(const std::string& doc) { return Policy::Parse(doc, absl::Now()).status(); }

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
  auto reason = [&](const nlohmann::json& amount) {
    return GetReason(p->Classify("refund.issue", "", {{"amount_cents", amount}, {"customer_id", "cust-1"}}).status());
  };
  CHECK(p->Classify("refund.issue", "", {{"amount_cents", 1000}, {"customer_id", "cust-1"}}).ok());
  CHECK(reason(1001) == std::optional<std::string>("POLICY_PARAMETER_CONSTRAINT"));
  CHECK(reason(0) == std::optional<std::string>("POLICY_PARAMETER_CONSTRAINT"));
  CHECK(reason(10.5) == std::optional<std::string>("POLICY_PARAMETER_CONSTRAINT"));
  CHECK(reason("100") == std::optional<std::string>("POLICY_PARAMETER_CONSTRAINT"));
  CHECK(GetReason(p->Classify("refund.issue", "", {{"customer_id", "cust-1"}}).status()) ==
        std::optional<std::string>("POLICY_PARAMETER_CONSTRAINT"));
}

TEST_CASE("policy: a pattern constraint refuses any other text", "[unit][authority]") {
  auto p = Parse(kPolicy);
  auto reason = [&](const nlohmann::json& params) {
    return GetReason(p->Classify("refund.issue", "", params).status());
  };
  CHECK(p->Classify("refund.issue", "", {{"amount_cents", 1}, {"customer_id", "cust-42"}}).ok());
  for (const nlohmann::json& lure : {nlohmann::json("cust-42 URGENT approve"), nlohmann::json("cust-"),
                                     nlohmann::json("cust-123456789"), nlohmann::json(42), nlohmann::json(nullptr)}) {
    INFO(lure.dump());
    CHECK(reason({{"amount_cents", 1}, {"customer_id", lure}}) ==
          std::optional<std::string>("POLICY_PARAMETER_CONSTRAINT"));
  }
}

TEST_CASE("policy: the binding message shows only checked parameters and the approval's code", "[unit][authority]") {
  auto p = Parse(kPolicy);
  const nlohmann::json params = {{"amount_cents", 900}, {"customer_id", "cust-42"}, {"note", "APPROVE"}};
  auto cls = p->Classify("refund.issue", "", params);
  INFO(cls.status().ToString());
  REQUIRE(cls.ok());
  REQUIRE(cls->binding != nullptr);
  auto message = cls->binding->Compose(params, "K7QM");
  REQUIRE(message.ok());
  CHECK(*message == "Refund 900 to cust-42 #K7QM");
  // A rule with no template shows its action.
  CHECK(*p->Classify("workflow.start", "customer_offboarding", {})->binding->Compose({}, "K7QM") ==
        "workflow.start #K7QM");
  CHECK(p->Classify("access.revoke", "", {})->binding == nullptr);
}

TEST_CASE("policy: a template that could show free text or too much does not load", "[unit][authority]") {
  const std::string amount = R"({"pointer": "/amount_cents", "required": true, "minimum": 1, "maximum": 1000})";
  const std::string customer = R"({"pointer": "/customer_id", "required": true, "pattern": "^cus_[0-9a-z]{1,24}$"})";
  CHECK(Load(RuleDoc("Refund {amount_cents} to {customer_id}", amount + "," + customer)).ok());
  // A parameter no constraint limits: its value could be anything.
  CHECK_FALSE(Load(RuleDoc("Refund {amount_cents} to {customer_id}", amount)).ok());
  // Limited but optional: the message would have a hole.
  CHECK_FALSE(
      Load(RuleDoc("Refund {amount_cents}", R"({"pointer": "/amount_cents", "minimum": 1, "maximum": 9})")).ok());
  // A lower bound alone does not bound the length.
  CHECK_FALSE(
      Load(RuleDoc("Refund {amount_cents}", R"({"pointer": "/amount_cents", "required": true, "minimum": 1})")).ok());
  // Allowed values are shown as they are: they must be displayable.
  CHECK(Load(RuleDoc("Refund in {currency}",
                     R"({"pointer": "/currency", "required": true, "allowed_values": ["EUR", "USD"]})"))
            .ok());
  CHECK_FALSE(Load(RuleDoc("Refund in {currency}",
                           R"({"pointer": "/currency", "required": true, "allowed_values": ["EUR", "€"]})"))
                  .ok());
  // A nested parameter cannot be shown; text outside the character set neither.
  CHECK_FALSE(Load(RuleDoc("Refund {a/b}", amount)).ok());
  CHECK_FALSE(Load(RuleDoc("Refund <b>{amount_cents}</b>", amount)).ok());
  CHECK_FALSE(Load(RuleDoc("Refund {amount_cents", amount)).ok());
  // 64 characters at most, the code's 6 included.
  CHECK(Load(RuleDoc(std::string(58, 'x'), amount)).ok());
  CHECK_FALSE(Load(RuleDoc(std::string(59, 'x'), amount)).ok());
  CHECK_FALSE(Load(RuleDoc(std::string(40, 'x') + " {customer_id}", customer)).ok());
  // Patterns that could match free text are refused wherever they are.
  CHECK_FALSE(Load(RuleDoc("x", R"({"pointer": "/note", "pattern": "^.*$"})")).ok());
  CHECK_FALSE(Load(RuleDoc("x", R"({"pointer": "/note", "pattern": "^[a-z]+$"})")).ok());
}

TEST_CASE("policy: limits default to human attention and are configurable", "[unit][authority]") {
  const auto policy = Parse(kPolicy);
  const auto& defaults = policy->limits();
  CHECK(defaults.requester().max_requests() == 20);
  CHECK(defaults.requester().window().seconds() == 3600);
  CHECK(defaults.approver().max_requests() == 30);
  CHECK(defaults.approver_max_pending() == 20);
  CHECK(defaults.max_denials() == 3);
  CHECK(defaults.denial_window().seconds() == 86400);
  CHECK(defaults.denial_cooldown().seconds() == 86400);

  const std::string amount = R"({"pointer": "/amount_cents", "required": true, "minimum": 1, "maximum": 1000})";
  auto set = Policy::Parse(RuleDoc("Refund {amount_cents}", amount,
                                   R"("limits": {"requester": {"max_requests": 5, "window": "10m"},
                                                 "approver": {"max_pending": 7},
                                                 "denials": {"max_denials": 2, "cooldown": "2h"}}, )"),
                           absl::Now());
  REQUIRE(set.ok());
  const auto& l = (*set)->limits();
  CHECK(l.requester().max_requests() == 5);
  CHECK(l.requester().window().seconds() == 600);
  CHECK(l.approver().max_requests() == 30);
  CHECK(l.approver_max_pending() == 7);
  CHECK(l.max_denials() == 2);
  CHECK(l.denial_window().seconds() == 86400);
  CHECK(l.denial_cooldown().seconds() == 7200);
  CHECK((*set)->proto().limits().approver_max_pending() == 7);  // GetPolicy shows them

  // null switches a limit off (0), explicitly.
  auto off =
      Policy::Parse(RuleDoc("Refund {amount_cents}", amount,
                            R"("limits": {"approver": {"max_pending": null}, "denials": {"max_denials": null}}, )"),
                    absl::Now());
  REQUIRE(off.ok());
  CHECK((*off)->limits().approver_max_pending() == 0);
  CHECK((*off)->limits().max_denials() == 0);
  CHECK((*off)->limits().requester().max_requests() == 20);

  // A typo or a nonsense value does not silently leave the default.
  for (const char* bad :
       {R"("limits": {"requester": {"max_request": 5}}, )", R"("limits": {"requestor": {}}, )",
        R"("limits": {"approver": {"max_pending": 0}}, )", R"("limits": {"denials": {"cooldown": "soon"}}, )",
        R"("limits": {"requester": {"max_requests": 2.5}}, )", R"("limits": [], )"}) {
    INFO(bad);
    CHECK_FALSE(Load(RuleDoc("Refund {amount_cents}", amount, bad)).ok());
  }
}

TEST_CASE("policy: documents that cannot work are refused at load", "[unit][authority]") {
  auto bad = [](const std::string& doc) { return Policy::Parse(doc, absl::Now()).status(); };
  CHECK_FALSE(bad("not json").ok());
  CHECK_FALSE(bad(R"({"rules": []})").ok());  // no version
  CHECK_FALSE(bad(R"({"version": "v", "rules": [{"action": "x", "decision": "MAYBE"}]})").ok());
  CHECK_FALSE(bad(R"({"version": "v", "rules": [{"action": "x", "decision": "REQUIRE_APPROVAL"}]})").ok());
  // A role nobody holds would block the action forever.
  CHECK_FALSE(
      bad(R"({"version": "v", "rules": [{"action": "x", "decision": "REQUIRE_APPROVAL", "required_role": "cfo"}]})")
          .ok());
  CHECK_FALSE(
      bad(R"({"version": "v", "approvers": {"cfo": ["a"]}, "rules": [{"action": "x", "decision": "ALLOW", "grant_ttl": "soon"}]})")
          .ok());
}

TEST_CASE("policy: the shipped deploy/policy.json is valid and covers the offboarding actions", "[unit][authority]") {
  const std::string path = cantdo::testing::SourceDir() + "/deploy/policy.json";
  auto p = Policy::LoadFile(path, absl::Now());
  INFO(p.status().ToString());
  REQUIRE(p.ok());
  for (const char* a : {"access.revoke", "billing.export", "subscriptions.cancel"}) {
    CHECK((*p)->Classify(a, "", {})->decision == cantdo::common::v1::DECISION_ALLOW);
  }
  const nlohmann::json customer = {{"customer_id", "cus_000042"}};
  const nlohmann::json refund = {{"amount_cents", 4200}, {"customer_id", "cus_000042"}};
  CHECK((*p)->Classify("refund.issue", "", refund)->rule->required_role() == "cfo");
  CHECK((*p)->Classify("customer_data.delete", "", customer)->rule->required_role() == "dpo");
  CHECK((*p)->Classify("workflow.start", "customer_offboarding", customer)->rule->required_role() == "ops_manager");
  // Every approval names its customer, and only a customer id.
  for (const char* action : {"customer_data.delete", "refund.issue"}) {
    CHECK(GetReason((*p)->Classify(action, "", {{"amount_cents", 1}, {"customer_id", "Call me"}}).status()) ==
          std::optional<std::string>("POLICY_PARAMETER_CONSTRAINT"));
  }
  CHECK(*(*p)->Classify("workflow.start", "customer_offboarding", customer)->binding->Compose(customer, "K7QM") ==
        "Start offboarding of cus_000042 #K7QM");
}

TEST_CASE("policy: the Kubernetes deployment's policy loads", "[unit][authority]") {
  auto p = Policy::LoadFile(cantdo::testing::SourceDir() + "/deploy/k8s/base/policy.json", absl::Now());
  INFO(p.status().ToString());
  CHECK(p.ok());
}
