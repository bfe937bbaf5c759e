-- The ledger without a global lock on the decision path.
--
-- Before: every deciding transaction took an advisory lock, read the head
-- and inserted the next chained entry; the lock was held until COMMIT, so
-- deciding transactions could never share a WAL flush (docs/benchmarks.md).
--
-- Now a deciding transaction only INSERTs its entry, *pending*: content
-- complete, sequence/prev_hash/hash NULL. A chainer (the authority's
-- background loop, and every ledger read first) takes the advisory lock in a
-- short transaction of its own, and gives the pending entries, in entry_id
-- order, the next sequences and their hashes. Readers (List, Verify, the
-- offline tool) see chained entries only.
--
-- What keeps the ledger append-only:
--   - no role may DELETE or TRUNCATE (triggers, even for the owner);
--   - UPDATE is allowed for one thing only, chaining a pending entry once:
--     a trigger refuses any UPDATE of a chained entry and any UPDATE that
--     changes an entry's content; the authority's role holds UPDATE on the
--     three chain columns only.
-- So a pending entry cannot be removed or edited by the service either; it
-- is unhashed for at most one chainer interval, the same exposure to a
-- superuser as any entry before it is anchored outside the database.

ALTER TABLE cantdo.ledger DROP CONSTRAINT ledger_pkey;
ALTER TABLE cantdo.ledger ADD COLUMN entry_id bigint GENERATED ALWAYS AS IDENTITY;
ALTER TABLE cantdo.ledger ADD PRIMARY KEY (entry_id);
ALTER TABLE cantdo.ledger
  ALTER COLUMN sequence DROP NOT NULL,
  ALTER COLUMN prev_hash DROP NOT NULL,
  ALTER COLUMN hash DROP NOT NULL,
  ADD CONSTRAINT ledger_chained_all_or_nothing
    CHECK ((sequence IS NULL) = (prev_hash IS NULL) AND (sequence IS NULL) = (hash IS NULL));
CREATE UNIQUE INDEX ledger_sequence ON cantdo.ledger (sequence);
CREATE INDEX ledger_pending ON cantdo.ledger (entry_id) WHERE sequence IS NULL;

DROP TRIGGER ledger_no_update_delete ON cantdo.ledger;
CREATE TRIGGER ledger_no_delete BEFORE DELETE ON cantdo.ledger
  FOR EACH ROW EXECUTE FUNCTION cantdo.ledger_refuse_change();

CREATE FUNCTION cantdo.ledger_chain_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF OLD.sequence IS NULL AND NEW.sequence IS NOT NULL
     AND (to_jsonb(NEW) - 'sequence' - 'prev_hash' - 'hash') = (to_jsonb(OLD) - 'sequence' - 'prev_hash' - 'hash') THEN
    RETURN NEW;
  END IF;
  RAISE EXCEPTION 'the ledger is append-only: UPDATE refused (only a pending entry may be chained, once)'
    USING ERRCODE = 'insufficient_privilege';
END
$$;
CREATE TRIGGER ledger_chain_only BEFORE UPDATE ON cantdo.ledger
  FOR EACH ROW EXECUTE FUNCTION cantdo.ledger_chain_only();

GRANT UPDATE (sequence, prev_hash, hash) ON cantdo.ledger TO cantdo_authority;
