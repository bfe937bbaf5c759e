-- The database's own work for one scoped credential, the baseline of
-- authority_claim_consume's scoped pairs: the statements the authority's
-- PostgresRoleIssuer sends the target database (services/authority/
-- credentials.cpp), one script run per pair. The claim: CREATE ROLE with a
-- one-iteration SCRAM secret and the scope row, one implicit transaction. The
-- consume: the existence check, then scope delete + NOLOGIN, then sessions
-- ended + DROP ROLE, each under the role's advisory lock. No grant or ledger
-- row: that part is claim_consume.sql's. Run in simple mode (role names are
-- identifiers, substituted as text). The role prefix is this baseline's own;
-- the driver checks that every role was dropped. No literal may hold a colon
-- followed by a letter (pgbench would read a variable).
\set g random(1, 2000000000)
CREATE ROLE cantdo_pgb_:g LOGIN CONNECTION LIMIT 4 PASSWORD 'SCRAM-SHA-256$1:c3Nzc3Nzc3Nzc3Nzc3Nzcw==$5t1Otw6AY5mWy/u2+Kw4vL8s6g8lgbY4ncXIT6RhEgA=:AXeraUMwW1oCfKJc1Dlsb05OyOa/PaDbtKuO9RYdvGA=' VALID UNTIL '2030-01-01T00:00:00Z' IN ROLE cantdo_pgb_refunds \; INSERT INTO cantdo_scope.credentials (role_name, grant_id, approval_id, approved_by, action, resource, parameters, uses_left, valid_until) VALUES ('cantdo_pgb_' || :g, 'g' || :g, 'a' || :g, 'cfo1', 'refund.issue', '', '{"customer_id": "cus_000042", "amount_cents": 29973}'::jsonb, 1, now() + interval '2 minutes');
SELECT 1 FROM pg_roles WHERE rolname = 'cantdo_pgb_' || :g;
SELECT pg_advisory_xact_lock(1668441444, hashtext('cantdo_pgb_' || :g)) \; DELETE FROM cantdo_scope.credentials WHERE role_name = 'cantdo_pgb_' || :g \; ALTER ROLE cantdo_pgb_:g NOLOGIN;
SELECT pg_advisory_xact_lock(1668441444, hashtext('cantdo_pgb_' || :g)) \; SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = 'cantdo_pgb_' || :g \; DROP ROLE IF EXISTS cantdo_pgb_:g;
