#include "authority/policy.hpp"

#include <algorithm>
#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"
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

// Defaults of the "limits" section: numbers of human attention. An
// approver is asked at most 30 times an hour and has at most 20 requests
// pending; one principal opens at most 20 approvals an hour, so no single
// requester can use up an approver alone; 3 denials of one principal by
// one approver within a day keep that principal away from them for a day.
constexpr int64_t kDefaultRequesterRequests = 20;
constexpr absl::Duration kDefaultRequesterWindow = absl::Hours(1);
constexpr int64_t kDefaultApproverRequests = 30;
constexpr absl::Duration kDefaultApproverWindow = absl::Hours(1);
constexpr int64_t kDefaultApproverPending = 20;
constexpr int64_t kDefaultMaxDenials = 3;
constexpr absl::Duration kDefaultDenialWindow = absl::Hours(24);
constexpr absl::Duration kDefaultDenialCooldown = absl::Hours(24);
// Upper bounds that keep the limit queries (which read up to a limit's
// number of rows) cheap; a deployment needing more sets null: no limit.
constexpr int64_t kMaxRequestsLimit = 100000;
constexpr int64_t kMaxDenialsLimit = 100;

// `j` has only members named in `allowed` (a typo must not silently leave
// a limit at its default).
absl::Status OnlyKeys(const nlohmann::json& j, std::initializer_list<std::string_view> allowed,
                      const std::string& where) {
  if (!j.is_object()) return Bad(where, "must be an object");
  for (const auto& [key, value] : j.items()) {
    if (std::find(allowed.begin(), allowed.end(), key) == allowed.end()) {
      return Bad(where, "unknown member \"" + key + "\"");
    }
  }
  return absl::OkStatus();
}

// A limit's number: `fallback` when absent, 0 (no limit) when null.
absl::Status ParseCount(const nlohmann::json& j, const char* name, int64_t fallback, int64_t maximum,
                        const std::string& where, int64_t* out) {
  *out = fallback;
  if (!j.contains(name)) return absl::OkStatus();
  if (j[name].is_null()) {
    *out = 0;
    return absl::OkStatus();
  }
  if (!j[name].is_number_integer() || j[name].get<int64_t>() < 1 || j[name].get<int64_t>() > maximum) {
    return Bad(where, absl::StrCat(name, " must be an integer from 1 to ", maximum, ", or null for no limit"));
  }
  *out = j[name].get<int64_t>();
  return absl::OkStatus();
}

absl::Status ParseRateLimit(const nlohmann::json& limits, const char* name, int64_t requests, absl::Duration window,
                            std::initializer_list<std::string_view> members, v1::ApprovalRateLimit* out) {
  const std::string where = absl::StrCat("limits.", name);
  const nlohmann::json section = limits.value(name, nlohmann::json::object());
  CANTDO_RETURN_IF_ERROR(OnlyKeys(section, members, where));
  int64_t max_requests = 0;
  CANTDO_RETURN_IF_ERROR(ParseCount(section, "max_requests", requests, kMaxRequestsLimit, where, &max_requests));
  out->set_max_requests(max_requests);
  return ParseDurationField(section, "window", out->mutable_window(), where, window);
}

// The "limits" section (policy.hpp shows it), defaults for what is absent.
absl::Status ParseLimits(const nlohmann::json& doc, v1::ApprovalLimits* out) {
  const nlohmann::json limits = doc.value("limits", nlohmann::json::object());
  CANTDO_RETURN_IF_ERROR(OnlyKeys(limits, {"requester", "approver", "denials"}, "limits"));
  CANTDO_RETURN_IF_ERROR(ParseRateLimit(limits, "requester", kDefaultRequesterRequests, kDefaultRequesterWindow,
                                        {"max_requests", "window"}, out->mutable_requester()));
  CANTDO_RETURN_IF_ERROR(ParseRateLimit(limits, "approver", kDefaultApproverRequests, kDefaultApproverWindow,
                                        {"max_requests", "window", "max_pending"}, out->mutable_approver()));
  int64_t count = 0;
  CANTDO_RETURN_IF_ERROR(ParseCount(limits.value("approver", nlohmann::json::object()), "max_pending",
                                    kDefaultApproverPending, kMaxRequestsLimit, "limits.approver", &count));
  out->set_approver_max_pending(count);
  const nlohmann::json denials = limits.value("denials", nlohmann::json::object());
  CANTDO_RETURN_IF_ERROR(OnlyKeys(denials, {"max_denials", "window", "cooldown"}, "limits.denials"));
  CANTDO_RETURN_IF_ERROR(
      ParseCount(denials, "max_denials", kDefaultMaxDenials, kMaxDenialsLimit, "limits.denials", &count));
  out->set_max_denials(static_cast<int32_t>(count));
  CANTDO_RETURN_IF_ERROR(
      ParseDurationField(denials, "window", out->mutable_denial_window(), "limits.denials", kDefaultDenialWindow));
  return ParseDurationField(denials, "cooldown", out->mutable_denial_cooldown(), "limits.denials",
                            kDefaultDenialCooldown);
}

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
  CANTDO_RETURN_IF_ERROR(
      ParseDurationField(r, "approval_timeout", rule->mutable_approval_timeout(), where, absl::Hours(72)));
  CANTDO_RETURN_IF_ERROR(ParseDurationField(r, "grant_ttl", rule->mutable_grant_ttl(), where, absl::Minutes(15)));
  rule->set_binding_message_template(r.value("binding_message", rule->action()));
  if (r.contains("credential")) {
    const auto& c = r["credential"];
    const std::string kind = c.value("kind", "");
    if (kind == "POSTGRES_ROLE")
      rule->set_credential_kind(common::v1::EXECUTION_CREDENTIAL_KIND_POSTGRES_ROLE);
    else if (kind == "STATIC_SECRET")
      rule->set_credential_kind(common::v1::EXECUTION_CREDENTIAL_KIND_STATIC_SECRET);
    else
      return Bad(where, "credential.kind must be POSTGRES_ROLE or STATIC_SECRET");
    rule->set_credential_target(c.value("target", ""));
    if (rule->credential_target().empty()) return Bad(where, "credential.target is required");
  }
  if (r.contains("constraints")) {
    if (!r["constraints"].is_array()) return Bad(where, "constraints must be an array");
    for (const auto& c : r["constraints"]) {
      auto* pc = rule->add_constraints();
      pc->set_pointer(c.value("pointer", ""));
      if (pc->pointer().empty() || pc->pointer()[0] != '/')
        return Bad(where, "a constraint needs a JSON \"pointer\" like \"/amount_cents\"");
      pc->set_required(c.value("required", false));
      if (c.contains("minimum")) pc->set_minimum(c["minimum"].get<double>());
      if (c.contains("maximum")) pc->set_maximum(c["maximum"].get<double>());
      if (c.contains("allowed_values")) {
        for (const auto& v : c["allowed_values"]) pc->add_allowed_values(v.get<std::string>());
      }
      if (c.contains("pattern")) {
        if (!c["pattern"].is_string()) return Bad(where, "a constraint's pattern must be a string");
        pc->set_pattern(c["pattern"].get<std::string>());
        if (absl::Status st = DisplayPattern::Parse(pc->pattern()).status(); !st.ok()) {
          return Bad(where, std::string(st.message()));
        }
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
    return WithMetadata(
        PermissionDenied("POLICY_PARAMETER_CONSTRAINT", absl::StrCat("parameter ", c.pointer(), " ", why)), "parameter",
        c.pointer());
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
  if (!c.pattern().empty()) {
    if (!v->is_string()) return refuse("must be a string");
    // Parsed when the policy loaded, so this cannot fail.
    CANTDO_ASSIGN_OR_RETURN(DisplayPattern pattern, DisplayPattern::Parse(c.pattern()));
    if (!pattern.Matches(v->get<std::string>())) return refuse(absl::StrCat("does not match ", c.pattern()));
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
  for (const auto& r : doc["rules"]) {
    v1::PolicyRule* rule = proto.add_rules();
    CANTDO_RETURN_IF_ERROR(ParseRule(r, i, rule));
    std::optional<BindingTemplate> binding;
    if (rule->decision() == common::v1::DECISION_REQUIRE_APPROVAL) {
      absl::StatusOr<BindingTemplate> parsed =
          BindingTemplate::Parse(rule->binding_message_template(), rule->constraints());
      if (!parsed.ok()) return Bad(absl::StrCat("rules[", i, "]"), std::string(parsed.status().message()));
      binding = *std::move(parsed);
    }
    p->bindings_.push_back(std::move(binding));
    ++i;
  }
  for (const auto& rule : proto.rules()) {
    if (rule.decision() == common::v1::DECISION_REQUIRE_APPROVAL && p->approvers_[rule.required_role()].empty()) {
      return Bad("approvers",
                 absl::StrCat("no approver for role '", rule.required_role(), "' (needed by ", rule.action(), ")"));
    }
  }
  CANTDO_RETURN_IF_ERROR(ParseLimits(doc, proto.mutable_limits()));
  return p;
}

absl::StatusOr<std::unique_ptr<Policy>> Policy::LoadFile(const std::string& path, absl::Time load_time) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat("policy: cannot open ", path));
  std::ostringstream s;
  s << in.rdbuf();
  return Parse(s.str(), load_time);
}

int Policy::RuleIndex(const std::string& action, const std::string& resource) const {
  for (int i = 0; i < proto_.rules_size(); ++i) {
    const auto& rule = proto_.rules(i);
    if (rule.action() == action && (rule.resource().empty() || rule.resource() == resource)) return i;
  }
  return -1;
}

const v1::PolicyRule* Policy::RuleFor(const std::string& action, const std::string& resource) const {
  const int i = RuleIndex(action, resource);
  return i < 0 ? nullptr : &proto_.rules(i);
}

absl::StatusOr<Classification> Policy::Classify(const std::string& action, const std::string& resource,
                                                const nlohmann::json& parameters) const {
  if (const int i = RuleIndex(action, resource); i >= 0) {
    const v1::PolicyRule& rule = proto_.rules(i);
    for (const auto& c : rule.constraints()) CANTDO_RETURN_IF_ERROR(CheckConstraint(c, parameters));
    const auto& binding = bindings_[static_cast<std::size_t>(i)];
    return Classification{&rule, rule.decision(), FromProto(rule.approval_timeout()), FromProto(rule.grant_ttl()),
                          binding ? &*binding : nullptr};
  }
  return WithMetadata(
      PermissionDenied("POLICY_ACTION_UNKNOWN",
                       absl::StrCat("no policy rule allows '", action, "'", resource.empty() ? "" : " on '", resource,
                                    resource.empty() ? "" : "'", " (default deny)")),
      "action", action);
}

const std::vector<std::string>& Policy::Approvers(const std::string& role) const {
  static const std::vector<std::string> kNone;
  auto it = approvers_.find(role);
  return it == approvers_.end() ? kNone : it->second;
}

}  // namespace cantdo::authority
