-- V0004: the ciba-bridge's pending and finished backchannel authentication
-- requests (issue #5). Only cantdo_bridge may touch them.
--
-- A row is the bridge's whole memory of one CIBA request: a restarted
-- bridge resumes every PENDING row, and rows whose result has not been
-- acknowledged by the authority are delivered again. Replicas share work
-- through a lease (lease_owner, lease_until): a row is processed only by the
-- replica whose lease is current, taken with FOR UPDATE SKIP LOCKED.
-- Scheduling times use the database clock, so replicas need not agree on
-- theirs.

CREATE TABLE cantdo.ciba_requests (
  id                         text PRIMARY KEY,                 -- bca_<uuid>
  approval_id                text NOT NULL,
  login_hint                 text NOT NULL,                    -- the approver's subject as given
  binding_message            text NOT NULL,
  scope                      text NOT NULL,
  requested_expiry_seconds   integer,
  acr_values                 text NOT NULL DEFAULT '',         -- space-separated
  authorization_details      text NOT NULL DEFAULT '',
  audience                   text NOT NULL DEFAULT '',
  delivery_mode              text NOT NULL CHECK (delivery_mode IN ('poll', 'ping')),
  state                      text NOT NULL DEFAULT 'PENDING'
                             CHECK (state IN ('PENDING', 'APPROVED', 'DENIED', 'EXPIRED', 'FAILED', 'CANCELLED')),
  auth_req_id                text UNIQUE,                      -- NULL until the provider answered
  -- SHA-256 (hex) of the ping client_notification_token; the token itself is
  -- never stored.
  notification_token_sha256  text,
  poll_interval_ms           integer NOT NULL,
  next_poll_at               timestamptz,                      -- when the next provider call is due
  attempts                   integer NOT NULL DEFAULT 0,       -- token-endpoint requests
  send_attempts              integer NOT NULL DEFAULT 0,       -- backchannel-endpoint requests
  transport_failures         integer NOT NULL DEFAULT 0,       -- consecutive, for backoff
  last_error                 text,
  last_error_description     text,
  last_error_http_status     integer,
  last_error_at              timestamptz,
  create_time                timestamptz NOT NULL DEFAULT now(),
  expire_time                timestamptz,
  finish_time                timestamptz,
  -- The result to deliver. id_token is the raw signed ID token, kept only
  -- until the authority acknowledged it (the authority keeps the evidence).
  outcome                    text CHECK (outcome IN ('APPROVED', 'DENIED', 'EXPIRED', 'ERROR')),
  id_token                   text,
  provider_error             text,
  provider_error_description text,
  receive_time               timestamptz,
  delivery_state             text NOT NULL DEFAULT 'none'
                             CHECK (delivery_state IN ('none', 'due', 'acknowledged', 'rejected', 'not_needed')),
  delivery_attempts          integer NOT NULL DEFAULT 0,
  next_delivery_at           timestamptz,
  delivery_error             text,
  cancel_reason              text,
  lease_owner                text,
  lease_until                timestamptz,
  UNIQUE (approval_id, login_hint)
);

-- The workers' scans: due polls and due deliveries.
CREATE INDEX ciba_requests_due_poll ON cantdo.ciba_requests (next_poll_at) WHERE state = 'PENDING';
CREATE INDEX ciba_requests_due_delivery ON cantdo.ciba_requests (next_delivery_at) WHERE delivery_state = 'due';

REVOKE ALL ON cantdo.ciba_requests FROM PUBLIC;
GRANT SELECT, INSERT, UPDATE ON cantdo.ciba_requests TO cantdo_bridge;
