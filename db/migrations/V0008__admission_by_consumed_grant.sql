-- V0008: only the authority admits a run, only with that run's consumed
-- workflow.start grant, and the run learns from its admission record what
-- was approved (issues #17 part 1 and #18 part 2; docs/database.md,
-- "Admission").
--
-- Before: cantdo.workflow_admit (V0005) admitted any run for anyone with
-- EXECUTE (the gateway had it) and skipped its approval check for an empty
-- approval id; the gateway's and the worker's logins could also UPDATE a
-- run to RUNNING and INSERT its tasks themselves (V0003).
--
-- Now:
--   1. cantdo.workflow_admit(grant_id, now) takes nothing but a grant: it
--      admits the run that grant names only if the grant is CONSUMED, is a
--      workflow.start for step "admission" of exactly that workflow, run and
--      workflow type, and its approval is the one the run was created with.
--      The WorkflowExecutionAdmitted event it writes carries the approved
--      parameters (the approval's canonical JSON, checked against the
--      grant's hash), which is what workflow code acts on. Only
--      cantdo_authority may EXECUTE it, and the authority calls it in the
--      transaction that consumes the grant.
--   2. No role, the owner included, can move a run out of PENDING_ADMISSION
--      to RUNNING without such a consumed grant (trigger on workflow_runs),
--      nor give a run that was never admitted a workflow task, an activity
--      task, a timer or a signal (foreign keys that accept only admitted
--      runs), nor reopen a closed run, nor change a run's identity or its
--      admission approval. The services' logins may UPDATE only the columns
--      the engine moves.
--   3. A run is created PENDING_ADMISSION; RUNNING at creation only as the
--      successor of an admitted run that closes CONTINUED_AS_NEW in the
--      same transaction, or by the owner of the engine's tables (the
--      migrating role: the engine's own tests and benchmarks).
--   4. Admission records (event type 7) and received signals (type 50) are
--      written only by cantdo.workflow_admit and cantdo.workflow_signal
--      (which run as the owner), and only to RUNNING runs. Signal names
--      under "cantdo." are reserved to the authority's login, and every
--      SignalReceived records the database role that delivered it.

-- ---- 1. Admission ----

DROP FUNCTION cantdo.workflow_admit(text, text, text, text, text[], timestamptz);

-- outcome:
--   ADMITTED            the events were appended now
--   ALREADY_ADMITTED    admitted before (RUNNING, or since closed): no change
--   GRANT_NOT_CONSUMED  no such grant, or not a CONSUMED workflow.start grant
--                       for step "admission"
--   NOT_FOUND           the grant names no run of ours
--   CLOSED              the run closed without ever running
--   APPROVAL_MISMATCH   the run was created for another approval or type, or
--                       the approval's parameters do not hash to the grant's
CREATE FUNCTION cantdo.workflow_admit(p_grant_id text, p_now timestamptz,
    OUT outcome text, OUT run_id uuid, OUT state smallint)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  kUuid constant text := '^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$';
  g cantdo.grants%ROWTYPE;
  r cantdo.workflow_runs%ROWTYPE;
  approved text;
  next_id bigint;
  attrs bytea;
BEGIN
  IF p_grant_id IS NULL OR p_grant_id !~ kUuid THEN
    outcome := 'GRANT_NOT_CONSUMED';
    RETURN;
  END IF;
  SELECT * INTO g FROM cantdo.grants x WHERE x.grant_id = p_grant_id::uuid;
  IF NOT FOUND OR g.state <> 'CONSUMED' OR g.action <> 'workflow.start' OR g.step <> 'admission' THEN
    outcome := 'GRANT_NOT_CONSUMED';
    RETURN;
  END IF;
  IF g.run_id !~ kUuid THEN
    outcome := 'NOT_FOUND';
    RETURN;
  END IF;
  SELECT * INTO r FROM cantdo.workflow_runs w
   WHERE w.run_id = g.run_id::uuid AND w.workflow_id = g.workflow_id
   FOR UPDATE;
  IF NOT FOUND THEN
    outcome := 'NOT_FOUND';
    RETURN;
  END IF;
  run_id := r.run_id;
  state := r.state;
  IF r.admission_approval_id <> g.approval_id::text OR r.workflow_type <> g.resource THEN
    outcome := 'APPROVAL_MISMATCH';
    RETURN;
  END IF;
  IF r.state <> 1 THEN
    -- Admitted earlier (and perhaps closed since) is still "admitted"; a
    -- run that never ran cannot be admitted any more.
    outcome := CASE WHEN r.admit_time IS NOT NULL THEN 'ALREADY_ADMITTED' ELSE 'CLOSED' END;
    RETURN;
  END IF;
  SELECT a.parameters INTO approved FROM cantdo.approvals a WHERE a.approval_id = g.approval_id;
  IF approved IS NULL OR encode(sha256(convert_to(approved, 'UTF8')), 'hex') <> g.parameters_hash THEN
    outcome := 'APPROVAL_MISMATCH';
    RETURN;
  END IF;

  -- RUNNING first: the database accepts the admission record and the task
  -- only for a run that is no longer pending (section 2).
  next_id := r.next_event_id;
  UPDATE cantdo.workflow_runs w SET state = 2, admit_time = p_now, next_event_id = next_id + 2
   WHERE w.run_id = r.run_id;
  -- WorkflowExecutionAdmittedEventAttributes (HistoryEvent field 16).
  attrs := cantdo.pb_bytes(1, convert_to(g.approval_id::text, 'UTF8'))
        || cantdo.pb_bytes(2, convert_to(g.grant_id::text, 'UTF8'))
        || coalesce((SELECT string_agg(cantdo.pb_bytes(3, convert_to(s, 'UTF8')), ''::bytea ORDER BY i)
                       FROM unnest(g.approver_subjects) WITH ORDINALITY AS u(s, i)), ''::bytea)
        || cantdo.pb_bytes(4, convert_to(g.action, 'UTF8'))
        || cantdo.pb_bytes(5, convert_to(g.resource, 'UTF8'))
        || cantdo.pb_bytes(6, convert_to(approved, 'UTF8'))
        || cantdo.pb_bytes(7, convert_to(g.parameters_hash, 'UTF8'));
  INSERT INTO cantdo.workflow_events VALUES (r.run_id, next_id, 7, p_now,
    cantdo.pb_history_event(next_id, p_now, 7, 16, attrs));
  INSERT INTO cantdo.workflow_tasks (run_id, task_queue, visible_at) VALUES (r.run_id, r.task_queue, p_now);
  INSERT INTO cantdo.workflow_events VALUES (r.run_id, next_id + 1, 20, p_now,
    cantdo.pb_history_event(next_id + 1, p_now, 20, 20,
        cantdo.pb_bytes(1, convert_to(r.task_queue, 'UTF8')) || cantdo.pb_int(3, 1)));
  PERFORM pg_notify('cantdo_workflow_tasks', r.task_queue);
  PERFORM pg_notify('cantdo_workflow_events', r.run_id::text);
  outcome := 'ADMITTED';
  state := 2;
END
$$;

REVOKE ALL ON FUNCTION cantdo.workflow_admit(text, timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION cantdo.workflow_admit(text, timestamptz) TO cantdo_authority;

-- ---- 2. Admission state, for every role ----

-- A run's tasks, timers and signals reference (run_id, admitted = true):
-- a run that was never admitted (pending, or closed while pending) can
-- have none, whoever asks. admit_time is set only by admission (guarded
-- below) and when a run is created RUNNING (section 3).
ALTER TABLE cantdo.workflow_runs ADD COLUMN admitted boolean GENERATED ALWAYS AS (admit_time IS NOT NULL) STORED;
ALTER TABLE cantdo.workflow_runs ADD CONSTRAINT workflow_runs_admitted UNIQUE (run_id, admitted);

DO $$
DECLARE
  t text;
BEGIN
  FOREACH t IN ARRAY ARRAY['workflow_tasks', 'activity_tasks', 'workflow_timers', 'workflow_signals'] LOOP
    EXECUTE format('ALTER TABLE cantdo.%I'
                   ' ADD COLUMN run_admitted boolean NOT NULL DEFAULT true CHECK (run_admitted),'
                   ' DROP CONSTRAINT %I,'
                   ' ADD CONSTRAINT %I FOREIGN KEY (run_id, run_admitted)'
                   '   REFERENCES cantdo.workflow_runs (run_id, admitted)',
                   t, t || '_run_id_fkey', t || '_run_admitted_fkey');
  END LOOP;
END
$$;

-- State changes. PENDING_ADMISSION (1) -> RUNNING (2) only with the run's
-- consumed workflow.start grant (as cantdo.workflow_admit does it), else
-- -> CANCELLED, TERMINATED or REJECTED; RUNNING never back, and never to
-- REJECTED; a closed run stays as it closed. A run's identity and
-- admission approval never change. SECURITY DEFINER: it reads the grants,
-- which the gateway and the worker cannot.
CREATE FUNCTION cantdo.workflow_runs_guard_update() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  kUuid constant text := '^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$';
BEGIN
  IF NEW.run_id <> OLD.run_id OR NEW.workflow_id <> OLD.workflow_id OR NEW.workflow_type <> OLD.workflow_type
     OR NEW.first_run_id <> OLD.first_run_id OR NEW.admission_approval_id <> OLD.admission_approval_id THEN
    RAISE EXCEPTION 'workflow run %: its identity and admission approval never change', OLD.run_id
      USING ERRCODE = 'insufficient_privilege';
  END IF;
  IF OLD.state = 1 THEN
    IF NEW.state = 2 AND NEW.admit_time IS NOT NULL AND NEW.next_run_id IS NULL
       AND OLD.admission_approval_id ~ kUuid THEN
      IF EXISTS (SELECT 1 FROM cantdo.grants g
                  WHERE g.approval_id = OLD.admission_approval_id::uuid AND g.state = 'CONSUMED'
                    AND g.action = 'workflow.start' AND g.step = 'admission'
                    AND g.workflow_id = OLD.workflow_id AND lower(g.run_id) = OLD.run_id::text
                    AND g.resource = OLD.workflow_type) THEN
        RETURN NEW;
      END IF;
    ELSIF NEW.state IN (1, 5, 6, 7) AND NEW.admit_time IS NULL AND NEW.next_run_id IS NULL THEN
      RETURN NEW;
    END IF;
  ELSIF OLD.state = 2 THEN
    IF NEW.state BETWEEN 2 AND 9 AND NEW.state <> 7 AND NEW.admit_time IS NOT DISTINCT FROM OLD.admit_time
       AND (NEW.next_run_id IS NOT DISTINCT FROM OLD.next_run_id OR NEW.state IN (8, 9)) THEN
      RETURN NEW;
    END IF;
  ELSIF NEW.state = OLD.state AND NEW.admit_time IS NOT DISTINCT FROM OLD.admit_time
        AND NEW.next_run_id IS NOT DISTINCT FROM OLD.next_run_id THEN
    RETURN NEW;
  END IF;
  RAISE EXCEPTION 'workflow run %: state % -> % refused (only cantdo.workflow_admit admits, with the run''s consumed workflow.start grant)',
    OLD.run_id, OLD.state, NEW.state USING ERRCODE = 'insufficient_privilege';
END
$$;
CREATE TRIGGER workflow_runs_admission_guard BEFORE UPDATE ON cantdo.workflow_runs
  FOR EACH ROW
  WHEN (OLD.state IS DISTINCT FROM NEW.state OR OLD.admit_time IS DISTINCT FROM NEW.admit_time
        OR OLD.next_run_id IS DISTINCT FROM NEW.next_run_id
        OR OLD.admission_approval_id IS DISTINCT FROM NEW.admission_approval_id
        OR OLD.run_id IS DISTINCT FROM NEW.run_id OR OLD.workflow_id IS DISTINCT FROM NEW.workflow_id
        OR OLD.workflow_type IS DISTINCT FROM NEW.workflow_type OR OLD.first_run_id IS DISTINCT FROM NEW.first_run_id)
  EXECUTE FUNCTION cantdo.workflow_runs_guard_update();

-- The services move runs along, nothing else: no admit time, no identity,
-- no admission approval.
REVOKE UPDATE ON cantdo.workflow_runs FROM cantdo_gateway, cantdo_worker;
GRANT UPDATE (state, next_event_id, close_time, failure, next_run_id) ON cantdo.workflow_runs
  TO cantdo_gateway, cantdo_worker;
-- Signal ids are recorded by cantdo.workflow_signal only.
REVOKE INSERT ON cantdo.workflow_signals FROM cantdo_gateway, cantdo_worker;

-- ---- 3. Creation ----

-- Not SECURITY DEFINER: it asks who is inserting (current_user).
CREATE FUNCTION cantdo.workflow_runs_guard_insert() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
  IF NEW.close_time IS NULL AND NEW.next_run_id IS NULL THEN
    IF NEW.state = 1 AND NEW.admit_time IS NULL AND NEW.first_run_id = NEW.run_id THEN
      RETURN NEW;
    END IF;
    IF NEW.state = 2 AND NEW.admit_time IS NOT NULL THEN
      -- Continue-as-new: the admitted predecessor closes CONTINUED_AS_NEW
      -- naming this run, in this transaction (its UPDATE comes first).
      IF EXISTS (SELECT 1 FROM cantdo.workflow_runs p
                  WHERE p.workflow_id = NEW.workflow_id AND p.state = 9 AND p.next_run_id = NEW.run_id
                    AND p.admit_time IS NOT NULL AND p.first_run_id = NEW.first_run_id
                    AND p.admission_approval_id = NEW.admission_approval_id) THEN
        RETURN NEW;
      END IF;
      -- The owner of the engine's tables (the migrating role; the engine's
      -- tests and benchmarks) may start a run without admission.
      IF (SELECT c.relowner FROM pg_class c WHERE c.oid = 'cantdo.workflow_runs'::regclass)
         = (SELECT r.oid FROM pg_roles r WHERE r.rolname = current_user) THEN
        RETURN NEW;
      END IF;
    END IF;
  END IF;
  RAISE EXCEPTION 'workflow run %: created in state % refused (runs start PENDING_ADMISSION; only cantdo.workflow_admit admits)',
    NEW.run_id, NEW.state USING ERRCODE = 'insufficient_privilege';
END
$$;
CREATE TRIGGER workflow_runs_creation_guard BEFORE INSERT ON cantdo.workflow_runs
  FOR EACH ROW EXECUTE FUNCTION cantdo.workflow_runs_guard_insert();

-- ---- 4. Admission records and signals ----

-- Not SECURITY DEFINER: it asks who is inserting. Inside
-- cantdo.workflow_admit and cantdo.workflow_signal (SECURITY DEFINER) that
-- is the owner of the engine's tables; a service writing history itself
-- is not.
CREATE FUNCTION cantdo.workflow_events_guard_insert() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
  IF (SELECT c.relowner FROM pg_class c WHERE c.oid = 'cantdo.workflow_events'::regclass)
     IS DISTINCT FROM (SELECT r.oid FROM pg_roles r WHERE r.rolname = current_user) THEN
    RAISE EXCEPTION 'workflow run %: event type % is written only by cantdo.workflow_admit and cantdo.workflow_signal',
      NEW.run_id, NEW.event_type USING ERRCODE = 'insufficient_privilege';
  END IF;
  IF NOT EXISTS (SELECT 1 FROM cantdo.workflow_runs w WHERE w.run_id = NEW.run_id AND w.state = 2) THEN
    RAISE EXCEPTION 'workflow run %: event type % only for a RUNNING run', NEW.run_id, NEW.event_type
      USING ERRCODE = 'insufficient_privilege';
  END IF;
  RETURN NEW;
END
$$;
CREATE TRIGGER workflow_events_admission_and_signals BEFORE INSERT ON cantdo.workflow_events
  FOR EACH ROW WHEN (NEW.event_type IN (7, 50)) EXECUTE FUNCTION cantdo.workflow_events_guard_insert();

REVOKE ALL ON FUNCTION cantdo.workflow_runs_guard_update(), cantdo.workflow_runs_guard_insert(),
  cantdo.workflow_events_guard_insert() FROM PUBLIC;

-- cantdo.workflow_signal (V0003) again, with the same signature and
-- grants, plus: names under "cantdo." only from the authority's login (or a
-- superuser), and SignalReceived field 5 (delivered_by) = the service role
-- of the session that delivered it, as PostgreSQL authenticated it (its
-- name for a login in none of them, e.g. a superuser). p_identity stays
-- what the service says (the principal it authenticated).
CREATE OR REPLACE FUNCTION cantdo.workflow_signal(
    p_workflow_id text, p_run_id uuid, p_signal_name text, p_signal_id text,
    p_payload_type_url text, p_payload_value bytea, p_identity text, p_now timestamptz,
    OUT outcome text, OUT run_id uuid, OUT event_id bigint, OUT state smallint)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  r cantdo.workflow_runs%ROWTYPE;
  next_id bigint;
  existing bigint;
  is_superuser boolean;
  delivered_by text;
BEGIN
  IF p_signal_name IS NULL OR p_signal_name = '' OR p_signal_id IS NULL OR p_signal_id = '' THEN
    RAISE EXCEPTION 'signal name and signal id are required' USING ERRCODE = '22023';
  END IF;
  SELECT a.rolsuper INTO is_superuser FROM pg_roles a WHERE a.rolname = session_user;
  delivered_by := CASE WHEN is_superuser THEN session_user::text ELSE coalesce(
      (SELECT s FROM unnest(ARRAY['cantdo_authority', 'cantdo_gateway', 'cantdo_worker', 'cantdo_bridge'])
                      WITH ORDINALITY AS u(s, i)
        WHERE pg_has_role(session_user, s, 'MEMBER') ORDER BY i LIMIT 1),
      session_user::text) END;
  IF starts_with(p_signal_name, 'cantdo.') AND NOT is_superuser AND delivered_by <> 'cantdo_authority' THEN
    RAISE EXCEPTION 'signal names under "cantdo." are reserved to the authority' USING ERRCODE = 'insufficient_privilege';
  END IF;
  SELECT * INTO r FROM cantdo.workflow_runs w
   WHERE w.workflow_id = p_workflow_id AND (p_run_id IS NULL OR w.run_id = p_run_id)
   ORDER BY (w.state IN (1, 2)) DESC, w.start_time DESC
   LIMIT 1
   FOR UPDATE;
  IF NOT FOUND THEN
    outcome := 'NOT_FOUND';
    RETURN;
  END IF;
  run_id := r.run_id;
  state := r.state;
  IF r.state = 1 THEN
    outcome := 'NOT_ADMITTED';
    RETURN;
  END IF;
  SELECT s.event_id INTO existing FROM cantdo.workflow_signals s
   WHERE s.run_id = r.run_id AND s.signal_id = p_signal_id;
  IF FOUND THEN
    outcome := 'DUPLICATE';
    event_id := existing;
    RETURN;
  END IF;
  IF r.state <> 2 THEN
    outcome := 'CLOSED';
    RETURN;
  END IF;

  next_id := r.next_event_id;
  INSERT INTO cantdo.workflow_events VALUES (r.run_id, next_id, 50, p_now,
    cantdo.pb_history_event(next_id, p_now, 50, 50,
        cantdo.pb_bytes(1, convert_to(p_signal_name, 'UTF8'))
     || cantdo.pb_bytes(2, convert_to(p_signal_id, 'UTF8'))
     || cantdo.pb_bytes(3, cantdo.pb_bytes(1, convert_to(coalesce(p_payload_type_url, ''), 'UTF8'))
                           || cantdo.pb_bytes(2, p_payload_value))
     || cantdo.pb_bytes(4, convert_to(coalesce(p_identity, ''), 'UTF8'))
     || cantdo.pb_bytes(5, convert_to(delivered_by, 'UTF8'))));
  INSERT INTO cantdo.workflow_signals (run_id, signal_id, event_id) VALUES (r.run_id, p_signal_id, next_id);
  event_id := next_id;
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
  UPDATE cantdo.workflow_runs w SET next_event_id = next_id WHERE w.run_id = r.run_id;
  PERFORM pg_notify('cantdo_workflow_events', r.run_id::text);
  outcome := 'OK';
END
$$;
