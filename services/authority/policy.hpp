#pragma once
// The authority's policy: a versioned JSON document that classifies every
// action (docs/security.md shows the format; deploy/policy.json is the
// demo's). Anything not listed is denied.
//
//   {"version": "...", "role_claim": "https://cantdo.dev/roles",
//    "approvers": {"cfo": ["<subject at the IdP>", ...], ...},
//    "limits": {"requester": {"max_requests": 20, "window": "1h"},
//               "approver": {"max_requests": 30, "window": "1h", "max_pending": 20},
//               "denials": {"max_denials": 3, "window": "24h", "cooldown": "24h"}},
//    "rules": [{"action": "refund.issue", "decision": "REQUIRE_APPROVAL",
//               "required_role": "cfo", "approval_timeout": "72h",
//               "grant_ttl": "15m", "binding_message": "Refund {amount_cents} to {customer_id}",
//               "credential": {"kind": "POSTGRES_ROLE", "target": "may_issue_refunds"},
//               "constraints": [{"pointer": "/amount_cents", "required": true,
//                                "minimum": 1, "maximum": 500000},
//                               {"pointer": "/customer_id", "required": true,
//                                "pattern": "^cus_[0-9a-z]{1,24}$"}]}, ...]}
//
// "limits" (every member optional; the defaults are the values above)
// bounds how often approvers are asked and by whom: approval_limits.hpp,
// docs/security.md "Approval spam and approver fatigue". Unknown members
// are refused, so a typo cannot leave a limit at its default; null for
// max_requests, max_pending or max_denials switches that limit off (the
// benchmarks do; a deployment should not).
//
// A constraint's "pattern" is a display pattern (binding_message.hpp): a
// restricted regular expression whose matches can be shown to an
// approver. A REQUIRE_APPROVAL rule's "binding_message" (default: the
// action name) may show, as {name}, only top-level parameters that its
// constraints make required and displayable (an integer with minimum and
// maximum, allowed_values, or a pattern); its literal text is of
// A-Za-z0-9 +-_.,:# and the longest message, with " #" and the approval's
// 4-character code appended, fits in 64 characters. A document breaking
// any of this does not load.

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "authority/binding_message.hpp"
#include "cantdo/authority/v1/authority_service.pb.h"

namespace cantdo::authority {

struct Classification {
  const v1::PolicyRule* rule = nullptr;  // nullptr never returned with OK
  common::v1::Decision decision = common::v1::DECISION_UNSPECIFIED;
  absl::Duration approval_timeout;
  absl::Duration grant_ttl;
  // The rule's binding message; set for REQUIRE_APPROVAL. Lives as long as
  // the policy.
  const BindingTemplate* binding = nullptr;
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

  // The approval-spam limits, defaults applied.
  const v1::ApprovalLimits& limits() const { return proto_.limits(); }

  const v1::Policy& proto() const { return proto_; }
  const std::string& version() const { return proto_.version(); }
  const std::string& hash() const { return proto_.sha256(); }
  const std::string& role_claim() const { return proto_.role_claim(); }

 private:
  // The index of RuleFor's rule, or -1.
  int RuleIndex(const std::string& action, const std::string& resource) const;

  v1::Policy proto_;
  std::map<std::string, std::vector<std::string>> approvers_;
  // Per rule, in order: the binding message of a REQUIRE_APPROVAL rule.
  std::vector<std::optional<BindingTemplate>> bindings_;
};

}  // namespace cantdo::authority
