-- One StartWorkflow's database writes, the baseline for gateway_start, run
-- by pgbench --rate against the very database the benchmark used (same
-- tables, indexes and triggers, already holding its rows). Two transactions,
-- as StartWorkflow commits twice:
--   1. the authority's RequestApproval: INSERT the PENDING approval
--      (ON CONFLICT DO NOTHING RETURNING, its idempotency), then its two
--      pending ledger entries (DECISION, APPROVAL_REQUESTED);
--   2. the gateway's run creation: the workflow id's advisory lock, INSERT
--      the PENDING_ADMISSION run and its WorkflowExecutionStarted event
--      (a 200-byte stand-in for the serialized event), NOTIFY.
-- Not included: the gateway's and the authority's reads (request id and
-- reuse-policy lookups, LoadApproval, Describe), policy evaluation,
-- canonical JSON, gRPC/TLS. Ids: a random number per script run.
-- No literal may contain a colon followed by a letter: pgbench would read
-- it as a variable.
\set r random(1, 1000000000000000)
BEGIN;
INSERT INTO cantdo.approvals (approval_id, principal, requester, workflow_id, run_id, step, action, resource,
                              parameters, parameters_hash, state, required_role, approver_subject, binding_message,
                              policy_version, policy_hash, create_time, expire_time, next_dispatch_time)
VALUES (md5('a' || :r::text)::uuid, 'spiffe://cantdo/gateway', 'spiffe://cantdo/operator', 'pgb-' || :r::text,
        md5('r' || :r::text)::uuid::text, 'admission', 'workflow.start', 'customer_offboarding',
        '{"customer_id":"cus_42"}', '5d2c4ad1bd6e8b3b1e1d6a4b8a5e0c6b7f1e2d3c4b5a69788796a5b4c3d2e1f0', 'PENDING',
        'ops_manager', 'ops1', 'Start customer_offboarding', 'bench-1', 'bench', now(), now() + interval '1 hour', now())
ON CONFLICT (principal, workflow_id, run_id, step, action) DO NOTHING RETURNING approval_id;
INSERT INTO cantdo.ledger (time_us, kind, actor, action, resource, parameters_hash, workflow_id, run_id, step,
                           grant_id, approval_id, decision, reason, policy_version, policy_hash, detail)
VALUES ((extract(epoch FROM clock_timestamp()) * 1000000)::bigint, 'DECISION', 'spiffe://cantdo/gateway',
        'workflow.start', 'customer_offboarding', '5d2c4ad1bd6e8b3b1e1d6a4b8a5e0c6b7f1e2d3c4b5a69788796a5b4c3d2e1f0',
        'pgb-' || :r::text, md5('r' || :r::text)::uuid::text, 'admission', '', md5('a' || :r::text)::uuid::text,
        'REQUIRE_APPROVAL', '', 'bench-1', 'bench', '{"required_role":"ops_manager"}');
INSERT INTO cantdo.ledger (time_us, kind, actor, action, resource, parameters_hash, workflow_id, run_id, step,
                           grant_id, approval_id, decision, reason, policy_version, policy_hash, detail)
VALUES ((extract(epoch FROM clock_timestamp()) * 1000000)::bigint, 'APPROVAL_REQUESTED', 'spiffe://cantdo/gateway',
        'workflow.start', 'customer_offboarding', '5d2c4ad1bd6e8b3b1e1d6a4b8a5e0c6b7f1e2d3c4b5a69788796a5b4c3d2e1f0',
        'pgb-' || :r::text, md5('r' || :r::text)::uuid::text, 'admission', '', md5('a' || :r::text)::uuid::text,
        '', '', 'bench-1', 'bench', '{"approver":"ops1","binding_message":"Start customer_offboarding"}');
END;
BEGIN;
SELECT pg_advisory_xact_lock(hashtextextended('pgb-' || :r::text, 4));
INSERT INTO cantdo.workflow_runs (run_id, workflow_id, workflow_type, task_queue, state, request_id, requester,
                                  admission_approval_id, first_run_id, next_event_id, start_time)
VALUES (md5('r' || :r::text)::uuid, 'pgb-' || :r::text, 'customer_offboarding', 'offboarding', 1,
        'pgb-' || :r::text, 'spiffe://cantdo/operator', md5('a' || :r::text)::uuid::text, md5('r' || :r::text)::uuid,
        2, now());
INSERT INTO cantdo.workflow_events (run_id, event_id, event_type, event_time, event)
VALUES (md5('r' || :r::text)::uuid, 1, 1, now(), decode(repeat('ab', 200), 'hex'));
SELECT pg_notify('cantdo_workflow_events', md5('r' || :r::text)::uuid::text);
END;
