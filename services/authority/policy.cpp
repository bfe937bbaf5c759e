#include "authority/policy.hpp"

#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "cantdo/base/ids.hpp"
#include "cantdo/base/status.hpp"

namespace cantdo::authority {
namespace {

using common::v1::Decision;

absl::Status Bad(const std::string& where, const std::string& what) {
  return absl::InvalidArgumentError(absl::StrCat("policy: ", where, ": ", what));
}

absl::Status ParseDurationField(const nlohmann::json& j, const char* name, google::protobuf::Duration* out,
                                const std::string& where, absl::Duration fallback) {
  absl::Duration d = fallback;
  if (j.contains(name)) {
    if (!j[name].is_string() || !absl::ParseDuration(j[name].get<std::string>(), &d) || d <= absl::ZeroDuration()) {
      return Bad(where, absl::StrCat(name, " must be a positive duration like \"15m\" or \"72h\""));
    }
  }
  out->set_seconds(absl::ToInt64Seconds(d));
  return absl::OkStatus();
}

absl::Duration FromProto(const google::protobuf::Duration& d) { return absl::Seconds(d.seconds()); }

const nlohmann::json* Pointer(const nlohmann::json& doc, const std::string& pointer) {
  try {
    const nlohmann::json::json_pointer p(pointer);
    if (!doc.contains(p)) return nullptr;
    return &doc.at(p);
  } catch (const nlohmann::json::exception&) {
    return nullptr;
  }
}

absl::Status ParseRule(const nlohmann::json& r, std::size_t index, v1::PolicyRule* rule) {
  const std::string where = absl::StrCat("rules[", index, "]");
  if (!r.is_object()) return Bad(where, "must be an object");
  if (!r.contains("action") || !r["action"].is_string() || r["action"].get<std::string>().empty()) {
    return Bad(where, "needs an \"action\"");
  }
  rule->set_action(r["action"]);
  if (r.contains("resource")) rule->set_resource(r.value("resource", ""));
  const std::string decision = r.value("decision", "");
  if (decision == "ALLOW") {
    rule->set_decision(common::v1::DECISION_ALLOW);
  } else if (decision == "REQUIRE_APPROVAL") {
    rule->set_decision(common::v1::DECISION_REQUIRE_APPROVAL);
    rule->set_required_role(r.value("required_role", ""));
    if (rule->required_role().empty()) return Bad(where, "REQUIRE_APPROVAL needs a \"required_role\"");
  } else {
    return Bad(where, "\"decision\" must be ALLOW or REQUIRE_APPROVAL (anything unlisted is denied)");
  }
  rule->set_approvals_required(1);
  CANTDO_RETURN_IF_ERROR(ParseDurationField(r, "approval_timeout", rule->mutable_approval_timeout(), where, absl::Hours(72)));
  CANTDO_RETURN_IF_ERROR(ParseDurationField(r, "grant_ttl", rule->mutable_grant_ttl(), where, absl::Minutes(15)));
  rule->set_binding_message_template(r.value("binding_message", rule->action()));
  if (r.contains("credential")) {
    const auto& c = r["credential"];
    const std::string kind = c.value("kind", "");
    if (kind == "POSTGRES_ROLE") rule->set_credential_kind(common::v1::EXECUTION_CREDENTIAL_KIND_POSTGRES_ROLE);
    else if (kind == "STATIC_SECRET") rule->set_credential_kind(common::v1::EXECUTION_CREDENTIAL_KIND_STATIC_SECRET);
    else return Bad(where, "credential.kind must be POSTGRES_ROLE or STATIC_SECRET");
    rule->set_credential_target(c.value("target", ""));
    if (rule->credential_target().empty()) return Bad(where, "credential.target is required");
  }
  if (r.contains("constraints")) {
    if (!r["constraints"].is_array()) return Bad(where, "constraints must be an array");
    for (const auto& c : r["constraints"]) {
      auto* pc = rule->add_constraints();
      pc->set_pointer(c.value("pointer", ""));
      if (pc->pointer().empty() || pc->pointer()[0] != '/') return Bad(where, "a constraint needs a JSON \"pointer\" like \"/amount_cents\"");
      pc->set_required(c.value("required", false));
      if (c.contains("minimum")) pc->set_minimum(c["minimum"].get<double>());
      if (c.contains("maximum")) pc->set_maximum(c["maximum"].get<double>());
      if (c.contains("allowed_values")) {
        for (const auto& v : c["allowed_values"]) pc->add_allowed_values(v.get<std::string>());
      }
      const std::string effect = c.value("effect", "DENY");
      if (effect != "DENY") return Bad(where, "constraint effect must be DENY (dual control is not supported yet)");
      pc->set_effect(v1::CONSTRAINT_EFFECT_DENY);
    }
  }
  return absl::OkStatus();
}

absl::Status CheckConstraint(const v1::ParameterConstraint& c, const nlohmann::json& params) {
  const nlohmann::json* v = Pointer(params, c.pointer());
  auto refuse = [&](const std::string& why) {
    return WithMetadata(PermissionDenied("POLICY_PARAMETER_CONSTRAINT",
                                         absl::StrCat("parameter ", c.pointer(), " ", why)),
                        "parameter", c.pointer());
  };
  if (v == nullptr) return c.required() ? refuse("is required") : absl::OkStatus();
  if (c.has_minimum() || c.has_maximum()) {
    if (!v->is_number()) return refuse("must be a number");
    const double d = v->get<double>();
    if (d != static_cast<double>(static_cast<int64_t>(d))) return refuse("must be an integer (use minor units)");
    if (c.has_minimum() && d < c.minimum()) return refuse(absl::StrCat("must be at least ", c.minimum()));
    if (c.has_maximum() && d > c.maximum()) return refuse(absl::StrCat("must be at most ", c.maximum()));
  }
  if (c.allowed_values_size() > 0) {
    if (!v->is_string()) return refuse("must be a string");
    bool found = false;
    for (const auto& a : c.allowed_values()) found |= (a == v->get<std::string>());
    if (!found) return refuse("is not an allowed value");
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::unique_ptr<Policy>> Policy::Parse(const std::string& document, absl::Time load_time) {
  nlohmann::json doc = nlohmann::json::parse(document, nullptr, false);
  if (doc.is_discarded() || !doc.is_object()) return Bad("document", "is not a JSON object");
  auto p = std::unique_ptr<Policy>(new Policy());
  auto& proto = p->proto_;
  proto.set_version(doc.value("version", ""));
  if (proto.version().empty()) return Bad("version", "is required");
  proto.set_sha256(Sha256Hex(document));
  proto.set_document(document);
  proto.set_format("json");
  proto.set_role_claim(doc.value("role_claim", "https://cantdo.dev/roles"));
  proto.mutable_load_time()->set_seconds(absl::ToUnixSeconds(load_time));
  if (doc.contains("approvers")) {
    if (!doc["approvers"].is_object()) return Bad("approvers", "must map roles to lists of subjects");
    for (const auto& [role, subjects] : doc["approvers"].items()) {
      if (!subjects.is_array()) return Bad("approvers." + role, "must be a list of subjects");
      for (const auto& s : subjects) {
        if (!s.is_string() || s.get<std::string>().empty()) return Bad("approvers." + role, "subjects are strings");
        p->approvers_[role].push_back(s.get<std::string>());
      }
      proto.add_directory_roles(role);
    }
  }
  if (!doc.contains("rules") || !doc["rules"].is_array()) return Bad("rules", "must be an array");
  std::size_t i = 0;
  for (const auto& r : doc["rules"]) CANTDO_RETURN_IF_ERROR(ParseRule(r, i++, proto.add_rules()));
  for (const auto& rule : proto.rules()) {
    if (rule.decision() == common::v1::DECISION_REQUIRE_APPROVAL && p->approvers_[rule.required_role()].empty()) {
      return Bad("approvers", absl::StrCat("no approver for role '", rule.required_role(), "' (needed by ",
                                           rule.action(), ")"));
    }
  }
  return p;
}

absl::StatusOr<std::unique_ptr<Policy>> Policy::LoadFile(const std::string& path, absl::Time load_time) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat("policy: cannot open ", path));
  std::ostringstream s;
  s << in.rdbuf();
  return Parse(s.str(), load_time);
}

const v1::PolicyRule* Policy::RuleFor(const std::string& action, const std::string& resource) const {
  for (const auto& rule : proto_.rules()) {
    if (rule.action() == action && (rule.resource().empty() || rule.resource() == resource)) return &rule;
  }
  return nullptr;
}

absl::StatusOr<Classification> Policy::Classify(const std::string& action, const std::string& resource,
                                                const nlohmann::json& parameters) const {
  if (const v1::PolicyRule* rule = RuleFor(action, resource)) {
    for (const auto& c : rule->constraints()) CANTDO_RETURN_IF_ERROR(CheckConstraint(c, parameters));
    return Classification{rule, rule->decision(), FromProto(rule->approval_timeout()), FromProto(rule->grant_ttl())};
  }
  return WithMetadata(
      PermissionDenied("POLICY_ACTION_UNKNOWN",
                       absl::StrCat("no policy rule allows '", action, "'", resource.empty() ? "" : " on '",
                                    resource, resource.empty() ? "" : "'", " (default deny)")),
      "action", action);
}

const std::vector<std::string>& Policy::Approvers(const std::string& role) const {
  static const std::vector<std::string> kNone;
  auto it = approvers_.find(role);
  return it == approvers_.end() ? kNone : it->second;
}

std::string Policy::BindingMessage(const v1::PolicyRule& rule, const nlohmann::json& parameters) {
  std::string text = rule.binding_message_template();
  if (parameters.is_object()) {
    for (const auto& [k, v] : parameters.items()) {
      std::string value = v.is_string() ? v.get<std::string>() : v.dump();
      text = absl::StrReplaceAll(text, {{absl::StrCat("{", k, "}"), value}});
    }
  }
  std::string out;
  for (char c : text) {
    const bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                    std::string_view(" +-_.,:#").find(c) != std::string_view::npos;
    out.push_back(ok ? c : '-');
    if (out.size() == 64) break;
  }
  return out;
}

}  // namespace cantdo::authority
