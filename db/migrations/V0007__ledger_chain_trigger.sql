-- The chain-only trigger of V0006, without its cost.
--
-- V0006 compared an entry's content before and after an UPDATE as
-- to_jsonb(OLD) vs to_jsonb(NEW), which built two JSON documents per row:
-- two thirds of the time the chainer spent updating a batch of entries
-- (docs/benchmarks.md). This version compares the columns themselves.
-- It must name every content column: a migration that adds a column to
-- cantdo.ledger extends this list (tests/integration/authority/ledger_test.cpp
-- tries to change each column of the table and fails if one gets through).
CREATE OR REPLACE FUNCTION cantdo.ledger_chain_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF OLD.sequence IS NULL AND NEW.sequence IS NOT NULL AND NEW.entry_id = OLD.entry_id
     AND (NEW.time_us, NEW.kind, NEW.actor, NEW.action, NEW.resource, NEW.parameters_hash, NEW.workflow_id,
          NEW.run_id, NEW.step, NEW.grant_id, NEW.approval_id, NEW.decision, NEW.reason, NEW.policy_version,
          NEW.policy_hash, NEW.detail)
         IS NOT DISTINCT FROM
         (OLD.time_us, OLD.kind, OLD.actor, OLD.action, OLD.resource, OLD.parameters_hash, OLD.workflow_id,
          OLD.run_id, OLD.step, OLD.grant_id, OLD.approval_id, OLD.decision, OLD.reason, OLD.policy_version,
          OLD.policy_hash, OLD.detail) THEN
    RETURN NEW;
  END IF;
  RAISE EXCEPTION 'the ledger is append-only: UPDATE refused (only a pending entry may be chained, once)'
    USING ERRCODE = 'insufficient_privilege';
END
$$;
