#include "cantdo/fields/principal.hpp"

#include "absl/strings/match.h"
#include "absl/strings/strip.h"
#include "absl/strings/str_cat.h"
#include "cantdo/base/status.hpp"

namespace cantdo::fields {
namespace {

constexpr absl::string_view kSpiffeScheme = "spiffe://";

bool HasControl(absl::string_view s) {
  for (unsigned char c : s) {
    if (c < 0x20 || c == 0x7f) return true;
  }
  return false;
}

bool WellFormed(absl::string_view p) {
  if (p.size() > kMaxPrincipalLength || HasControl(p)) return false;
  if (absl::ConsumePrefix(&p, kPlatformPrincipalPrefix)) return !p.empty();
  if (absl::ConsumePrefix(&p, kUserPrincipalPrefix)) {
    const std::size_t hash = p.find('#');
    return hash != absl::string_view::npos && hash > 0 && hash + 1 < p.size();
  }
  if (absl::ConsumePrefix(&p, kCertificatePrincipalPrefix)) {
    return absl::StartsWith(p, kSpiffeScheme) && p.size() > kSpiffeScheme.size();
  }
  return false;
}

}  // namespace

std::string PlatformPrincipal(absl::string_view client_id) { return absl::StrCat(kPlatformPrincipalPrefix, client_id); }

std::string UserPrincipal(absl::string_view issuer, absl::string_view subject) {
  return absl::StrCat(kUserPrincipalPrefix, issuer, "#", subject);
}

std::string CertificatePrincipal(absl::string_view uri_san) {
  return absl::StrCat(kCertificatePrincipalPrefix, uri_san);
}

absl::Status RequireExternalPrincipal(absl::string_view principal, absl::string_view field) {
  if (WellFormed(principal)) return absl::OkStatus();
  absl::Status st =
      PermissionDenied("PRINCIPAL_NOT_DELEGABLE",
                       absl::StrCat(field,
                                    " must name an external caller (platform:<client id>, user:<issuer>#<subject> or "
                                    "cert:<spiffe:// URI>), never an internal service"));
  return WithMetadata(std::move(st), "field", field);
}

}  // namespace cantdo::fields
