#pragma once
// Who is calling the gateway, and in which roles (docs/api.md, "Callers").
//
// Two kinds of credentials:
//   - a client certificate, verified by TLS against the deployment CA; the
//     principal is "cert:<its spiffe:// URI SAN>" (cantdo/fields/principal.hpp:
//     never the bare SPIFFE id of an internal service, even for a
//     certificate that carries one); the callers file names it by the URI
//     SAN;
//   - `authorization: Bearer <JWT>`, an OAuth access token (client
//     credentials) or ID token of the configured identity provider, verified
//     with libs/auth (issuer, audience, algorithm allow-list, JWKS). The
//     principal is "platform:<client_id>" for a client's own token
//     (client_id claim, and sub absent or equal to it) and
//     "user:<iss>#<sub>" otherwise.
// When both are presented the bearer token decides the principal and the
// roles: the certificate then only protects the connection (e.g. a
// platform's egress proxy). A token that does not verify is refused even
// if the certificate would have been good: credentials are never silently
// ignored.
//
// Roles are the union of those in the token's role claim (bearer only) and
// those the callers file lists for the caller (by URI SAN for a
// certificate, by principal for a token).

#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <grpcpp/server_context.h>
#include <nlohmann/json.hpp>

#include "absl/status/statusor.h"
#include "cantdo/auth/jwt_verifier.hpp"

namespace cantdo::gateway {

enum class Role { kOperator, kAgentPlatform, kAuditor };

// "operator", "agent_platform", "auditor".
std::string RoleName(Role role);
std::optional<Role> ParseRole(const std::string& name);

struct Caller {
  // An external principal (cantdo/fields/principal.hpp): what the gateway
  // names in the authority's on_behalf_of.
  std::string principal;
  std::set<Role> roles;
  std::string credential;  // "certificate" or "bearer"
};

// caller -> roles, from the callers file, where a certificate caller is
// named by its URI SAN and a token caller by its principal:
//   {"callers": [{"principal": "spiffe://cantdo/operator", "roles": ["operator"]},
//                {"principal": "platform:acme", "roles": ["agent_platform"]}, ...]}
using CallerDirectory = std::map<std::string, std::set<Role>>;
absl::StatusOr<CallerDirectory> ParseCallers(const std::string& json_text);
absl::StatusOr<CallerDirectory> LoadCallersFile(const std::string& path);

// The principal a verified token names (see above).
std::string PrincipalFromClaims(const nlohmann::json& claims);
// Roles in `claim` (a JSON array of strings, or one space-separated string);
// unknown names are ignored.
std::set<Role> RolesFromClaims(const nlohmann::json& claims, const std::string& claim);

class CallerAuthenticator {
 public:
  // `verifier` may be null: bearer tokens are then refused. Both must
  // outlive the authenticator.
  CallerAuthenticator(const auth::JwtVerifier* verifier, std::string roles_claim, CallerDirectory directory)
      : verifier_(verifier), roles_claim_(std::move(roles_claim)), directory_(std::move(directory)) {}

  // UNAUTHENTICATED (CALLER_UNAUTHENTICATED, metadata `problem`) without
  // usable credentials; UNAVAILABLE (DEPENDENCY_UNAVAILABLE) when the JWKS
  // cannot be fetched.
  absl::StatusOr<Caller> Authenticate(const ::grpc::ServerContext& ctx) const;

  // The same from the call's parts: the certificate's SPIFFE id (empty when
  // none) and the `authorization` header values.
  absl::StatusOr<Caller> Authenticate(const std::string& spiffe_id,
                                      const std::vector<std::string>& authorization) const;

 private:
  const auth::JwtVerifier* verifier_;
  std::string roles_claim_;
  CallerDirectory directory_;
};

// OK if the caller has one of `allowed`; PERMISSION_DENIED
// (CALLER_ROLE_MISMATCH, metadata required_role, caller_roles) otherwise.
absl::Status RequireRole(const Caller& caller, const std::vector<Role>& allowed);

}  // namespace cantdo::gateway
