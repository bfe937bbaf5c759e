#pragma once
// Who is calling, as proven by the TLS handshake. gRPC has already verified
// the client certificate against the CA by the time a handler runs; this
// reads the identity out of it. The identity is the certificate's URI SAN
// (spiffe://cantdo/<name>), never a header the caller could set.

#include <optional>
#include <string>
#include <vector>

#include <grpcpp/server_context.h>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace cantdo::grpc {

struct PeerIdentity {
  std::string spiffe_id;              // the first spiffe:// URI SAN, or empty
  std::vector<std::string> uri_sans;  // all URI SANs
  std::string common_name;            // subject CN, informational only
};

// Identity from a PEM certificate (the peer's leaf).
absl::StatusOr<PeerIdentity> IdentityFromPem(const std::string& cert_pem);

// Identity of the verified client certificate of this call, or nullopt if
// the caller presented none.
std::optional<PeerIdentity> PeerFromContext(const ::grpc::ServerContextBase& ctx);

// OK if the caller's certificate names one of `allowed` SPIFFE ids;
// UNAUTHENTICATED (CALLER_UNAUTHENTICATED) without a certificate;
// PERMISSION_DENIED (CALLER_NOT_ALLOWED) for any other identity.
absl::Status RequirePeer(const ::grpc::ServerContextBase& ctx, const std::vector<std::string>& allowed);

// The SPIFFE id this project gives a service: "spiffe://cantdo/<service>".
std::string ServiceSpiffeId(const std::string& service);

}  // namespace cantdo::grpc
