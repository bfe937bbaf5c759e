-- pgbench baseline tables, made LIKE the product's own: the database is
-- migrated with db/migrations first (bench/driver.py runs cantdo-migrate),
-- so bench.grants and bench.ledger have exactly the columns, defaults,
-- checks and indexes cantdo.grants and cantdo.ledger have today and cannot
-- drift from them. Left out: the grants' foreign key to approvals (LIKE
-- never copies foreign keys) and the ledger's triggers (nor triggers). A
-- ledger row here is what the authority's hot path writes, a pending entry
-- (no sequence, no hash: the chainer links entries afterwards, which the
-- baseline does not do).
DROP SCHEMA IF EXISTS bench CASCADE;
CREATE SCHEMA bench;
CREATE TABLE bench.grants (LIKE cantdo.grants INCLUDING ALL);
CREATE TABLE bench.ledger (LIKE cantdo.ledger INCLUDING ALL);
