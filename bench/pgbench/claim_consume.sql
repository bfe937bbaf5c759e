-- One claim+consume pair, the baseline for authority_claim_consume: each
-- operation is one transaction of one conditional single-row UPDATE ...
-- RETURNING (the same predicate as Authority::ClaimGrant / ConsumeGrant, but
-- on the uuid key) plus one INSERT of a pending ledger entry, the row the
-- authority writes (bench/pgbench/schema.sql). Each client
-- takes grants base + client_id + nclients * k, k = 0, 1, ... (pgbench keeps
-- a client's variables across transactions), so no two clients collide.
-- No literal may contain a colon: pgbench would read it as a variable.
\set g :base + :client_id + :nclients * :k
\set k :k + 1
BEGIN;
UPDATE bench.grants SET state = 'CLAIMED', claim_time = now(),
       claim_key_sha256 = '2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae'
 WHERE grant_id = md5('g' || :g::text)::uuid AND state = 'ISSUED' AND principal = 'spiffe://cantdo/worker'
   AND action = 'customer_data.delete' AND workflow_id = 'wf-bench' AND run_id = 'run-1'
   AND step = 's-' || :g::text AND resource = ''
   AND parameters_hash = '44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a'
   AND expire_time > now()
RETURNING *;
INSERT INTO bench.ledger (time_us, kind, actor, action, workflow_id, run_id, step, grant_id, policy_version,
                          policy_hash, detail, acting_service)
VALUES ((extract(epoch FROM clock_timestamp()) * 1000000)::bigint, 'GRANT_CLAIMED', 'spiffe://cantdo/worker',
        'customer_data.delete', 'wf-bench', 'run-1', 's-' || :g::text, md5('g' || :g::text), 'bench-1', 'bench',
        json_build_object('idempotency_key_sha256', '2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae',
                          'reclaim', false)::text,
        'spiffe://cantdo/authority');
END;
BEGIN;
UPDATE bench.grants SET state = 'CONSUMED', consume_time = now(),
       outcome_digest = 'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa'
 WHERE grant_id = md5('g' || :g::text)::uuid AND state = 'CLAIMED' AND principal = 'spiffe://cantdo/worker'
   AND expire_time > now()
RETURNING *;
INSERT INTO bench.ledger (time_us, kind, actor, action, workflow_id, run_id, step, grant_id, policy_version,
                          policy_hash, detail, acting_service)
VALUES ((extract(epoch FROM clock_timestamp()) * 1000000)::bigint, 'GRANT_CONSUMED', 'spiffe://cantdo/worker',
        'customer_data.delete', 'wf-bench', 'run-1', 's-' || :g::text, md5('g' || :g::text), 'bench-1', 'bench',
        json_build_object('outcome_digest', 'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa')::text,
        'spiffe://cantdo/authority');
END;
