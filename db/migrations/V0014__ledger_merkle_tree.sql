-- V0014: the ledger's Merkle tree (issue 19; docs/security.md, "Checkpoints").
--
-- A hash chain kept in the same database proves nothing to someone who does
-- not trust that database's administrator: a superuser can edit an entry
-- and recompute every hash after it. The authority now also keeps an
-- RFC 9162 Merkle tree over the entries in sequence order and signs its
-- root (a checkpoint) with a key that is never in this database; the
-- checkpoints leave the database (a directory, the gateway's
-- GetCheckpoint), and anyone holding one detects a rewrite, a truncation
-- or a fork of everything it covers.
--
-- This table stores the tree's perfect subtrees ("stored hashes", about two
-- per entry), so roots and inclusion and consistency proofs of any size
-- need O(log n) reads. Row `sequence` holds the hashes completed when the
-- entry at `sequence` joined the tree: its leaf hash, SHA-256(0x00 ||
-- entry document), then the interior hashes of each level it completed,
-- 32 bytes each, 1 + (trailing zero bits of sequence) of them. So the
-- subtree at level L, index i (leaves i*2^L .. (i+1)*2^L - 1, 0-based) is
-- in row (i+1)*2^L, at byte 32*L.
--
-- The chainer (services/authority/ledger.cpp) adds the rows in the
-- transaction that chains the entries; rows for entries chained before
-- this migration are added by it too, oldest first. The table is
-- append-only like the ledger: no UPDATE, DELETE or TRUNCATE for anyone,
-- and each row must follow the one before, have the right length and name
-- a chained entry. The hashes themselves are the authority's: a wrong one
-- is what verification against a checkpoint reports.
CREATE TABLE cantdo.ledger_tree (
  sequence bigint PRIMARY KEY CHECK (sequence >= 1),
  hashes   bytea NOT NULL
);

CREATE TRIGGER ledger_tree_no_update_delete BEFORE UPDATE OR DELETE ON cantdo.ledger_tree
  FOR EACH ROW EXECUTE FUNCTION cantdo.ledger_refuse_change();
CREATE TRIGGER ledger_tree_no_truncate BEFORE TRUNCATE ON cantdo.ledger_tree
  FOR EACH STATEMENT EXECUTE FUNCTION cantdo.ledger_refuse_change();

CREATE FUNCTION cantdo.ledger_tree_next_only() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  bad bigint;
BEGIN
  SELECT n.sequence INTO bad
    FROM added n
   WHERE length(n.hashes) <> 32 * (1 + length(substring(reverse(n.sequence::bit(64)::text) from '^0*')))
      OR NOT EXISTS (SELECT 1 FROM cantdo.ledger l WHERE l.sequence = n.sequence)
      OR (n.sequence > 1 AND NOT EXISTS (SELECT 1 FROM cantdo.ledger_tree p WHERE p.sequence = n.sequence - 1))
   LIMIT 1;
  IF FOUND THEN
    RAISE EXCEPTION 'ledger tree row % refused: it must follow the row before it, name a chained entry and hold '
                    '32 bytes per level it completes', bad
      USING ERRCODE = 'insufficient_privilege';
  END IF;
  RETURN NULL;
END
$$;
CREATE TRIGGER ledger_tree_next_only AFTER INSERT ON cantdo.ledger_tree
  REFERENCING NEW TABLE AS added
  FOR EACH STATEMENT EXECUTE FUNCTION cantdo.ledger_tree_next_only();

REVOKE ALL ON cantdo.ledger_tree FROM PUBLIC;
GRANT SELECT, INSERT ON cantdo.ledger_tree TO cantdo_authority;
-- The gateway may read the ledger (V0002); the tree goes with it.
GRANT SELECT ON cantdo.ledger_tree TO cantdo_gateway;
