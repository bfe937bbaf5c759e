-- pgbench baseline tables: bench.grants and bench.ledger have the columns and
-- indexes of cantdo.grants and cantdo.ledger (db/migrations/V0002), without
-- the foreign key to approvals, the ledger's triggers, or its hash chain: a
-- ledger row here is a plain INSERT with a sequence default.
DROP SCHEMA IF EXISTS bench CASCADE;
CREATE SCHEMA bench;
CREATE TABLE bench.grants (
  grant_id             uuid PRIMARY KEY,
  approval_id          uuid NOT NULL UNIQUE,
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
  claim_key_sha256     text,
  outcome_digest       text,
  revoke_reason        text,
  credential_kind      text NOT NULL DEFAULT '',
  credential_target    text NOT NULL DEFAULT '',
  credential_handle    text
);
CREATE INDEX grants_live ON bench.grants (expire_time) WHERE state IN ('ISSUED','CLAIMED');
CREATE INDEX grants_credentials ON bench.grants (grant_id) WHERE credential_handle IS NOT NULL;

CREATE TABLE bench.ledger (
  sequence             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  time_us              bigint NOT NULL,
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
  detail               text NOT NULL DEFAULT '{}',
  prev_hash            text NOT NULL,
  hash                 text NOT NULL
);
CREATE INDEX ledger_workflow ON bench.ledger (workflow_id, sequence) WHERE workflow_id <> '';
CREATE INDEX ledger_grant ON bench.ledger (grant_id, sequence) WHERE grant_id <> '';
CREATE INDEX ledger_approval ON bench.ledger (approval_id, sequence) WHERE approval_id <> '';
