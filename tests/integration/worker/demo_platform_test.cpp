// The demo customer platform: schema, privileges and deterministic seed.

#include <catch2/catch.hpp>

#include "cantdo/demo/demo_platform.hpp"
#include "support/test_database.hpp"

namespace cantdo::testing {
namespace {

std::string Fingerprint(pg::Connection& conn) {
  auto r = conn.Exec(
      "SELECT md5(string_agg(c::text, ',' ORDER BY customer_id)) || md5((SELECT string_agg(i::text, ',' ORDER BY "
      "invoice_id) FROM platform.invoices i)) FROM platform.customers c");
  REQUIRE(r.ok());
  return *r->GetString(0, 0);
}

}  // namespace

TEST_CASE("demo platform: a thousand customers seed quickly, realistically and deterministically",
          "[integration][worker]") {
  const absl::Time now = absl::FromUnixSeconds(1'780'000'000);
  TestDatabase a, b;
  auto ca = a.Connect();
  auto cb = b.Connect();
  REQUIRE(demo::Migrate(*ca).ok());
  REQUIRE(demo::Migrate(*cb).ok());
  demo::SeedOptions o;
  o.customers = 1000;
  o.now = now;
  const absl::Time t0 = absl::Now();
  auto seeded = demo::Seed(*ca, o);
  INFO(seeded.status().ToString());
  REQUIRE(seeded.ok());
  const absl::Duration took = absl::Now() - t0;
  INFO("seeding took " << absl::FormatDuration(took));
  CHECK(took < absl::Seconds(60));
  CHECK(seeded->customers == 1000);
  CHECK(seeded->users >= 1000);
  CHECK(seeded->sessions > 500);
  CHECK(seeded->api_keys > 500);
  CHECK(seeded->subscriptions >= 1000);
  CHECK(seeded->invoices >= 3000);
  CHECK(seeded->payments == seeded->invoices);

  // Every customer's current period contains `now`; payments are in the past.
  auto r = ca->Exec(
      "SELECT count(*) FROM platform.subscriptions WHERE NOT ($1 BETWEEN current_period_start AND "
      "current_period_end)",
      {absl::FormatTime(now)});
  REQUIRE(r.ok());
  CHECK(*r->GetInt64(0, 0) == 0);

  // Seeding again writes nothing; the same size and seed give the same data.
  auto again = demo::Seed(*ca, o);
  REQUIRE(again.ok());
  CHECK(again->already_seeded);
  o.customers = 1000;
  REQUIRE(demo::Seed(*cb, o).ok());
  CHECK(Fingerprint(*ca) == Fingerprint(*cb));

  auto snap = demo::Snapshot(*ca, demo::CustomerId(42));
  REQUIRE(snap.ok());
  CHECK(snap->users > 0);
  CHECK(snap->invoices_with_personal_data == snap->invoices);
  CHECK(demo::FormatSnapshot(*snap).find("cus_000042") != std::string::npos);
  CHECK(absl::IsNotFound(demo::Snapshot(*ca, "cus_999999").status()));
}

TEST_CASE("demo platform: a grant login's groups may execute their scoped function and touch no table",
          "[integration][worker]") {
  TestDatabase db;
  auto conn = db.Connect();
  auto migrated = demo::Migrate(*conn);
  INFO(migrated.status().ToString());
  REQUIRE(migrated.ok());
  auto count = [&](const std::string& sql, std::initializer_list<pg::Param> params = {}) {
    auto r = conn->Exec(sql, params);
    INFO(sql << ": " << r.status().ToString());
    REQUIRE(r.ok());
    return *r->GetInt64(0, 0);
  };
  for (const char* group : {"may_issue_refunds", "may_erase_customer_data"}) {
    INFO(group);
    // No privilege of any kind on any table of the platform, nor on the
    // scopes (V0003 moved the groups' table privileges to the functions).
    CHECK(count("SELECT count(*) FROM pg_tables t, unnest(ARRAY['SELECT', 'INSERT', 'UPDATE', 'REFERENCES']) p "
                "WHERE t.schemaname IN ('platform', 'cantdo_scope') AND "
                "has_any_column_privilege($1, format('%I.%I', t.schemaname, t.tablename), p)",
                {group}) == 0);
    CHECK(count("SELECT count(*) FROM pg_tables t WHERE t.schemaname IN ('platform', 'cantdo_scope') AND "
                "has_table_privilege($1, format('%I.%I', t.schemaname, t.tablename), 'DELETE, TRUNCATE, TRIGGER')",
                {group}) == 0);
    CHECK_FALSE(count("SELECT has_schema_privilege($1, 'cantdo_scope', 'USAGE')::int", {group}));
  }
  // Each group executes its own function only; PUBLIC neither.
  const std::string refund = "platform.issue_refund(text, bigint, text, text, text)";
  const std::string erase = "platform.erase_customer_data(text, text)";
  auto may = [&](const std::string& who, const std::string& fn) {
    return count("SELECT has_function_privilege($1, $2, 'EXECUTE')::int", {who, fn}) == 1;
  };
  CHECK(may("may_issue_refunds", refund));
  CHECK_FALSE(may("may_issue_refunds", erase));
  CHECK(may("may_erase_customer_data", erase));
  CHECK_FALSE(may("may_erase_customer_data", refund));
  CHECK(count("SELECT count(*) FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace "
              "WHERE n.nspname IN ('platform', 'cantdo_scope') AND "
              "has_function_privilege('public', p.oid, 'EXECUTE')") == 0);
  CHECK_FALSE(may("cantdo_demo_worker", refund));
  CHECK_FALSE(may("cantdo_demo_worker", erase));
  // The two run as their owner, which is no superuser, with a pinned
  // search_path.
  CHECK(count("SELECT count(*) FROM pg_proc p JOIN pg_roles r ON r.oid = p.proowner "
              "WHERE p.oid IN ($1::regprocedure, $2::regprocedure) AND p.prosecdef AND NOT r.rolsuper AND "
              "r.rolname = 'platform_scoped_actions' AND p.proconfig = ARRAY['search_path=pg_catalog, pg_temp']",
              {refund, erase}) == 2);
  // The worker's own login still cannot refund or erase through them.
  CHECK(count("SELECT count(*) FROM pg_auth_members m JOIN pg_roles g ON g.oid = m.roleid "
              "JOIN pg_roles u ON u.oid = m.member WHERE u.rolname = 'cantdo_demo_worker' AND "
              "g.rolname IN ('may_issue_refunds', 'may_erase_customer_data')") == 0);
}

}  // namespace cantdo::testing
