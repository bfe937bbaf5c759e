#include "gateway/caller.hpp"

#include <fstream>
#include <sstream>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "cantdo/base/status.hpp"
#include "cantdo/fields/principal.hpp"
#include "cantdo/grpc/peer_identity.hpp"

namespace cantdo::gateway {
namespace {

absl::Status Unauthenticated(const std::string& problem, const std::string& message) {
  return WithMetadata(WithReason(absl::UnauthenticatedError(message), "CALLER_UNAUTHENTICATED"), "problem", problem);
}

// ID_TOKEN_BAD_SIGNATURE -> "bad_signature".
std::string ProblemOf(const absl::Status& st) {
  std::string reason = GetReason(st).value_or("invalid");
  if (absl::StartsWith(reason, "ID_TOKEN_")) reason = reason.substr(9);
  return absl::AsciiStrToLower(reason);
}

}  // namespace

std::string RoleName(Role role) {
  switch (role) {
    case Role::kOperator:
      return "operator";
    case Role::kAgentPlatform:
      return "agent_platform";
    case Role::kAuditor:
      return "auditor";
  }
  return "";
}

std::optional<Role> ParseRole(const std::string& name) {
  if (name == "operator") return Role::kOperator;
  if (name == "agent_platform") return Role::kAgentPlatform;
  if (name == "auditor") return Role::kAuditor;
  return std::nullopt;
}

absl::StatusOr<CallerDirectory> ParseCallers(const std::string& json_text) {
  nlohmann::json j = nlohmann::json::parse(json_text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object() || !j.contains("callers") || !j["callers"].is_array()) {
    return InvalidArgument("callers-file", "must be a JSON object with a \"callers\" array");
  }
  CallerDirectory out;
  for (const auto& entry : j["callers"]) {
    if (!entry.is_object() || !entry.contains("principal") || !entry["principal"].is_string() ||
        !entry.contains("roles") || !entry["roles"].is_array()) {
      return InvalidArgument("callers-file", "each caller needs a \"principal\" string and a \"roles\" array");
    }
    const std::string principal = entry["principal"].get<std::string>();
    if (principal.empty()) return InvalidArgument("callers-file", "empty principal");
    for (const auto& r : entry["roles"]) {
      std::optional<Role> role = r.is_string() ? ParseRole(r.get<std::string>()) : std::nullopt;
      if (!role) {
        return InvalidArgument("callers-file", absl::StrCat("unknown role ", r.dump(), " for ", principal,
                                                            " (operator, agent_platform, auditor)"));
      }
      out[principal].insert(*role);
    }
  }
  return out;
}

absl::StatusOr<CallerDirectory> LoadCallersFile(const std::string& path) {
  std::ifstream in(path);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot read callers file ", path));
  std::stringstream ss;
  ss << in.rdbuf();
  return ParseCallers(ss.str());
}

std::string PrincipalFromClaims(const nlohmann::json& claims) {
  auto str = [&](const char* k) {
    return claims.contains(k) && claims[k].is_string() ? claims[k].get<std::string>() : std::string();
  };
  const std::string client_id = str("client_id");
  const std::string sub = str("sub");
  if (!client_id.empty() && (sub.empty() || sub == client_id)) return fields::PlatformPrincipal(client_id);
  return fields::UserPrincipal(str("iss"), sub);
}

std::set<Role> RolesFromClaims(const nlohmann::json& claims, const std::string& claim) {
  std::set<Role> out;
  if (claim.empty() || !claims.contains(claim)) return out;
  const auto& v = claims[claim];
  std::vector<std::string> names;
  if (v.is_array()) {
    for (const auto& e : v) {
      if (e.is_string()) names.push_back(e.get<std::string>());
    }
  } else if (v.is_string()) {
    names = absl::StrSplit(v.get<std::string>(), ' ', absl::SkipEmpty());
  }
  for (const auto& n : names) {
    if (auto r = ParseRole(n)) out.insert(*r);
  }
  return out;
}

absl::StatusOr<Caller> CallerAuthenticator::Authenticate(const ::grpc::ServerContext& ctx) const {
  std::vector<std::string> authorization;
  const auto& md = ctx.client_metadata();
  for (auto [it, end] = md.equal_range("authorization"); it != end; ++it) {
    authorization.emplace_back(it->second.data(), it->second.size());
  }
  auto peer = cantdo::grpc::PeerFromContext(ctx);
  return Authenticate(peer ? peer->spiffe_id : std::string(), authorization);
}

absl::StatusOr<Caller> CallerAuthenticator::Authenticate(const std::string& spiffe_id,
                                                         const std::vector<std::string>& authorization) const {
  Caller caller;
  // The callers file names certificate callers by their SPIFFE id, token
  // callers by their principal.
  std::string directory_key;
  if (!authorization.empty()) {
    if (authorization.size() > 1) return Unauthenticated("malformed", "more than one authorization header");
    const std::string& h = authorization[0];
    if (h.size() < 8 || !absl::EqualsIgnoreCase(h.substr(0, 7), "bearer ")) {
      return Unauthenticated("malformed", "authorization must be \"Bearer <token>\"");
    }
    if (verifier_ == nullptr) return Unauthenticated("not_accepted", "this gateway accepts no bearer tokens");
    auto verified = verifier_->Verify(absl::StripAsciiWhitespace(h.substr(7)));
    if (!verified.ok()) {
      if (verified.status().code() == absl::StatusCode::kUnavailable) return verified.status();
      return Unauthenticated(ProblemOf(verified.status()),
                             absl::StrCat("bearer token refused: ", verified.status().message()));
    }
    caller.principal = PrincipalFromClaims(verified->claims);
    caller.roles = RolesFromClaims(verified->claims, roles_claim_);
    caller.credential = "bearer";
    directory_key = caller.principal;
  } else if (!spiffe_id.empty()) {
    caller.principal = fields::CertificatePrincipal(spiffe_id);
    caller.credential = "certificate";
    directory_key = spiffe_id;
  } else {
    return Unauthenticated("missing", "present a client certificate or an authorization: Bearer token");
  }
  if (auto it = directory_.find(directory_key); it != directory_.end()) {
    caller.roles.insert(it->second.begin(), it->second.end());
  }
  return caller;
}

absl::Status RequireRole(const Caller& caller, const std::vector<Role>& allowed) {
  for (Role r : allowed) {
    if (caller.roles.count(r) > 0) return absl::OkStatus();
  }
  std::vector<std::string> want, have;
  for (Role r : allowed) want.push_back(RoleName(r));
  for (Role r : caller.roles) have.push_back(RoleName(r));
  absl::Status s = PermissionDenied("CALLER_ROLE_MISMATCH",
                                    absl::StrCat(caller.principal, " lacks the role ", absl::StrJoin(want, " or ")));
  s = WithMetadata(std::move(s), "required_role", absl::StrJoin(want, ","));
  return WithMetadata(std::move(s), "caller_roles", absl::StrJoin(have, ","));
}

}  // namespace cantdo::gateway
