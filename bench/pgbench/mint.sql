-- ISSUED grants numbered :first .. :last; grant g has id md5('g' || g)::uuid
-- and step 's-' || g. Run by psql with -v first=... -v last=...
INSERT INTO bench.grants (grant_id, approval_id, state, workflow_id, run_id, step, action, resource,
                          parameters_hash, approver_subjects, policy_version, policy_hash, principal,
                          issue_time, expire_time)
SELECT md5('g' || g)::uuid, md5('a' || g)::uuid, 'ISSUED', 'wf-bench', 'run-1', 's-' || g, 'customer_data.delete', '',
       encode(sha256('{}'), 'hex'), ARRAY['dpo1'], 'bench-1', 'bench', 'spiffe://cantdo/worker', now(),
       now() + interval '1 hour'
FROM generate_series(:first::bigint, :last::bigint) AS g;
ANALYZE bench.grants;
