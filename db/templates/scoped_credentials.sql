-- Scoped execution credentials, version 1: the target database's half of
-- cantdo's parameter-scoped credentials. docs/scoped-credentials.md is the
-- guide; this file is meant to be copied, unchanged, into the target
-- database's own migrations (the demo platform applies it as
-- db/demo/migrations/V0002, a link to this file).
--
-- When cantdo's authority releases a PostgreSQL login at ClaimGrant, it
-- creates the role (VALID UNTIL, IN ROLE the policy's privilege group) and
-- records in cantdo_scope.credentials what the approver approved, in ONE
-- transaction on this database; at consume, revoke or expiry it deletes the
-- record and drops the role. The privilege group holds no table privileges
-- at all, only EXECUTE on the platform's own SECURITY DEFINER functions, one
-- per approvable action. Each such function starts with
--
--   s := cantdo_scope.take('refund.issue');           -- the caller's scope, one use spent
--   PERFORM cantdo_scope.require_equal(s, 'customer_id', p_customer_id);
--   PERFORM cantdo_scope.require_at_most(s, 'amount_cents', p_amount_cents);
--
-- and then does the write. A check that fails raises SQLSTATE 42501
-- (insufficient_privilege) with a message starting "credential scope:", and
-- the whole transaction, the spent use included, rolls back.
--
-- What this file creates:
--   schema   cantdo_scope (owned by the applying role; nobody else may use it
--            except through the two roles below)
--   table    cantdo_scope.credentials: one row per live credential
--   function cantdo_scope.take(action), require_equal(scope, key, value),
--            require_at_most(scope, key, value)
--   roles    (cluster-wide, NOLOGIN, created if absent)
--            cantdo_credential_issuer  records and deletes scopes; the login
--                                      the authority uses on this database
--                                      (--target-db-admin-dsn) is a member
--            cantdo_scope_checker      reads and spends scopes and runs the
--                                      checks; the owner of the platform's
--                                      scoped functions is a member
--
-- Requirements: PostgreSQL 13 or later; run as a role that may create
-- schemas in this database and (for the two roles) roles in the cluster.

DO $$
DECLARE
  role_name text;
BEGIN
  -- Roles are cluster-wide while this runs per database: tolerate a
  -- concurrent creation winning the race.
  FOREACH role_name IN ARRAY ARRAY['cantdo_credential_issuer', 'cantdo_scope_checker']
  LOOP
    IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = role_name) THEN
      BEGIN
        EXECUTE format('CREATE ROLE %I NOLOGIN', role_name);
      EXCEPTION
        WHEN duplicate_object OR unique_violation THEN NULL;
      END;
    END IF;
  END LOOP;
END
$$;

CREATE SCHEMA cantdo_scope AUTHORIZATION CURRENT_USER;
REVOKE ALL ON SCHEMA cantdo_scope FROM PUBLIC;
GRANT USAGE ON SCHEMA cantdo_scope TO cantdo_credential_issuer, cantdo_scope_checker;

-- One row per live credential, written by the authority in the transaction
-- that creates the role and deleted with it. `parameters` are the approved
-- parameters exactly as the authority recorded them (its canonical JSON
-- object); `uses_left` counts the scoped-function calls the login may still
-- make; `valid_until` equals the role's VALID UNTIL, which PostgreSQL checks
-- only when a session starts, so take() checks it on every call too.
CREATE TABLE cantdo_scope.credentials (
  role_name   name PRIMARY KEY,
  grant_id    text NOT NULL,
  approval_id text NOT NULL,
  approved_by text NOT NULL,
  action      text NOT NULL,
  resource    text NOT NULL,
  parameters  jsonb NOT NULL CHECK (jsonb_typeof(parameters) = 'object'),
  uses_left   integer NOT NULL CHECK (uses_left >= 0),
  valid_until timestamptz NOT NULL,
  created_at  timestamptz NOT NULL DEFAULT now()
);
REVOKE ALL ON cantdo_scope.credentials FROM PUBLIC;
GRANT SELECT, INSERT, DELETE ON cantdo_scope.credentials TO cantdo_credential_issuer;
GRANT SELECT, UPDATE (uses_left) ON cantdo_scope.credentials TO cantdo_scope_checker;

-- The calling login's scope for `p_action`, with one use spent. The row
-- stays locked until the caller's transaction ends, so concurrent sessions
-- of one login spend its uses one after the other. The login is
-- session_user: inside a SECURITY DEFINER function current_user is the
-- function's owner, and a login cannot change its session_user.
CREATE FUNCTION cantdo_scope.take(p_action text) RETURNS cantdo_scope.credentials
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  s cantdo_scope.credentials;
BEGIN
  SELECT * INTO s FROM cantdo_scope.credentials c WHERE c.role_name = session_user FOR UPDATE;
  IF NOT FOUND THEN
    RAISE EXCEPTION USING ERRCODE = 'insufficient_privilege',
      MESSAGE = format('credential scope: login %s holds no scoped credential', session_user);
  END IF;
  IF s.action IS DISTINCT FROM p_action THEN
    RAISE EXCEPTION USING ERRCODE = 'insufficient_privilege',
      MESSAGE = format('credential scope: approved for %s, not %s', s.action, p_action);
  END IF;
  IF s.valid_until <= clock_timestamp() THEN
    RAISE EXCEPTION USING ERRCODE = 'insufficient_privilege',
      MESSAGE = format('credential scope: expired at %s', s.valid_until);
  END IF;
  IF s.uses_left < 1 THEN
    RAISE EXCEPTION USING ERRCODE = 'insufficient_privilege',
      MESSAGE = format('credential scope: no uses left for %s (grant %s)', s.action, s.grant_id);
  END IF;
  UPDATE cantdo_scope.credentials c SET uses_left = c.uses_left - 1 WHERE c.role_name = s.role_name;
  s.uses_left := s.uses_left - 1;
  RETURN s;
END
$$;

-- The value the approval bound to `p_key` is exactly `p_value` (compared
-- as text: a JSON string's contents, or a number's or boolean's JSON text).
-- A key the approval did not bind fails: a function checks only what was
-- approved.
CREATE FUNCTION cantdo_scope.require_equal(s cantdo_scope.credentials, p_key text, p_value text) RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
  IF NOT (s.parameters ? p_key) OR jsonb_typeof(s.parameters -> p_key) NOT IN ('string', 'number', 'boolean') THEN
    RAISE EXCEPTION USING ERRCODE = 'insufficient_privilege',
      MESSAGE = format('credential scope: the approval binds no %s', p_key);
  END IF;
  IF p_value IS NULL OR p_value <> (s.parameters ->> p_key) THEN
    RAISE EXCEPTION USING ERRCODE = 'insufficient_privilege',
      MESSAGE = format('credential scope: %s %s is not the approved %s', p_key, coalesce(p_value, 'NULL'),
                       s.parameters ->> p_key);
  END IF;
END
$$;

-- `p_value` is at most the number the approval bound to `p_key`.
CREATE FUNCTION cantdo_scope.require_at_most(s cantdo_scope.credentials, p_key text, p_value numeric) RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
  IF jsonb_typeof(s.parameters -> p_key) IS DISTINCT FROM 'number' THEN
    RAISE EXCEPTION USING ERRCODE = 'insufficient_privilege',
      MESSAGE = format('credential scope: the approval binds no number %s', p_key);
  END IF;
  IF p_value IS NULL OR p_value > (s.parameters ->> p_key)::numeric THEN
    RAISE EXCEPTION USING ERRCODE = 'insufficient_privilege',
      MESSAGE = format('credential scope: %s %s exceeds the approved %s', p_key, coalesce(p_value::text, 'NULL'),
                       s.parameters ->> p_key);
  END IF;
END
$$;

REVOKE ALL ON FUNCTION cantdo_scope.take(text), cantdo_scope.require_equal(cantdo_scope.credentials, text, text),
  cantdo_scope.require_at_most(cantdo_scope.credentials, text, numeric) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION cantdo_scope.take(text), cantdo_scope.require_equal(cantdo_scope.credentials, text, text),
  cantdo_scope.require_at_most(cantdo_scope.credentials, text, numeric) TO cantdo_scope_checker;
