-- Demo customer platform, V0001: the schema and privileges of a small SaaS
-- company's production system, which the offboarding workflow acts on.
-- It lives in its own database (default cantdo_demo), never in cantdo's.
-- docs/offboarding.md describes the data and the erasure choices.
--
-- Privileges mirror production. Three NOLOGIN groups (cluster-wide, so
-- creation tolerates their existing already, as in db/migrations/V0001):
--   cantdo_demo_worker       the worker's own login is a member: read,
--                            revoke access, export billing data, cancel
--                            subscriptions. It can neither refund nor erase.
--   may_issue_refunds        INSERT on refunds.
--   may_erase_customer_data  DELETE of personal rows, UPDATE of personal
--                            columns, INSERT of the erasure record.
-- Nobody logs in as the last two: the authority creates a short-lived login
-- IN ROLE one of them when a grant is claimed (deploy/policy.json names them
-- as credential targets) and drops it when the grant is consumed.

DO $$
DECLARE
  role_name text;
BEGIN
  FOREACH role_name IN ARRAY ARRAY['cantdo_demo_worker', 'may_issue_refunds', 'may_erase_customer_data']
  LOOP
    IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = role_name) THEN
      BEGIN
        EXECUTE format('CREATE ROLE %I NOLOGIN', role_name);
      EXCEPTION
        WHEN duplicate_object OR unique_violation THEN NULL;
      END;
    END IF;
  END LOOP;
  -- Only the three groups (and the owner) may connect to this database.
  EXECUTE format('REVOKE ALL ON DATABASE %I FROM PUBLIC', current_database());
  EXECUTE format('GRANT CONNECT ON DATABASE %I TO cantdo_demo_worker, may_issue_refunds, may_erase_customer_data',
                 current_database());
END
$$;

REVOKE ALL ON SCHEMA public FROM PUBLIC;
CREATE SCHEMA platform AUTHORIZATION CURRENT_USER;

-- Customers are companies; their users are people (personal data).
CREATE TABLE platform.customers (
  customer_id   text PRIMARY KEY CHECK (customer_id ~ '^cus_[0-9a-z]+$'),
  company_name  text NOT NULL,
  contact_name  text,
  contact_email text,
  phone         text,
  address_line  text,
  postal_code   text,
  city          text,
  country       text NOT NULL,
  vat_id        text,
  currency      text NOT NULL DEFAULT 'EUR',
  status        text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'offboarding', 'closed')),
  created_at    timestamptz NOT NULL,
  anonymised_at timestamptz
);

CREATE TABLE platform.users (
  user_id        text PRIMARY KEY,
  customer_id    text NOT NULL REFERENCES platform.customers,
  email          text NOT NULL,
  full_name      text NOT NULL,
  role           text NOT NULL CHECK (role IN ('owner', 'admin', 'member')),
  active         boolean NOT NULL DEFAULT true,
  created_at     timestamptz NOT NULL,
  last_login_at  timestamptz,
  deactivated_at timestamptz
);
CREATE INDEX users_customer ON platform.users (customer_id);

CREATE TABLE platform.sessions (
  session_id  text PRIMARY KEY,
  user_id     text NOT NULL REFERENCES platform.users ON DELETE CASCADE,
  customer_id text NOT NULL REFERENCES platform.customers,
  ip_address  inet,
  user_agent  text,
  created_at  timestamptz NOT NULL,
  expires_at  timestamptz NOT NULL
);
CREATE INDEX sessions_customer ON platform.sessions (customer_id);

CREATE TABLE platform.api_keys (
  key_id       text PRIMARY KEY,
  customer_id  text NOT NULL REFERENCES platform.customers,
  name         text NOT NULL,
  key_prefix   text NOT NULL,
  key_sha256   text NOT NULL,
  created_by   text REFERENCES platform.users ON DELETE SET NULL,
  created_at   timestamptz NOT NULL,
  last_used_at timestamptz,
  revoked_at   timestamptz
);
CREATE INDEX api_keys_customer ON platform.api_keys (customer_id);

CREATE TABLE platform.subscriptions (
  subscription_id      text PRIMARY KEY,
  customer_id          text NOT NULL REFERENCES platform.customers,
  plan                 text NOT NULL,
  price_cents          bigint NOT NULL CHECK (price_cents >= 0),
  currency             text NOT NULL,
  status               text NOT NULL CHECK (status IN ('active', 'canceled')),
  started_at           timestamptz NOT NULL,
  current_period_start timestamptz NOT NULL,
  current_period_end   timestamptz NOT NULL CHECK (current_period_end > current_period_start),
  canceled_at          timestamptz
);
CREATE INDEX subscriptions_customer ON platform.subscriptions (customer_id);

-- Invoices, payments and refunds are accounting records: kept (anonymised)
-- after an erasure.
CREATE TABLE platform.invoices (
  invoice_id      text PRIMARY KEY,
  customer_id     text NOT NULL REFERENCES platform.customers,
  subscription_id text REFERENCES platform.subscriptions,
  number          text NOT NULL UNIQUE,
  period_start    timestamptz NOT NULL,
  period_end      timestamptz NOT NULL,
  amount_cents    bigint NOT NULL CHECK (amount_cents >= 0),
  currency        text NOT NULL,
  status          text NOT NULL CHECK (status IN ('open', 'paid', 'void')),
  issued_at       timestamptz NOT NULL,
  billing_name    text,
  billing_email   text,
  billing_address text
);
CREATE INDEX invoices_customer ON platform.invoices (customer_id);

CREATE TABLE platform.payments (
  payment_id   text PRIMARY KEY,
  invoice_id   text NOT NULL REFERENCES platform.invoices,
  customer_id  text NOT NULL REFERENCES platform.customers,
  amount_cents bigint NOT NULL CHECK (amount_cents > 0),
  currency     text NOT NULL,
  method       text NOT NULL CHECK (method IN ('card', 'sepa_debit')),
  card_last4   text,
  payer_name   text,
  paid_at      timestamptz NOT NULL
);
CREATE INDEX payments_customer ON platform.payments (customer_id);

-- A refund is written once per idempotency key (the workflow activity's),
-- so a retry after a crash writes nothing twice. created_by records the
-- database login that wrote it: a short-lived grant credential.
CREATE TABLE platform.refunds (
  refund_id       uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  customer_id     text NOT NULL REFERENCES platform.customers,
  payment_id      text REFERENCES platform.payments,
  amount_cents    bigint NOT NULL CHECK (amount_cents > 0),
  currency        text NOT NULL,
  reason          text NOT NULL,
  idempotency_key text NOT NULL UNIQUE,
  grant_id        text NOT NULL,
  approval_id     text NOT NULL,
  approved_by     text NOT NULL,
  created_by      name NOT NULL DEFAULT current_user,
  created_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX refunds_customer ON platform.refunds (customer_id);

CREATE TABLE platform.billing_exports (
  export_id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  customer_id        text NOT NULL REFERENCES platform.customers,
  idempotency_key    text NOT NULL UNIQUE,
  invoice_count      int NOT NULL,
  payment_count      int NOT NULL,
  total_billed_cents bigint NOT NULL,
  total_paid_cents   bigint NOT NULL,
  -- Lowercase hex SHA-256 of content::text, computed when written; kept
  -- after an erasure nulls the content.
  content_sha256     text NOT NULL,
  content            jsonb,
  created_by         name NOT NULL DEFAULT current_user,
  created_at         timestamptz NOT NULL DEFAULT now()
);

-- One row per erased customer: what was erased, on whose approval.
CREATE TABLE platform.erasures (
  customer_id          text PRIMARY KEY REFERENCES platform.customers,
  idempotency_key      text NOT NULL UNIQUE,
  grant_id             text NOT NULL,
  approval_id          text NOT NULL,
  approved_by          text NOT NULL,
  users_deleted        int NOT NULL DEFAULT 0,
  sessions_deleted     int NOT NULL DEFAULT 0,
  api_keys_deleted     int NOT NULL DEFAULT 0,
  invoices_anonymised  int NOT NULL DEFAULT 0,
  payments_anonymised  int NOT NULL DEFAULT 0,
  exports_redacted     int NOT NULL DEFAULT 0,
  created_by           name NOT NULL DEFAULT current_user,
  erased_at            timestamptz NOT NULL DEFAULT now()
);

GRANT USAGE ON SCHEMA platform TO cantdo_demo_worker, may_issue_refunds, may_erase_customer_data;

-- The worker: reads everything; revokes access (users deactivated, sessions
-- deleted, API keys revoked), exports billing data, cancels subscriptions.
-- No INSERT on refunds, no DELETE of users, no UPDATE of personal columns.
GRANT SELECT ON ALL TABLES IN SCHEMA platform TO cantdo_demo_worker;
GRANT UPDATE (status) ON platform.customers TO cantdo_demo_worker;
GRANT UPDATE (active, deactivated_at) ON platform.users TO cantdo_demo_worker;
GRANT DELETE ON platform.sessions TO cantdo_demo_worker;
GRANT UPDATE (revoked_at) ON platform.api_keys TO cantdo_demo_worker;
GRANT UPDATE (status, canceled_at) ON platform.subscriptions TO cantdo_demo_worker;
GRANT INSERT ON platform.billing_exports TO cantdo_demo_worker;

-- Refunds: written only with a claimed refund.issue grant's credential.
GRANT SELECT ON platform.customers, platform.payments, platform.refunds TO may_issue_refunds;
GRANT INSERT ON platform.refunds TO may_issue_refunds;

-- Erasure: only with a claimed customer_data.delete grant's credential.
GRANT SELECT, DELETE ON platform.users, platform.sessions, platform.api_keys TO may_erase_customer_data;
GRANT SELECT ON platform.customers, platform.invoices, platform.payments, platform.billing_exports,
  platform.erasures TO may_erase_customer_data;
GRANT UPDATE (company_name, contact_name, contact_email, phone, address_line, postal_code, city, vat_id, status,
  anonymised_at) ON platform.customers TO may_erase_customer_data;
GRANT UPDATE (billing_name, billing_email, billing_address) ON platform.invoices TO may_erase_customer_data;
GRANT UPDATE (card_last4, payer_name) ON platform.payments TO may_erase_customer_data;
GRANT UPDATE (content) ON platform.billing_exports TO may_erase_customer_data;
GRANT INSERT ON platform.erasures TO may_erase_customer_data;
