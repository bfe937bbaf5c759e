-- V0013: asking an approver again (issue #20). A provider's CIBA request
-- can end without anyone deciding: its own maximum lifetime is shorter than
-- the approval's deadline (expired_token), or it forgot the request
-- (invalid_grant before the expiry: restarted without its state, or it
-- handed the tokens to a bridge that was killed before recording them).
-- Only a human's denial is a denial: the authority opens a new CIBA request
-- for the same approval (an "ask") while the approval's deadline allows.

-- The approval's current ask (1 = the first request). A new ask clears
-- auth_req_id and dispatch_time, and is due at next_dispatch_time.
ALTER TABLE cantdo.approvals
  ADD COLUMN ask integer NOT NULL DEFAULT 1 CHECK (ask >= 1);

-- The bridge keeps one row per ask; the authority's Start is idempotent per
-- (approval_id, login_hint, ask). LOST: invalid_grant before the expiry.
-- claims: the OpenID Connect `claims` request parameter, as sent.
ALTER TABLE cantdo.ciba_requests
  ADD COLUMN ask integer NOT NULL DEFAULT 1 CHECK (ask >= 1),
  ADD COLUMN claims text NOT NULL DEFAULT '',
  DROP CONSTRAINT ciba_requests_approval_id_login_hint_key,
  ADD CONSTRAINT ciba_requests_approval_ask_key UNIQUE (approval_id, login_hint, ask),
  DROP CONSTRAINT ciba_requests_state_check,
  ADD CONSTRAINT ciba_requests_state_check
    CHECK (state IN ('PENDING', 'APPROVED', 'DENIED', 'EXPIRED', 'LOST', 'FAILED', 'CANCELLED')),
  DROP CONSTRAINT ciba_requests_outcome_check,
  ADD CONSTRAINT ciba_requests_outcome_check CHECK (outcome IN ('APPROVED', 'DENIED', 'EXPIRED', 'LOST', 'ERROR'));
