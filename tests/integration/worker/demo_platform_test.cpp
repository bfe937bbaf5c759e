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
  auto r = ca->Exec("SELECT count(*) FROM platform.subscriptions WHERE NOT ($1 BETWEEN current_period_start AND "
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

}  // namespace cantdo::testing
