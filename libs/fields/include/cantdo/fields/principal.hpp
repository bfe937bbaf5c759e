#pragma once
// The principals the gateway authenticates itself (external callers), the
// only ones it may name in the authority's `on_behalf_of`
// (docs/api.md, "Callers"):
//
//   platform:<client id>       an agent platform's own OAuth token
//   user:<issuer>#<subject>    a person's (or another client's) token
//   cert:<URI SAN>             a client certificate, e.g.
//                              cert:spiffe://cantdo/operator
//
// Internal services are named by their bare SPIFFE id
// (spiffe://cantdo/worker); the `cert:` prefix keeps a certificate caller of
// the public gateway from ever being mistaken for one, even when its
// certificate carries an internal service's id.

#include <cstddef>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace cantdo::fields {

inline constexpr absl::string_view kPlatformPrincipalPrefix = "platform:";
inline constexpr absl::string_view kUserPrincipalPrefix = "user:";
inline constexpr absl::string_view kCertificatePrincipalPrefix = "cert:";
inline constexpr std::size_t kMaxPrincipalLength = 512;

std::string PlatformPrincipal(absl::string_view client_id);
std::string UserPrincipal(absl::string_view issuer, absl::string_view subject);
std::string CertificatePrincipal(absl::string_view uri_san);

// OK if `principal` is one of the forms above with every part non-empty
// (an issuer without '#', a certificate's spiffe:// URI), at most 512 bytes
// and no control character. Otherwise PERMISSION_DENIED with reason
// PRINCIPAL_NOT_DELEGABLE and metadata field = `field`.
absl::Status RequireExternalPrincipal(absl::string_view principal, absl::string_view field);

}  // namespace cantdo::fields
