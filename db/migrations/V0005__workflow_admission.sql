-- V0005: admission of a run pending admission, as one SQL function that is
-- the single implementation (issue #7).
--
-- A run created PENDING_ADMISSION has no task, so no worker can touch it.
-- It gets its first workflow task only here: WorkflowExecutionAdmitted and
-- WorkflowTaskScheduled are appended, the task row inserted and the run
-- marked RUNNING. The authority calls this inside the transaction that
-- marks the run's workflow.start grant CONSUMED (ConsumeGrant), so "grant
-- consumed" and "run admitted" commit together or not at all; the engine's
-- WorkflowClient::Admit calls the same function. SECURITY DEFINER so the
-- authority needs EXECUTE on it and no privilege on the engine's tables.
--
-- outcome:
--   ADMITTED           the events were appended now
--   ALREADY_ADMITTED   admitted before (RUNNING, or since closed): no change
--   NOT_FOUND          no such run (run id not a UUID included)
--   CLOSED             closed without ever running (REJECTED, CANCELLED...)
--   APPROVAL_MISMATCH  the run is gated by another approval than p_approval_id

CREATE FUNCTION cantdo.workflow_admit(
    p_workflow_id text, p_run_id text, p_approval_id text, p_grant_id text,
    p_approver_subjects text[], p_now timestamptz,
    OUT outcome text, OUT run_id uuid, OUT state smallint)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  r cantdo.workflow_runs%ROWTYPE;
  next_id bigint;
  attrs bytea;
BEGIN
  IF p_run_id IS NOT NULL AND p_run_id <> ''
     AND p_run_id !~ '^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$' THEN
    outcome := 'NOT_FOUND';
    RETURN;
  END IF;
  SELECT * INTO r FROM cantdo.workflow_runs w
   WHERE w.workflow_id = p_workflow_id AND (coalesce(p_run_id, '') = '' OR w.run_id = p_run_id::uuid)
   ORDER BY (w.state IN (1, 2)) DESC, w.start_time DESC
   LIMIT 1
   FOR UPDATE;
  IF NOT FOUND THEN
    outcome := 'NOT_FOUND';
    RETURN;
  END IF;
  run_id := r.run_id;
  state := r.state;
  IF r.state <> 1 THEN
    -- Admitted earlier (and perhaps closed since) is still "admitted"; a
    -- run that never ran cannot be admitted any more.
    outcome := CASE WHEN r.admit_time IS NOT NULL THEN 'ALREADY_ADMITTED' ELSE 'CLOSED' END;
    RETURN;
  END IF;
  IF r.admission_approval_id <> '' AND coalesce(p_approval_id, '') <> ''
     AND r.admission_approval_id <> p_approval_id THEN
    outcome := 'APPROVAL_MISMATCH';
    RETURN;
  END IF;

  next_id := r.next_event_id;
  -- WorkflowExecutionAdmittedEventAttributes (HistoryEvent field 16).
  attrs := cantdo.pb_bytes(1, convert_to(coalesce(p_approval_id, ''), 'UTF8'))
        || cantdo.pb_bytes(2, convert_to(coalesce(p_grant_id, ''), 'UTF8'))
        || coalesce((SELECT string_agg(cantdo.pb_bytes(3, convert_to(s, 'UTF8')), ''::bytea ORDER BY i)
                       FROM unnest(p_approver_subjects) WITH ORDINALITY AS u(s, i)), ''::bytea);
  INSERT INTO cantdo.workflow_events VALUES (r.run_id, next_id, 7, p_now,
    cantdo.pb_history_event(next_id, p_now, 7, 16, attrs));
  next_id := next_id + 1;

  INSERT INTO cantdo.workflow_tasks (run_id, task_queue, visible_at) VALUES (r.run_id, r.task_queue, p_now)
    ON CONFLICT DO NOTHING;
  IF FOUND THEN
    INSERT INTO cantdo.workflow_events VALUES (r.run_id, next_id, 20, p_now,
      cantdo.pb_history_event(next_id, p_now, 20, 20,
          cantdo.pb_bytes(1, convert_to(r.task_queue, 'UTF8')) || cantdo.pb_int(3, 1)));
    next_id := next_id + 1;
    PERFORM pg_notify('cantdo_workflow_tasks', r.task_queue);
  END IF;
  UPDATE cantdo.workflow_runs w
     SET state = 2, admit_time = p_now, next_event_id = next_id,
         admission_approval_id = CASE WHEN coalesce(p_approval_id, '') = '' THEN w.admission_approval_id
                                      ELSE p_approval_id END
   WHERE w.run_id = r.run_id;
  PERFORM pg_notify('cantdo_workflow_events', r.run_id::text);
  outcome := 'ADMITTED';
  state := 2;
END
$$;

REVOKE ALL ON FUNCTION cantdo.workflow_admit(text, text, text, text, text[], timestamptz) FROM PUBLIC;

-- The authority admits in its ConsumeGrant transaction; the gateway (the
-- engine client) through WorkflowClient::Admit. Neither needs more.
GRANT EXECUTE ON FUNCTION cantdo.workflow_admit(text, text, text, text, text[], timestamptz)
  TO cantdo_authority, cantdo_gateway;

-- The gateway's admission loop finds runs waiting for admission quickly.
CREATE INDEX workflow_runs_pending_admission ON cantdo.workflow_runs (start_time) WHERE state = 1;

-- StartWorkflow's request_id is one namespace across workflow ids: a retry
-- (or a reuse for another start) is found without knowing the workflow id.
CREATE INDEX workflow_runs_by_request_id ON cantdo.workflow_runs (request_id) WHERE request_id IS NOT NULL;
