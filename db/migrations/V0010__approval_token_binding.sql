-- V0010: an approver's ID token is bound to the CIBA request it answers
-- (issue 17, attack 3; docs/security.md, "Approvals are verified, never
-- believed").
--
-- dispatch_time: when the authority first asked the bridge to start this
-- approval's backchannel request. A token issued (iat, and auth_time where
-- present) earlier than that, less a small clock skew, was obtained for
-- something else and approves nothing. Set once, at the first dispatch
-- attempt (a later retry may return the request the first one started).
ALTER TABLE cantdo.approvals ADD COLUMN dispatch_time timestamptz;
-- Approvals dispatched before this migration: their creation time is the
-- earliest their request can have been sent.
UPDATE cantdo.approvals SET dispatch_time = create_time WHERE auth_req_id IS NOT NULL;

-- token_id: what tells one ID token from another where the provider says:
-- "jti:<jti>", else "auth_req_id:<the CIBA auth_req_id claim>", else NULL.
-- Such a token approves at most one request. A token with neither (Auth0,
-- oidc-provider in poll/ping mode) cannot be told apart from the identical
-- token the same approver got for another request in the same second, so
-- V0002's rule "one token hash approves one request" lost genuine
-- approvals; such a token approves another request only if that request
-- had been sent before the token first approved one (authority clock on
-- both sides), besides the subject, auth_req_id and dispatch-time checks.
ALTER TABLE cantdo.approval_results ADD COLUMN token_id text;
DROP INDEX cantdo.approval_results_token_once;
CREATE UNIQUE INDEX approval_results_token_id_once ON cantdo.approval_results (token_id)
  WHERE verified AND token_id IS NOT NULL;
-- A token without a token_id may approve another request only if that
-- request was already sent when the token first approved something (only
-- then can the provider have issued the identical token for it too).
CREATE INDEX approval_results_token_sha256 ON cantdo.approval_results (id_token_sha256) WHERE verified;
