-- V0003: the durable workflow engine (libs/workflow, docs/workflow-engine.md).
--
-- A run's history is an append-only list of serialized
-- cantdo.workflow.v1.HistoryEvent rows. workflow_runs.next_event_id is the
-- optimistic-concurrency token: every append updates it from the value the
-- writer read, so a concurrent append makes the loser's UPDATE match no row
-- (ABORTED, HISTORY_CONFLICT). Tasks, timers and signal de-duplication are
-- separate tables written in the same transactions as the events.
--
-- Times are the engine's injected clock, passed as parameters, never now():
-- tests move time by days.

CREATE TABLE cantdo.workflow_runs (
  run_id                uuid PRIMARY KEY,
  workflow_id           text NOT NULL CHECK (workflow_id <> ''),
  workflow_type         text NOT NULL CHECK (workflow_type <> ''),
  task_queue            text NOT NULL CHECK (task_queue <> ''),
  -- cantdo.workflow.v1.WorkflowExecutionState; 1 PENDING_ADMISSION, 2 RUNNING.
  state                 smallint NOT NULL,
  request_id            text,
  requester             text NOT NULL DEFAULT '',
  admission_approval_id text NOT NULL DEFAULT '',
  first_run_id          uuid NOT NULL,
  next_event_id         bigint NOT NULL CHECK (next_event_id >= 1),
  start_time            timestamptz NOT NULL,
  admit_time            timestamptz,
  close_time            timestamptz,
  next_run_id           uuid,
  -- serialized cantdo.workflow.v1.Failure for FAILED / REJECTED / TERMINATED
  failure               bytea
);
-- At most one open run per workflow id.
CREATE UNIQUE INDEX workflow_runs_open_workflow_id ON cantdo.workflow_runs (workflow_id) WHERE state IN (1, 2);
-- Start is idempotent by (workflow id, request id).
CREATE UNIQUE INDEX workflow_runs_request_id ON cantdo.workflow_runs (workflow_id, request_id) WHERE request_id IS NOT NULL;
CREATE INDEX workflow_runs_newest ON cantdo.workflow_runs (start_time DESC, run_id DESC);
CREATE INDEX workflow_runs_by_workflow_id ON cantdo.workflow_runs (workflow_id, start_time DESC);

CREATE TABLE cantdo.workflow_events (
  run_id     uuid NOT NULL REFERENCES cantdo.workflow_runs (run_id),
  event_id   bigint NOT NULL CHECK (event_id > 0),
  event_type smallint NOT NULL,
  event_time timestamptz NOT NULL,
  event      bytea NOT NULL,  -- serialized cantdo.workflow.v1.HistoryEvent
  PRIMARY KEY (run_id, event_id)
);

-- History is append-only, whoever connects.
CREATE FUNCTION cantdo.workflow_events_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'workflow history is append-only' USING ERRCODE = '42501';
END
$$;
CREATE TRIGGER workflow_events_append_only BEFORE UPDATE OR DELETE ON cantdo.workflow_events
  FOR EACH ROW EXECUTE FUNCTION cantdo.workflow_events_append_only();

-- Signal ids already recorded, per run.
CREATE TABLE cantdo.workflow_signals (
  run_id    uuid NOT NULL REFERENCES cantdo.workflow_runs (run_id),
  signal_id text NOT NULL,
  event_id  bigint NOT NULL,
  PRIMARY KEY (run_id, signal_id)
);

-- At most one pending workflow task per run. Leased by holding the row lock
-- (SELECT ... FOR UPDATE SKIP LOCKED) for the few milliseconds of a replay:
-- a dead worker's session ends, its transaction rolls back, the row is free.
CREATE TABLE cantdo.workflow_tasks (
  run_id     uuid PRIMARY KEY REFERENCES cantdo.workflow_runs (run_id),
  task_queue text NOT NULL,
  visible_at timestamptz NOT NULL,
  attempt    int NOT NULL DEFAULT 1
);
CREATE INDEX workflow_tasks_poll ON cantdo.workflow_tasks (task_queue, visible_at);

-- Scheduled activities not yet finished. Leased durably (lease_id,
-- lease_expires_at) because an attempt runs outside any transaction; an
-- expired lease is a timed-out attempt.
CREATE TABLE cantdo.activity_tasks (
  run_id             uuid NOT NULL REFERENCES cantdo.workflow_runs (run_id),
  scheduled_event_id bigint NOT NULL,
  task_queue         text NOT NULL,
  activity_type      text NOT NULL,
  attempt            int NOT NULL DEFAULT 0,  -- attempts started so far
  visible_at         timestamptz NOT NULL,
  scheduled_at       timestamptz NOT NULL,
  lease_id           uuid,
  lease_owner        text,
  attempt_started_at timestamptz,
  lease_expires_at   timestamptz,
  last_failure       bytea,  -- serialized Failure of the previous attempt
  PRIMARY KEY (run_id, scheduled_event_id)
);
CREATE INDEX activity_tasks_poll ON cantdo.activity_tasks (task_queue, visible_at) WHERE lease_id IS NULL;
CREATE INDEX activity_tasks_leases ON cantdo.activity_tasks (task_queue, lease_expires_at) WHERE lease_id IS NOT NULL;

CREATE TABLE cantdo.workflow_timers (
  run_id           uuid NOT NULL REFERENCES cantdo.workflow_runs (run_id),
  timer_id         text NOT NULL,
  started_event_id bigint NOT NULL,
  task_queue       text NOT NULL,
  fire_at          timestamptz NOT NULL,
  PRIMARY KEY (run_id, timer_id)
);
CREATE INDEX workflow_timers_due ON cantdo.workflow_timers (task_queue, fire_at);

-- ---- Protobuf encoding, just enough for the events SQL writes itself ----

CREATE FUNCTION cantdo.pb_varint(v bigint) RETURNS bytea
LANGUAGE plpgsql IMMUTABLE STRICT SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  out bytea := ''::bytea;
  b int;
BEGIN
  IF v < 0 THEN RAISE EXCEPTION 'pb_varint: negative value'; END IF;
  LOOP
    b := (v & 127)::int;
    v := v >> 7;
    IF v = 0 THEN
      RETURN out || set_byte('\x00'::bytea, 0, b);
    END IF;
    out := out || set_byte('\x00'::bytea, 0, b | 128);
  END LOOP;
END
$$;

-- A length-delimited field (strings, bytes, messages); omitted when empty,
-- as proto3 does.
CREATE FUNCTION cantdo.pb_bytes(field int, data bytea) RETURNS bytea
LANGUAGE sql IMMUTABLE SET search_path = pg_catalog, pg_temp AS $$
  SELECT CASE WHEN data IS NULL OR length(data) = 0 THEN ''::bytea
    ELSE cantdo.pb_varint((field::bigint << 3) | 2) || cantdo.pb_varint(length(data)) || data END
$$;

CREATE FUNCTION cantdo.pb_int(field int, v bigint) RETURNS bytea
LANGUAGE sql IMMUTABLE SET search_path = pg_catalog, pg_temp AS $$
  SELECT CASE WHEN v IS NULL OR v = 0 THEN ''::bytea
    ELSE cantdo.pb_varint(field::bigint << 3) || cantdo.pb_varint(v) END
$$;

-- HistoryEvent{event_id, event_time, event_type} plus one attributes field.
CREATE FUNCTION cantdo.pb_history_event(event_id bigint, event_time timestamptz, event_type int,
                                        attributes_field int, attributes bytea) RETURNS bytea
LANGUAGE sql IMMUTABLE SET search_path = pg_catalog, pg_temp AS $$
  SELECT cantdo.pb_int(1, event_id)
      || cantdo.pb_bytes(2, cantdo.pb_int(1, floor(extract(epoch FROM event_time))::bigint)
                         || cantdo.pb_int(2, (extract(microseconds FROM event_time)::bigint % 1000000) * 1000))
      || cantdo.pb_int(3, event_type)
      || cantdo.pb_varint((attributes_field::bigint << 3) | 2) || cantdo.pb_varint(length(attributes)) || attributes
$$;

-- ---- Signals ----
--
-- Appends SignalReceived (de-duplicated by signal_id per run) and schedules
-- a workflow task in the caller's transaction. SECURITY DEFINER so that the
-- authority can deliver "approval decided" inside its own transaction with
-- EXECUTE on this function and no privilege on the tables.
--
-- outcome: OK, DUPLICATE (event_id = the first delivery's), NOT_FOUND,
-- NOT_ADMITTED (run pending admission), CLOSED.
CREATE FUNCTION cantdo.workflow_signal(
    p_workflow_id text, p_run_id uuid, p_signal_name text, p_signal_id text,
    p_payload_type_url text, p_payload_value bytea, p_identity text, p_now timestamptz,
    OUT outcome text, OUT run_id uuid, OUT event_id bigint, OUT state smallint)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  r cantdo.workflow_runs%ROWTYPE;
  next_id bigint;
  existing bigint;
BEGIN
  IF p_signal_name IS NULL OR p_signal_name = '' OR p_signal_id IS NULL OR p_signal_id = '' THEN
    RAISE EXCEPTION 'signal name and signal id are required' USING ERRCODE = '22023';
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
     || cantdo.pb_bytes(4, convert_to(coalesce(p_identity, ''), 'UTF8'))));
  INSERT INTO cantdo.workflow_signals VALUES (r.run_id, p_signal_id, next_id);
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

-- Functions are executable by PUBLIC by default; not these.
REVOKE ALL ON FUNCTION cantdo.pb_varint(bigint), cantdo.pb_bytes(int, bytea), cantdo.pb_int(int, bigint),
  cantdo.pb_history_event(bigint, timestamptz, int, int, bytea),
  cantdo.workflow_signal(text, uuid, text, text, text, bytea, text, timestamptz),
  cantdo.workflow_events_append_only() FROM PUBLIC;

-- ---- Grants ----

-- The worker runs workflow and activity tasks: reads runs and history,
-- appends events, closes runs, starts continue-as-new runs, and manages
-- tasks and timers.
GRANT SELECT, INSERT, UPDATE ON cantdo.workflow_runs TO cantdo_worker;
GRANT SELECT, INSERT ON cantdo.workflow_events TO cantdo_worker;
GRANT SELECT, INSERT ON cantdo.workflow_signals TO cantdo_worker;
GRANT SELECT, INSERT, UPDATE, DELETE ON cantdo.workflow_tasks, cantdo.activity_tasks, cantdo.workflow_timers
  TO cantdo_worker;

-- The gateway starts, admits, rejects, queries, cancels, terminates and
-- signals runs.
GRANT SELECT, INSERT, UPDATE ON cantdo.workflow_runs TO cantdo_gateway;
GRANT SELECT, INSERT ON cantdo.workflow_events TO cantdo_gateway;
GRANT SELECT, INSERT ON cantdo.workflow_signals TO cantdo_gateway;
GRANT SELECT, INSERT, DELETE ON cantdo.workflow_tasks TO cantdo_gateway;
GRANT SELECT, UPDATE, DELETE ON cantdo.activity_tasks TO cantdo_gateway;
GRANT SELECT, DELETE ON cantdo.workflow_timers TO cantdo_gateway;
GRANT EXECUTE ON FUNCTION cantdo.workflow_signal(text, uuid, text, text, text, bytea, text, timestamptz)
  TO cantdo_gateway;

-- The authority only delivers signals (approval decided), in its own
-- transaction: no table privilege at all.
GRANT EXECUTE ON FUNCTION cantdo.workflow_signal(text, uuid, text, text, text, bytea, text, timestamptz)
  TO cantdo_authority;
