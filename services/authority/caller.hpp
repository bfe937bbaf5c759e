#pragma once
// Who is asking the authority: the SPIFFE id of the verified client
// certificate and, for the gateway only, the external principal it acts for
// (authority_service decides which callers may name one).

#include <string>

namespace cantdo::authority {

struct Caller {
  std::string identity;
  std::string on_behalf_of;
  // Whom grants are issued to and whose approvals are looked up.
  const std::string& principal() const { return on_behalf_of.empty() ? identity : on_behalf_of; }
};

// SPIFFE ids of the callers the authority knows.
inline constexpr char kWorkerId[] = "spiffe://cantdo/worker";
inline constexpr char kGatewayId[] = "spiffe://cantdo/gateway";
inline constexpr char kBridgeId[] = "spiffe://cantdo/ciba-bridge";
inline constexpr char kAdminId[] = "spiffe://cantdo/admin";
// The authority's own identity, as the actor of what it does by itself
// (expiries, sweeps).
inline constexpr char kAuthorityId[] = "spiffe://cantdo/authority";

}  // namespace cantdo::authority
