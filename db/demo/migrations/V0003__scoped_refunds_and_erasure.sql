-- Demo customer platform, V0003: refunds and erasure only within the scope
-- of the credential a claimed grant released. The pattern is
-- db/templates/scoped_credentials.sql (applied as V0002) and
-- docs/scoped-credentials.md; this is the platform's half of it.
--
-- Until V0003 a released login was a member of may_issue_refunds (INSERT on
-- refunds) or may_erase_customer_data (DELETE and UPDATE across the personal
-- tables), so a refund login could refund any customer any amount any number
-- of times and an erasure login could erase every customer. From here on the
-- two groups hold no table privilege at all. Each may EXECUTE one function,
-- which checks every argument against the scope the authority recorded for
-- the calling login and spends its one use:
--
--   platform.issue_refund(customer_id, amount_cents, currency, reason,
--                         idempotency_key)             may_issue_refunds
--     refund.issue: customer_id equal to the approved one, amount_cents at
--     most the approved one, currency the approved one (or, if the approval
--     names none, the customer's); one refund per grant.
--   platform.erase_customer_data(customer_id, idempotency_key)
--                                                      may_erase_customer_data
--     customer_data.delete: customer_id equal to the approved one.
--
-- Both are SECURITY DEFINER and owned by platform_scoped_actions (NOLOGIN,
-- created if absent, a member of cantdo_scope_checker), which holds exactly
-- the table privileges these two writes need, so even the functions cannot
-- touch anything else. The grant, approval and approver recorded on the rows
-- come from the scope (the authority's record), never from the caller, and
-- created_by is the calling login (session_user).
-- Errors: a scope refusal is SQLSTATE 42501 ("credential scope: ..."), an
-- unknown customer P0002 (no_data_found).

DO $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = 'platform_scoped_actions') THEN
    BEGIN
      CREATE ROLE platform_scoped_actions NOLOGIN IN ROLE cantdo_scope_checker;
    EXCEPTION
      WHEN duplicate_object OR unique_violation THEN NULL;
    END;
  END IF;
END
$$;

-- The released logins' groups: the functions below and nothing else.
REVOKE ALL ON ALL TABLES IN SCHEMA platform FROM may_issue_refunds, may_erase_customer_data;

-- At most one refund per grant, whatever the idempotency key.
CREATE UNIQUE INDEX refunds_one_per_grant ON platform.refunds (grant_id);

-- What the two functions do, and no more.
GRANT USAGE ON SCHEMA platform TO platform_scoped_actions;
GRANT SELECT ON platform.customers, platform.payments, platform.refunds, platform.users, platform.sessions,
  platform.api_keys, platform.invoices, platform.billing_exports, platform.erasures TO platform_scoped_actions;
GRANT INSERT ON platform.refunds, platform.erasures TO platform_scoped_actions;
GRANT DELETE ON platform.users, platform.sessions, platform.api_keys TO platform_scoped_actions;
GRANT UPDATE (company_name, contact_name, contact_email, phone, address_line, postal_code, city, vat_id, status,
  anonymised_at) ON platform.customers TO platform_scoped_actions;
GRANT UPDATE (billing_name, billing_email, billing_address) ON platform.invoices TO platform_scoped_actions;
GRANT UPDATE (card_last4, payer_name) ON platform.payments TO platform_scoped_actions;
GRANT UPDATE (content) ON platform.billing_exports TO platform_scoped_actions;

-- Both functions start here: the calling login's scope for `p_action`
-- (one use spent), which must name this customer, and the customer's row,
-- locked, so a refund and an erasure of one customer do not interleave.
-- Runs as its caller, the functions' owner.
CREATE FUNCTION platform.take_for_customer(p_action text, p_customer_id text) RETURNS cantdo_scope.credentials
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  s cantdo_scope.credentials;
BEGIN
  s := cantdo_scope.take(p_action);
  PERFORM cantdo_scope.require_equal(s, 'customer_id', p_customer_id);
  PERFORM 1 FROM platform.customers c WHERE c.customer_id = p_customer_id FOR UPDATE;
  IF NOT FOUND THEN
    RAISE EXCEPTION USING ERRCODE = 'no_data_found', MESSAGE = format('no customer %s', p_customer_id);
  END IF;
  RETURN s;
END
$$;

-- Writes a refund against the customer's latest payment. Idempotent per
-- key: a retry (after a crash, with a re-claimed grant's fresh login)
-- returns the refund its grant already wrote.
CREATE FUNCTION platform.issue_refund(p_customer_id text, p_amount_cents bigint, p_currency text, p_reason text,
                                      p_idempotency_key text) RETURNS platform.refunds
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  s cantdo_scope.credentials;
  r platform.refunds;
  customer_currency text;
BEGIN
  s := platform.take_for_customer('refund.issue', p_customer_id);
  PERFORM cantdo_scope.require_at_most(s, 'amount_cents', p_amount_cents);
  SELECT c.currency INTO customer_currency FROM platform.customers c WHERE c.customer_id = p_customer_id;
  IF s.parameters ? 'currency' THEN
    PERFORM cantdo_scope.require_equal(s, 'currency', p_currency);
  ELSIF p_currency IS DISTINCT FROM customer_currency THEN
    RAISE EXCEPTION USING ERRCODE = 'insufficient_privilege',
      MESSAGE = format('credential scope: currency %s is not the customer''s %s (the approval names none)',
                       coalesce(p_currency, 'NULL'), customer_currency);
  END IF;

  SELECT * INTO r FROM platform.refunds f WHERE f.idempotency_key = p_idempotency_key;
  IF FOUND THEN
    IF r.grant_id <> s.grant_id THEN
      RAISE EXCEPTION USING ERRCODE = 'unique_violation',
        MESSAGE = 'this idempotency key belongs to another grant''s refund';
    END IF;
    RETURN r;
  END IF;
  INSERT INTO platform.refunds (customer_id, payment_id, amount_cents, currency, reason, idempotency_key, grant_id,
                                approval_id, approved_by, created_by)
  VALUES (p_customer_id,
          (SELECT p.payment_id FROM platform.payments p WHERE p.customer_id = p_customer_id
            ORDER BY p.paid_at DESC, p.payment_id DESC LIMIT 1),
          p_amount_cents, p_currency, p_reason, p_idempotency_key, s.grant_id, s.approval_id, s.approved_by,
          session_user)
  RETURNING * INTO r;
  RETURN r;
END
$$;

-- Erases the customer's personal data (docs/offboarding.md, "Erasure: what
-- goes, what stays") and records it. Once per customer: a customer already
-- erased gets its erasure record back.
CREATE FUNCTION platform.erase_customer_data(p_customer_id text, p_idempotency_key text) RETURNS platform.erasures
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  s cantdo_scope.credentials;
  e platform.erasures;
  n_sessions int;
  n_keys int;
  n_users int;
  n_invoices int;
  n_payments int;
  n_exports int;
BEGIN
  s := platform.take_for_customer('customer_data.delete', p_customer_id);
  SELECT * INTO e FROM platform.erasures x WHERE x.customer_id = p_customer_id;
  IF FOUND THEN
    RETURN e;
  END IF;

  -- Personal data goes; accounting records stay, stripped of it.
  DELETE FROM platform.sessions t WHERE t.customer_id = p_customer_id;
  GET DIAGNOSTICS n_sessions = ROW_COUNT;
  DELETE FROM platform.api_keys t WHERE t.customer_id = p_customer_id;
  GET DIAGNOSTICS n_keys = ROW_COUNT;
  DELETE FROM platform.users t WHERE t.customer_id = p_customer_id;
  GET DIAGNOSTICS n_users = ROW_COUNT;
  UPDATE platform.customers c SET company_name = 'erased customer ' || c.customer_id, contact_name = NULL,
    contact_email = NULL, phone = NULL, address_line = NULL, postal_code = NULL, city = NULL, vat_id = NULL,
    status = 'closed', anonymised_at = now()
  WHERE c.customer_id = p_customer_id;
  UPDATE platform.invoices t SET billing_name = NULL, billing_email = NULL, billing_address = NULL
  WHERE t.customer_id = p_customer_id;
  GET DIAGNOSTICS n_invoices = ROW_COUNT;
  UPDATE platform.payments t SET payer_name = NULL, card_last4 = NULL WHERE t.customer_id = p_customer_id;
  GET DIAGNOSTICS n_payments = ROW_COUNT;
  UPDATE platform.billing_exports t SET content = NULL WHERE t.customer_id = p_customer_id AND t.content IS NOT NULL;
  GET DIAGNOSTICS n_exports = ROW_COUNT;
  INSERT INTO platform.erasures (customer_id, idempotency_key, grant_id, approval_id, approved_by, users_deleted,
                                 sessions_deleted, api_keys_deleted, invoices_anonymised, payments_anonymised,
                                 exports_redacted, created_by)
  VALUES (p_customer_id, p_idempotency_key, s.grant_id, s.approval_id, s.approved_by, n_users, n_sessions, n_keys,
          n_invoices, n_payments, n_exports, session_user)
  RETURNING * INTO e;
  RETURN e;
END
$$;

ALTER FUNCTION platform.take_for_customer(text, text) OWNER TO platform_scoped_actions;
ALTER FUNCTION platform.issue_refund(text, bigint, text, text, text) OWNER TO platform_scoped_actions;
ALTER FUNCTION platform.erase_customer_data(text, text) OWNER TO platform_scoped_actions;
REVOKE ALL ON FUNCTION platform.take_for_customer(text, text), platform.issue_refund(text, bigint, text, text, text),
  platform.erase_customer_data(text, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION platform.issue_refund(text, bigint, text, text, text) TO may_issue_refunds;
GRANT EXECUTE ON FUNCTION platform.erase_customer_data(text, text) TO may_erase_customer_data;
