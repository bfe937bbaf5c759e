#include "authority/authority.hpp"

namespace cantdo::authority {

Authority::Authority(pg::Pool& pool, Clock& clock, const Policy& policy, const auth::JwtVerifier& verifier,
                     AuthorityOptions options, CredentialIssuer* postgres_credentials, CredentialIssuer* secrets,
                     DecisionSink* sink, BridgeStarter* bridge, AuthorityMetrics& metrics)
    : policy_(policy),
      approvals_(
          pool, clock, policy, verifier,
          ApprovalsOptions{options.issuer,
                           ApprovalVerifierOptions{options.require_auth_req_id_claim, options.approval_clock_skew},
                           options.ask_again},
          sink, bridge, metrics),
      grants_(pool, clock, GrantsOptions{options.credential_ttl, options.credential_orphan_grace}, postgres_credentials,
              secrets, metrics),
      sweeper_(pool, clock, approvals_, grants_, metrics) {}

}  // namespace cantdo::authority
