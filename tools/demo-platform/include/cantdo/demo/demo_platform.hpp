#pragma once
// The demo customer platform: a SaaS company's production database in
// miniature (customers, their users, sessions and API keys, subscriptions,
// invoices, payments, refunds, billing exports), in its own database. The
// offboarding workflow acts on it; docs/offboarding.md describes the data,
// the privileges and the erasure choices.
//
// Schema: db/demo/migrations (cantdo::db::demo), applied by pg::Migrator.
// Seed data is deterministic for a given (customers, seed, now): every value
// is derived from a hash of the row's number, so two seeds of the same size
// are identical and tests can name customers (cus_000001 ...).

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "cantdo/pg/connection.hpp"
#include "cantdo/pg/migrator.hpp"

namespace cantdo::demo {

// Applies the demo platform's migrations on `conn` (an owner/admin login of
// the demo database).
absl::StatusOr<pg::MigrationReport> Migrate(pg::Connection& conn);

struct SeedOptions {
  int customers = 1000;  // 1..1'000'000
  int64_t seed = 42;
  // The platform's "now": current subscription periods contain it, invoices
  // and payments lie before it.
  absl::Time now = absl::UnixEpoch();
};

struct SeedReport {
  bool already_seeded = false;  // customers existed; nothing was written
  int64_t customers = 0;
  int64_t users = 0;
  int64_t sessions = 0;
  int64_t api_keys = 0;
  int64_t subscriptions = 0;
  int64_t invoices = 0;
  int64_t payments = 0;
};

// Fills an empty platform in one transaction (set-based INSERT ... SELECT).
// A platform that already has customers is left alone (already_seeded).
absl::StatusOr<SeedReport> Seed(pg::Connection& conn, const SeedOptions& options);

// The demo id of customer number n (1-based): "cus_000042".
std::string CustomerId(int n);

// What the offboarding workflow changes about one customer, read with any
// login that may SELECT the platform (the worker's, or the admin's).
struct CustomerSnapshot {
  std::string customer_id;
  std::string company_name;
  std::string contact_email;  // "" once erased
  std::string status;
  bool anonymised = false;
  int64_t users = 0;
  int64_t users_active = 0;
  int64_t sessions = 0;
  int64_t api_keys = 0;
  int64_t api_keys_active = 0;
  int64_t subscriptions_active = 0;
  int64_t subscriptions_canceled = 0;
  int64_t invoices = 0;
  int64_t invoices_with_personal_data = 0;
  int64_t payments = 0;
  int64_t payments_with_personal_data = 0;
  int64_t refunds = 0;
  int64_t refunded_cents = 0;
  int64_t billing_exports = 0;
  bool erased = false;  // an erasure record exists
};

// NOT_FOUND (reason CUSTOMER_NOT_FOUND) for an unknown customer.
absl::StatusOr<CustomerSnapshot> Snapshot(pg::Connection& conn, const std::string& customer_id);

// Human-readable, one fact per line (for `cantdo-demo-platform show`).
std::string FormatSnapshot(const CustomerSnapshot& snapshot);

}  // namespace cantdo::demo
