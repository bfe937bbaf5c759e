-- V0015: W3C trace context (issue #22). Work that continues after the call
-- that asked for it keeps that call's `traceparent` (version 00 text, ''
-- when none), so whoever picks it up later logs, calls and writes ledger
-- entries under the same trace id: a workflow run (its workflow tasks and
-- activities, started by the gateway's StartWorkflow), an approval (the
-- authority's dispatch towards the ciba-bridge) and a CIBA request (the
-- bridge's polling and its delivery back to the authority).
-- docs/operations.md, "Following one action by trace id".
-- compatibility: binaries-from=V0014 requires=V0015

ALTER TABLE cantdo.workflow_runs ADD COLUMN traceparent text NOT NULL DEFAULT '';
ALTER TABLE cantdo.approvals ADD COLUMN traceparent text NOT NULL DEFAULT '';
ALTER TABLE cantdo.ciba_requests ADD COLUMN traceparent text NOT NULL DEFAULT '';
