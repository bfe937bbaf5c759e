-- The ledger's one write path, and the service that acted.
--
-- Before: the authority's role held INSERT on every column of
-- cantdo.ledger and UPDATE on the three chain columns, so it could insert
-- an entry with any sequence and hash, or give a pending entry any
-- sequence: a row with sequence 10^9 broke verification for good (a gap
-- that no later entry can fill).
--
-- Now entries enter through one path:
--   1. a deciding transaction INSERTs the entry pending (V0006): its
--      content only. The authority's role holds INSERT on the content
--      columns alone, and a trigger refuses, even for the owner, an INSERT
--      that sets sequence, prev_hash or hash;
--   2. the chainer (services/authority/ledger.cpp, ChainPending) gives
--      pending entries their place: an UPDATE of the chain columns, which
--      V0007's trigger allows only on a pending entry whose content stays
--      as it was. A statement trigger now also checks that every entry the
--      UPDATE chained is the next link: sequence 1 with 64 zeros as
--      prev_hash, or a predecessor at sequence - 1 whose hash is its
--      prev_hash, and a hash of 64 lowercase hex digits. With the unique
--      index on sequence the chain therefore stays gapless from 1, whoever
--      writes. The hash itself is the chainer's: the database does not
--      recompute it, so a wrong one is what verification reports
--      (HASH_MISMATCH at that entry), never a gap.
--
-- acting_service: the certificate identity of the service whose call caused
-- the entry (e.g. spiffe://cantdo/gateway acting for platform:acme), next
-- to `actor`, the principal. Part of the hashed document when not empty
-- (docs/security.md); entries written before this migration have it empty,
-- so their hashes are unchanged.

ALTER TABLE cantdo.ledger ADD COLUMN acting_service text NOT NULL DEFAULT '';

-- V0007's trigger, with the new content column: it must name every
-- content column (tests/integration/authority/ledger_test.cpp changes each
-- column of the table in turn and fails if one gets through).
CREATE OR REPLACE FUNCTION cantdo.ledger_chain_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF OLD.sequence IS NULL AND NEW.sequence IS NOT NULL AND NEW.entry_id = OLD.entry_id
     AND (NEW.time_us, NEW.kind, NEW.actor, NEW.action, NEW.resource, NEW.parameters_hash, NEW.workflow_id,
          NEW.run_id, NEW.step, NEW.grant_id, NEW.approval_id, NEW.decision, NEW.reason, NEW.policy_version,
          NEW.policy_hash, NEW.detail, NEW.acting_service)
         IS NOT DISTINCT FROM
         (OLD.time_us, OLD.kind, OLD.actor, OLD.action, OLD.resource, OLD.parameters_hash, OLD.workflow_id,
          OLD.run_id, OLD.step, OLD.grant_id, OLD.approval_id, OLD.decision, OLD.reason, OLD.policy_version,
          OLD.policy_hash, OLD.detail, OLD.acting_service) THEN
    RETURN NEW;
  END IF;
  RAISE EXCEPTION 'the ledger is append-only: UPDATE refused (only a pending entry may be chained, once)'
    USING ERRCODE = 'insufficient_privilege';
END
$$;

-- 1. Entries enter pending.
CREATE FUNCTION cantdo.ledger_insert_pending() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF NEW.sequence IS NOT NULL OR NEW.prev_hash IS NOT NULL OR NEW.hash IS NOT NULL THEN
    RAISE EXCEPTION 'ledger entries are inserted pending: sequence, prev_hash and hash are the chainer''s'
      USING ERRCODE = 'insufficient_privilege';
  END IF;
  RETURN NEW;
END
$$;
CREATE TRIGGER ledger_insert_pending BEFORE INSERT ON cantdo.ledger
  FOR EACH ROW EXECUTE FUNCTION cantdo.ledger_insert_pending();

REVOKE INSERT ON cantdo.ledger FROM cantdo_authority;
GRANT INSERT (time_us, kind, actor, action, resource, parameters_hash, workflow_id, run_id, step, grant_id,
              approval_id, decision, reason, policy_version, policy_hash, detail, acting_service)
  ON cantdo.ledger TO cantdo_authority;

-- 2. Chaining adds the next link, nothing else. After the statement, so an
-- UPDATE that chains a batch is checked as a whole, whatever order its
-- rows were written in.
CREATE FUNCTION cantdo.ledger_next_link_only() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  bad record;
BEGIN
  SELECT n.entry_id, n.sequence INTO bad
    FROM chained n
    LEFT JOIN cantdo.ledger p ON p.sequence = n.sequence - 1
   WHERE n.hash !~ '^[0-9a-f]{64}$'
      OR (n.sequence = 1 AND n.prev_hash <> repeat('0', 64))
      OR (n.sequence > 1 AND p.hash IS DISTINCT FROM n.prev_hash)
   LIMIT 1;
  IF FOUND THEN
    RAISE EXCEPTION 'ledger entry % cannot take sequence %: it must follow the entry before it (sequence - 1, '
                    'its hash as prev_hash) and carry a lowercase hex SHA-256', bad.entry_id, bad.sequence
      USING ERRCODE = 'insufficient_privilege';
  END IF;
  RETURN NULL;
END
$$;
CREATE TRIGGER ledger_next_link_only AFTER UPDATE ON cantdo.ledger
  REFERENCING NEW TABLE AS chained
  FOR EACH STATEMENT EXECUTE FUNCTION cantdo.ledger_next_link_only();
