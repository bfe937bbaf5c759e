#pragma once
// The authority's policy: a versioned JSON document that classifies every
// action (docs/security.md shows the format; deploy/policy.json is the
// demo's). Anything not listed is denied.
//
//   {"version": "...", "role_claim": "https://cantdo.dev/roles",
//    "approvers": {"cfo": ["<subject at the IdP>", ...], ...},
//    "rules": [{"action": "refund.issue", "decision": "REQUIRE_APPROVAL",
//               "required_role": "cfo", "approval_timeout": "72h",
//               "grant_ttl": "15m", "binding_message": "Refund {amount_cents} to {customer_id}",
//               "credential": {"kind": "POSTGRES_ROLE", "target": "may_issue_refunds"},
//               "constraints": [{"pointer": "/amount_cents", "required": true,
//                                "minimum": 1, "maximum": 500000}]}, ...]}

#include <map>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "cantdo/authority/v1/authority_service.pb.h"

namespace cantdo::authority {

struct Classification {
  const v1::PolicyRule* rule = nullptr;  // nullptr never returned with OK
  common::v1::Decision decision = common::v1::DECISION_UNSPECIFIED;
  absl::Duration approval_timeout;
  absl::Duration grant_ttl;
};

class Policy {
 public:
  // INVALID_ARGUMENT naming the offending part of the document.
  static absl::StatusOr<std::unique_ptr<Policy>> Parse(const std::string& document, absl::Time load_time);
  static absl::StatusOr<std::unique_ptr<Policy>> LoadFile(const std::string& path, absl::Time load_time);

  // The rule that classifies (action, resource): the first whose action is
  // `action` and whose resource is empty or `resource`; nullptr if none.
  // Classify and everything else that needs "the rule for this action"
  // (the grant's lifetime and credential at minting) use this one lookup.
  const v1::PolicyRule* RuleFor(const std::string& action, const std::string& resource) const;

  // The rule for (action, resource) checked against `parameters`:
  // PERMISSION_DENIED with POLICY_ACTION_UNKNOWN (no rule: default deny) or
  // POLICY_PARAMETER_CONSTRAINT (naming the parameter).
  absl::StatusOr<Classification> Classify(const std::string& action, const std::string& resource,
                                          const nlohmann::json& parameters) const;

  // Subjects (at the identity provider) who may approve for `role`.
  const std::vector<std::string>& Approvers(const std::string& role) const;

  // The rule's binding message with {name} replaced by top-level parameter
  // values, reduced to what Auth0 accepts: at most 64 characters of
  // A-Za-z0-9 +-_.,:# (others become '-').
  static std::string BindingMessage(const v1::PolicyRule& rule, const nlohmann::json& parameters);

  const v1::Policy& proto() const { return proto_; }
  const std::string& version() const { return proto_.version(); }
  const std::string& hash() const { return proto_.sha256(); }
  const std::string& role_claim() const { return proto_.role_claim(); }

 private:
  v1::Policy proto_;
  std::map<std::string, std::vector<std::string>> approvers_;
};

}  // namespace cantdo::authority
