#include "cantdo/demo/demo_platform.hpp"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "cantdo/base/status.hpp"
#include "cantdo/db/demo_migrations.hpp"
#include "cantdo/pg/transaction.hpp"

namespace cantdo::demo {
namespace {

// h(key): a non-negative 60-bit hash, the only source of "randomness" in the
// seed, so the data is a pure function of (seed, row number, now).
constexpr char kHashFunction[] =
    "CREATE OR REPLACE FUNCTION pg_temp.h(k text) RETURNS bigint LANGUAGE sql IMMUTABLE AS "
    "$$ SELECT ('x' || substr(md5(k), 1, 15))::bit(60)::bigint $$";

// $1 customers, $2 seed, $3 now. Word lists make the rows look like a real
// European B2B SaaS customer base; prices are monthly, in cents.
constexpr char kSeedCustomers[] = R"sql(
WITH words AS (
  SELECT ARRAY['Alder','Brightline','Copperleaf','Driftwood','Evergreen','Fjord','Granite','Harbor','Ironbridge',
               'Juniper','Keystone','Lumen','Meridian','Northwind','Oakridge','Pinecrest','Quarry','Riverstone',
               'Saltmarsh','Tidewater','Umbra','Vantage','Westfield','Yarrow','Zephyr'] AS stem,
         ARRAY['Analytics','Logistics','Robotics','Health','Foods','Energy','Media','Labs','Systems','Retail',
               'Finance','Mobility'] AS trade,
         ARRAY['Anna','Ben','Clara','David','Elif','Felix','Greta','Hugo','Ines','Jonas','Katrin','Luca','Mira',
               'Noah','Olga','Paul','Rosa','Sven','Tara','Yusuf'] AS first,
         ARRAY['Andersen','Becker','Costa','Dubois','Eriksson','Fischer','Garcia','Hansen','Jansen','Klein',
               'Lindqvist','Moreau','Novak','Olsen','Petrov','Rossi','Schmidt','Torres','Visser','Weber'] AS last,
         ARRAY['DE','FR','NL','SE','ES','IT','AT','IE','GB','DK'] AS country,
         ARRAY['Berlin','Paris','Amsterdam','Stockholm','Madrid','Milan','Vienna','Dublin','London','Copenhagen']
           AS city,
         ARRAY['GmbH','SAS','B.V.','AB','S.L.','S.r.l.','GmbH','Ltd','Ltd','ApS'] AS suffix,
         ARRAY['Harbour Street','Market Square','Station Road','Linden Avenue','Mill Lane','Castle Hill',
               'Canal Walk','Park Row'] AS street
), c AS (
  SELECT i, pg_temp.h($2::text || ':customer:' || i) AS r FROM generate_series(1, $1::int) AS i
)
INSERT INTO platform.customers (customer_id, company_name, contact_name, contact_email, phone, address_line,
                                postal_code, city, country, vat_id, currency, status, created_at)
SELECT 'cus_' || lpad(i::text, 6, '0'),
       stem[1 + r % 25] || ' ' || trade[1 + (r / 25) % 12] || ' ' || suffix[1 + (r / 300) % 10],
       first[1 + (r / 3000) % 20] || ' ' || last[1 + (r / 60000) % 20],
       lower(first[1 + (r / 3000) % 20] || '.' || last[1 + (r / 60000) % 20]) || '@' ||
         lower(stem[1 + r % 25] || trade[1 + (r / 25) % 12]) || '-' || i || '.example',
       '+' || (30 + (r / 300) % 10) || ' ' || lpad(((r / 7) % 100000000)::text, 8, '0'),
       (1 + (r / 11) % 180) || ' ' || street[1 + (r / 13) % 8],
       lpad(((r / 17) % 90000 + 10000)::text, 5, '0'),
       city[1 + (r / 300) % 10],
       country[1 + (r / 300) % 10],
       country[1 + (r / 300) % 10] || lpad(((r / 19) % 1000000000)::text, 9, '0'),
       CASE country[1 + (r / 300) % 10] WHEN 'GB' THEN 'GBP' ELSE 'EUR' END,
       'active',
       $3::timestamptz - make_interval(days => 400 + (r / 23 % 1500)::int)
FROM c, words
)sql";

constexpr char kSeedUsers[] = R"sql(
WITH words AS (
  SELECT ARRAY['Anna','Ben','Clara','David','Elif','Felix','Greta','Hugo','Ines','Jonas','Katrin','Luca','Mira',
               'Noah','Olga','Paul','Rosa','Sven','Tara','Yusuf'] AS first,
         ARRAY['Andersen','Becker','Costa','Dubois','Eriksson','Fischer','Garcia','Hansen','Jansen','Klein',
               'Lindqvist','Moreau','Novak','Olsen','Petrov','Rossi','Schmidt','Torres','Visser','Weber'] AS last
), u AS (
  SELECT cu.customer_id, cu.created_at, split_part(cu.contact_email, '@', 2) AS domain, j,
         pg_temp.h($1::text || ':user:' || cu.customer_id || ':' || j) AS r
  FROM platform.customers cu,
       generate_series(1, 1 + (pg_temp.h($1::text || ':users:' || cu.customer_id) % 5)::int) AS j
)
INSERT INTO platform.users (user_id, customer_id, email, full_name, role, active, created_at, last_login_at)
SELECT 'usr_' || substr(customer_id, 5) || '_' || j, customer_id,
       lower(first[1 + r % 20] || '.' || last[1 + (r / 20) % 20]) || j || '@' || domain,
       first[1 + r % 20] || ' ' || last[1 + (r / 20) % 20],
       CASE j WHEN 1 THEN 'owner' WHEN 2 THEN 'admin' ELSE 'member' END,
       true,
       created_at + make_interval(days => (j - 1) * 30),
       $2::timestamptz - make_interval(hours => (r / 400 % 720)::int)
FROM u, words
)sql";

constexpr char kSeedSessions[] = R"sql(
INSERT INTO platform.sessions (session_id, user_id, customer_id, ip_address, user_agent, created_at, expires_at)
SELECT 'ses_' || substr(md5($1::text || ':session:' || u.user_id || ':' || k), 1, 24), u.user_id, u.customer_id,
       ('10.' || (r % 250) || '.' || (r / 250 % 250) || '.' || (1 + r / 62500 % 250))::inet,
       (ARRAY['Mozilla/5.0 (Macintosh; Intel Mac OS X 14_4) Safari/605.1.15',
              'Mozilla/5.0 (Windows NT 10.0; Win64; x64) Chrome/124.0',
              'Mozilla/5.0 (X11; Linux x86_64) Firefox/125.0',
              'cantdo-cli/1.4 (linux; amd64)'])[1 + r / 7 % 4],
       $2::timestamptz - make_interval(hours => (r / 11 % 240)::int),
       $2::timestamptz - make_interval(hours => (r / 11 % 240)::int) + interval '30 days'
FROM platform.users u,
     generate_series(1, (pg_temp.h($1::text || ':sessions:' || u.user_id) % 3)::int) AS k,
     LATERAL (SELECT pg_temp.h($1::text || ':session:' || u.user_id || ':' || k) AS r) x
)sql";

constexpr char kSeedApiKeys[] = R"sql(
INSERT INTO platform.api_keys (key_id, customer_id, name, key_prefix, key_sha256, created_by, created_at,
                               last_used_at)
SELECT 'key_' || substr(c.customer_id, 5) || '_' || k, c.customer_id,
       (ARRAY['CI deploy', 'Data warehouse sync', 'Zapier', 'Mobile app', 'Backup job'])[1 + r % 5],
       'sk_live_' || substr(md5($1::text || ':keyprefix:' || c.customer_id || k), 1, 6),
       encode(sha256(convert_to($1::text || ':key:' || c.customer_id || ':' || k, 'UTF8')), 'hex'),
       'usr_' || substr(c.customer_id, 5) || '_1',
       c.created_at + make_interval(days => (r / 5 % 200)::int),
       $2::timestamptz - make_interval(hours => (r / 1000 % 96)::int)
FROM platform.customers c,
     generate_series(1, (pg_temp.h($1::text || ':keys:' || c.customer_id) % 3)::int) AS k,
     LATERAL (SELECT pg_temp.h($1::text || ':key:' || c.customer_id || ':' || k) AS r) x
)sql";

// Every customer has a main plan; one in five also an add-on. Monthly
// periods; the current one started 1-28 days before `now`.
constexpr char kSeedSubscriptions[] = R"sql(
WITH s AS (
  SELECT c.customer_id, c.currency, c.created_at, n,
         pg_temp.h($1::text || ':sub:' || c.customer_id || ':' || n) AS r
  FROM platform.customers c,
       generate_series(1, CASE WHEN pg_temp.h($1::text || ':addon:' || c.customer_id) % 5 = 0 THEN 2 ELSE 1 END)
         AS n
), p AS (
  SELECT s.*,
         $2::timestamptz - make_interval(days => 1 + (pg_temp.h($1::text || ':period:' || customer_id) % 28)::int)
           AS period_start
  FROM s
)
INSERT INTO platform.subscriptions (subscription_id, customer_id, plan, price_cents, currency, status, started_at,
                                    current_period_start, current_period_end)
SELECT 'sub_' || substr(customer_id, 5) || '_' || n, customer_id,
       CASE WHEN n = 2 THEN 'extra_seats' ELSE (ARRAY['starter','team','business','enterprise'])[1 + r % 4] END,
       CASE WHEN n = 2 THEN 1500 ELSE (ARRAY[2900, 9900, 29900, 149900])[1 + r % 4] END,
       currency, 'active', created_at, period_start, period_start + interval '1 month'
FROM p
)sql";

// One invoice per subscription month, back to when it started (at most 12),
// each paid a few days after issue.
constexpr char kSeedInvoices[] = R"sql(
INSERT INTO platform.invoices (invoice_id, customer_id, subscription_id, number, period_start, period_end,
                               amount_cents, currency, status, issued_at, billing_name, billing_email,
                               billing_address)
SELECT 'in_' || substr(s.subscription_id, 5) || '_' || m, s.customer_id, s.subscription_id,
       'INV-' || to_char(s.current_period_start - make_interval(months => m), 'YYYYMM') || '-' ||
         substr(s.subscription_id, 5),
       s.current_period_start - make_interval(months => m),
       s.current_period_end - make_interval(months => m),
       s.price_cents, s.currency, 'paid', s.current_period_start - make_interval(months => m),
       c.company_name, c.contact_email,
       c.address_line || ', ' || c.postal_code || ' ' || c.city || ', ' || c.country
FROM platform.subscriptions s
JOIN platform.customers c USING (customer_id),
     generate_series(0, 2 + (pg_temp.h($1::text || ':months:' || s.subscription_id) % 10)::int) AS m
)sql";

constexpr char kSeedPayments[] = R"sql(
INSERT INTO platform.payments (payment_id, invoice_id, customer_id, amount_cents, currency, method, card_last4,
                               payer_name, paid_at)
SELECT 'py_' || substr(i.invoice_id, 4), i.invoice_id, i.customer_id, i.amount_cents, i.currency,
       CASE WHEN r % 10 < 7 THEN 'card' ELSE 'sepa_debit' END,
       CASE WHEN r % 10 < 7 THEN lpad((r / 10 % 10000)::text, 4, '0') END,
       c.contact_name,
       least(i.issued_at + make_interval(hours => (r / 100000 % 120)::int), $2::timestamptz)
FROM platform.invoices i
JOIN platform.customers c USING (customer_id),
     LATERAL (SELECT pg_temp.h($1::text || ':payment:' || i.invoice_id) AS r) x
WHERE i.amount_cents > 0
)sql";

std::string Ts(absl::Time t) { return absl::FormatTime("%Y-%m-%dT%H:%M:%E6SZ", t, absl::UTCTimeZone()); }

}  // namespace

std::string CustomerId(int n) { return absl::StrFormat("cus_%06d", n); }

absl::StatusOr<pg::MigrationReport> Migrate(pg::Connection& conn) {
  return pg::Migrator(db::demo::AllMigrations()).Apply(conn);
}

absl::StatusOr<SeedReport> Seed(pg::Connection& conn, const SeedOptions& options) {
  if (options.customers < 1 || options.customers > 1'000'000) {
    return InvalidArgument("customers", "must be between 1 and 1000000");
  }
  SeedReport report;
  const std::string seed = absl::StrCat(options.seed);
  const std::string now = Ts(options.now);
  CANTDO_RETURN_IF_ERROR(pg::RunInTransaction(conn, {}, [&](pg::Connection& tx) -> absl::Status {
    report = SeedReport{};
    CANTDO_ASSIGN_OR_RETURN(pg::Result existing, tx.Exec("SELECT count(*) FROM platform.customers"));
    CANTDO_ASSIGN_OR_RETURN(int64_t n, existing.GetInt64(0, 0));
    if (n > 0) {
      report.already_seeded = true;
      report.customers = n;
      return absl::OkStatus();
    }
    CANTDO_RETURN_IF_ERROR(tx.Exec(kHashFunction).status());
    auto run = [&](const char* sql, std::vector<pg::Param> params, int64_t* count) -> absl::Status {
      CANTDO_ASSIGN_OR_RETURN(pg::Result r, tx.Exec(sql, params));
      *count = r.CommandTuples();
      return absl::OkStatus();
    };
    CANTDO_RETURN_IF_ERROR(run(kSeedCustomers, {std::to_string(options.customers), seed, now}, &report.customers));
    CANTDO_RETURN_IF_ERROR(run(kSeedUsers, {seed, now}, &report.users));
    CANTDO_RETURN_IF_ERROR(run(kSeedSessions, {seed, now}, &report.sessions));
    CANTDO_RETURN_IF_ERROR(run(kSeedApiKeys, {seed, now}, &report.api_keys));
    CANTDO_RETURN_IF_ERROR(run(kSeedSubscriptions, {seed, now}, &report.subscriptions));
    CANTDO_RETURN_IF_ERROR(run(kSeedInvoices, {seed}, &report.invoices));
    CANTDO_RETURN_IF_ERROR(run(kSeedPayments, {seed, now}, &report.payments));
    return absl::OkStatus();
  }));
  return report;
}

absl::StatusOr<CustomerSnapshot> Snapshot(pg::Connection& conn, const std::string& customer_id) {
  CANTDO_ASSIGN_OR_RETURN(pg::Result r, conn.Exec(R"sql(
SELECT c.customer_id, c.company_name, coalesce(c.contact_email, ''), c.status, c.anonymised_at IS NOT NULL,
  (SELECT count(*) FROM platform.users WHERE customer_id = c.customer_id),
  (SELECT count(*) FROM platform.users WHERE customer_id = c.customer_id AND active),
  (SELECT count(*) FROM platform.sessions WHERE customer_id = c.customer_id),
  (SELECT count(*) FROM platform.api_keys WHERE customer_id = c.customer_id),
  (SELECT count(*) FROM platform.api_keys WHERE customer_id = c.customer_id AND revoked_at IS NULL),
  (SELECT count(*) FROM platform.subscriptions WHERE customer_id = c.customer_id AND status = 'active'),
  (SELECT count(*) FROM platform.subscriptions WHERE customer_id = c.customer_id AND status = 'canceled'),
  (SELECT count(*) FROM platform.invoices WHERE customer_id = c.customer_id),
  (SELECT count(*) FROM platform.invoices WHERE customer_id = c.customer_id
     AND (billing_name IS NOT NULL OR billing_email IS NOT NULL OR billing_address IS NOT NULL)),
  (SELECT count(*) FROM platform.payments WHERE customer_id = c.customer_id),
  (SELECT count(*) FROM platform.payments WHERE customer_id = c.customer_id
     AND (payer_name IS NOT NULL OR card_last4 IS NOT NULL)),
  (SELECT count(*) FROM platform.refunds WHERE customer_id = c.customer_id),
  (SELECT coalesce(sum(amount_cents), 0)::bigint FROM platform.refunds WHERE customer_id = c.customer_id),
  (SELECT count(*) FROM platform.billing_exports WHERE customer_id = c.customer_id),
  EXISTS (SELECT 1 FROM platform.erasures WHERE customer_id = c.customer_id)
FROM platform.customers c WHERE c.customer_id = $1)sql",
                                                  {customer_id}));
  if (r.Rows() == 0) {
    return WithReason(absl::NotFoundError(absl::StrCat("no customer ", customer_id)), "CUSTOMER_NOT_FOUND");
  }
  CustomerSnapshot s;
  CANTDO_ASSIGN_OR_RETURN(s.customer_id, r.GetString(0, 0));
  CANTDO_ASSIGN_OR_RETURN(s.company_name, r.GetString(0, 1));
  CANTDO_ASSIGN_OR_RETURN(s.contact_email, r.GetString(0, 2));
  CANTDO_ASSIGN_OR_RETURN(s.status, r.GetString(0, 3));
  CANTDO_ASSIGN_OR_RETURN(s.anonymised, r.GetBool(0, 4));
  int64_t* counts[] = {&s.users,
                       &s.users_active,
                       &s.sessions,
                       &s.api_keys,
                       &s.api_keys_active,
                       &s.subscriptions_active,
                       &s.subscriptions_canceled,
                       &s.invoices,
                       &s.invoices_with_personal_data,
                       &s.payments,
                       &s.payments_with_personal_data,
                       &s.refunds,
                       &s.refunded_cents,
                       &s.billing_exports};
  for (int i = 0; i < 14; ++i) {
    CANTDO_ASSIGN_OR_RETURN(*counts[i], r.GetInt64(0, 5 + i));
  }
  CANTDO_ASSIGN_OR_RETURN(s.erased, r.GetBool(0, 19));
  return s;
}

std::string FormatSnapshot(const CustomerSnapshot& s) {
  return absl::StrFormat(
      "customer        %s (%s)\n"
      "status          %s%s\n"
      "contact email   %s\n"
      "users           %d (%d active)\n"
      "sessions        %d\n"
      "api keys        %d (%d not revoked)\n"
      "subscriptions   %d active, %d canceled\n"
      "invoices        %d (%d with personal data)\n"
      "payments        %d (%d with personal data)\n"
      "refunds         %d, %d cents\n"
      "billing exports %d\n"
      "erased          %s\n",
      s.customer_id, s.company_name, s.status, s.anonymised ? ", anonymised" : "",
      s.contact_email.empty() ? "(none)" : s.contact_email, s.users, s.users_active, s.sessions, s.api_keys,
      s.api_keys_active, s.subscriptions_active, s.subscriptions_canceled, s.invoices, s.invoices_with_personal_data,
      s.payments, s.payments_with_personal_data, s.refunds, s.refunded_cents, s.billing_exports,
      s.erased ? "yes" : "no");
}

}  // namespace cantdo::demo
