-- V0002: the authority's tables: approvals, their evidence, one-shot grants,
-- static secrets, and the append-only, hash-chained ledger.
-- docs/security.md explains the model; docs/database.md the roles.

-- One approval request per (principal, workflow, run, step, action).
CREATE TABLE cantdo.approvals (
  approval_id          uuid PRIMARY KEY,
  principal            text NOT NULL,   -- who may claim the resulting grant
  requester            text NOT NULL,   -- on whose behalf; never the approver
  workflow_id          text NOT NULL DEFAULT '',
  run_id               text NOT NULL DEFAULT '',
  step                 text NOT NULL DEFAULT '',
  action               text NOT NULL,
  resource             text NOT NULL DEFAULT '',
  parameters           text NOT NULL,   -- RFC 8785 canonical JSON
  parameters_hash      text NOT NULL,   -- lowercase hex SHA-256 of parameters
  state                text NOT NULL CHECK (state IN ('PENDING','APPROVED','DENIED','EXPIRED','CANCELLED','INVALID')),
  state_reason         text NOT NULL DEFAULT '',
  state_message        text NOT NULL DEFAULT '',
  required_role        text NOT NULL,
  approver_subject     text NOT NULL,   -- the approver asked (login_hint)
  binding_message      text NOT NULL,
  policy_version       text NOT NULL,
  policy_hash          text NOT NULL,
  create_time          timestamptz NOT NULL,
  decide_time          timestamptz,
  expire_time          timestamptz NOT NULL,
  -- Outbox towards the ciba-bridge: the request is started by a dispatcher
  -- that retries until the bridge acknowledges with an auth_req_id.
  auth_req_id          text,
  dispatch_attempts    integer NOT NULL DEFAULT 0,
  next_dispatch_time   timestamptz,
  grant_id             uuid,
  UNIQUE (principal, workflow_id, run_id, step, action)
);
CREATE INDEX approvals_dispatch ON cantdo.approvals (next_dispatch_time)
  WHERE state = 'PENDING' AND auth_req_id IS NULL;
CREATE INDEX approvals_expiry ON cantdo.approvals (expire_time) WHERE state = 'PENDING';

-- Every result the bridge delivered, verified or not, with the raw signed
-- ID token as evidence (non-repudiation). Insert-only for the authority.
CREATE TABLE cantdo.approval_results (
  approval_id          uuid NOT NULL REFERENCES cantdo.approvals,
  auth_req_id          text NOT NULL,
  outcome              text NOT NULL,
  id_token             text,
  id_token_sha256      text,
  subject              text,
  verified             boolean NOT NULL,
  reason               text NOT NULL DEFAULT '',
  message              text NOT NULL DEFAULT '',
  receive_time         timestamptz NOT NULL,
  PRIMARY KEY (approval_id, auth_req_id)
);
-- An ID token approves at most one request, even from providers that do
-- not put the CIBA auth_req_id claim in it.
CREATE UNIQUE INDEX approval_results_token_once ON cantdo.approval_results (id_token_sha256) WHERE verified;

-- One-shot grants: ISSUED -> CLAIMED -> CONSUMED (or REVOKED / EXPIRED).
CREATE TABLE cantdo.grants (
  grant_id             uuid PRIMARY KEY,
  approval_id          uuid NOT NULL UNIQUE REFERENCES cantdo.approvals,
  state                text NOT NULL CHECK (state IN ('ISSUED','CLAIMED','CONSUMED','REVOKED','EXPIRED')),
  workflow_id          text NOT NULL,
  run_id               text NOT NULL,
  step                 text NOT NULL,
  action               text NOT NULL,
  resource             text NOT NULL,
  parameters_hash      text NOT NULL,
  approver_subjects    text[] NOT NULL,
  policy_version       text NOT NULL,
  policy_hash          text NOT NULL,
  principal            text NOT NULL,
  issue_time           timestamptz NOT NULL,
  expire_time          timestamptz NOT NULL,
  claim_time           timestamptz,
  consume_time         timestamptz,
  revoke_time          timestamptz,
  claim_key_sha256     text,            -- hash of the claimer's idempotency key
  outcome_digest       text,
  revoke_reason        text,
  credential_kind      text NOT NULL DEFAULT '',
  credential_target    text NOT NULL DEFAULT '',
  -- The live credential's handle (e.g. the short-lived role's name) while
  -- one exists; cleared once it is destroyed.
  credential_handle    text
);
CREATE INDEX grants_live ON cantdo.grants (expire_time) WHERE state IN ('ISSUED','CLAIMED');
CREATE INDEX grants_credentials ON cantdo.grants (grant_id) WHERE credential_handle IS NOT NULL;

-- Static secrets for HTTP targets, AES-256-GCM encrypted at rest; released
-- only inside a claim response.
CREATE TABLE cantdo.secrets (
  name                 text NOT NULL,
  version              bigint NOT NULL,
  nonce                bytea NOT NULL,
  ciphertext           bytea NOT NULL,   -- includes the GCM tag
  create_time          timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (name, version)
);

-- The ledger. Sequenced without gaps (appends serialise on an advisory
-- lock), each entry carrying the previous entry's hash and its own hash over
-- the RFC 8785 encoding documented in docs/security.md.
CREATE TABLE cantdo.ledger (
  sequence             bigint PRIMARY KEY CHECK (sequence >= 1),
  time_us              bigint NOT NULL,  -- Unix microseconds
  kind                 text NOT NULL,
  actor                text NOT NULL,
  action               text NOT NULL DEFAULT '',
  resource             text NOT NULL DEFAULT '',
  parameters_hash      text NOT NULL DEFAULT '',
  workflow_id          text NOT NULL DEFAULT '',
  run_id               text NOT NULL DEFAULT '',
  step                 text NOT NULL DEFAULT '',
  grant_id             text NOT NULL DEFAULT '',
  approval_id          text NOT NULL DEFAULT '',
  decision             text NOT NULL DEFAULT '',
  reason               text NOT NULL DEFAULT '',
  policy_version       text NOT NULL DEFAULT '',
  policy_hash          text NOT NULL DEFAULT '',
  detail               text NOT NULL DEFAULT '{}',  -- canonical JSON
  prev_hash            text NOT NULL,
  hash                 text NOT NULL
);
CREATE INDEX ledger_workflow ON cantdo.ledger (workflow_id, sequence) WHERE workflow_id <> '';
CREATE INDEX ledger_grant ON cantdo.ledger (grant_id, sequence) WHERE grant_id <> '';
CREATE INDEX ledger_approval ON cantdo.ledger (approval_id, sequence) WHERE approval_id <> '';

-- Append-only, whoever asks: no role is granted UPDATE, DELETE or TRUNCATE,
-- and these triggers refuse them even for the owner.
CREATE FUNCTION cantdo.ledger_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'the ledger is append-only: % refused', TG_OP
    USING ERRCODE = 'insufficient_privilege';
END
$$;
CREATE TRIGGER ledger_no_update_delete BEFORE UPDATE OR DELETE ON cantdo.ledger
  FOR EACH ROW EXECUTE FUNCTION cantdo.ledger_refuse_change();
CREATE TRIGGER ledger_no_truncate BEFORE TRUNCATE ON cantdo.ledger
  FOR EACH STATEMENT EXECUTE FUNCTION cantdo.ledger_refuse_change();

REVOKE ALL ON cantdo.approvals, cantdo.approval_results, cantdo.grants, cantdo.secrets, cantdo.ledger FROM PUBLIC;
GRANT SELECT, INSERT, UPDATE ON cantdo.approvals, cantdo.grants TO cantdo_authority;
GRANT SELECT, INSERT ON cantdo.approval_results, cantdo.secrets, cantdo.ledger TO cantdo_authority;
-- The gateway serves the ledger to auditors.
GRANT SELECT ON cantdo.ledger TO cantdo_gateway;
