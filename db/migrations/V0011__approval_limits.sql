-- V0011: what the approval-spam limits and the collapse of identical
-- requests read (docs/security.md, "Approval spam and approver fatigue").

-- accountable: the principal an approval counts against: the external
-- principal the gateway acted for, or else the requester the caller named
-- (a workflow run's operator). The authority always sets it; the default
-- only serves rows written by hand (benchmarks' fixtures).
-- collapsible: an identical request of the same principal is answered
-- with this approval while it is PENDING (external principals only; a
-- workflow run's approvals are bound to their run).
ALTER TABLE cantdo.approvals
  ADD COLUMN accountable text NOT NULL DEFAULT '',
  ADD COLUMN collapsible boolean NOT NULL DEFAULT false;

-- Existing rows: the gateway's external principals are never SPIFFE ids.
UPDATE cantdo.approvals
   SET accountable = CASE WHEN principal LIKE 'spiffe://%' THEN requester ELSE principal END;

-- Rate limits: approvals opened per accountable principal, and sent to an
-- approver, newest first within a window.
CREATE INDEX approvals_accountable_recent ON cantdo.approvals (accountable, create_time);
CREATE INDEX approvals_approver_recent ON cantdo.approvals (approver_subject, create_time);
-- The approver's pending queue.
CREATE INDEX approvals_approver_pending ON cantdo.approvals (approver_subject) WHERE state = 'PENDING';
-- Denials feed back: an approver's denials of one principal's requests.
CREATE INDEX approvals_denials ON cantdo.approvals (accountable, approver_subject, decide_time)
  WHERE state = 'DENIED';
-- At most one pending collapsible approval per identical request; a
-- concurrent duplicate conflicts here and finds the winner.
CREATE UNIQUE INDEX approvals_collapse ON cantdo.approvals (principal, requester, action, resource, parameters_hash)
  WHERE state = 'PENDING' AND collapsible;
