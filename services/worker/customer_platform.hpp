#pragma once
// The customer platform as the offboarding activities see it (the demo
// platform locally; schema db/demo/migrations, docs/offboarding.md).
//
// Two kinds of access, on purpose:
// - the worker's own login (a member of cantdo_demo_worker), pooled: it may
//   revoke access, export billing data and cancel subscriptions, and read;
// - a connection opened with the short-lived credential a claimed grant
//   released (a login IN ROLE may_issue_refunds / may_erase_customer_data,
//   whose only privilege is EXECUTE on the platform's scoped function for
//   that action, db/demo/migrations/V0003): the only way to write a refund
//   or erase a customer, and only with the values the approval bound, once
//   (docs/scoped-credentials.md). The static functions take that
//   connection; they cannot get it any other way.
//
// Every operation is idempotent: retried after a crash it changes nothing
// twice and reports the same effect (refunds and exports are keyed by the
// activity's idempotency key, the erasure by the customer).

#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "cantdo/base/clock.hpp"
#include "cantdo/common/v1/authorization.pb.h"
#include "cantdo/offboarding/v1/offboarding.pb.h"
#include "cantdo/pg/connection.hpp"
#include "cantdo/pg/pool.hpp"

namespace cantdo::worker {

using offboarding::v1::StepEffect;

// The values come from the claimed grant's action exactly as approved; the
// platform checks them against the credential's scope and records the
// grant, approval and approver from that scope, not from the caller.
struct RefundRecord {
  std::string customer_id;
  int64_t amount_cents = 0;
  std::string currency;
  std::string reason;  // a free-text label, not bound by the approval
  std::string idempotency_key;
};

struct ErasureRecord {
  std::string customer_id;
  std::string idempotency_key;
};

class CustomerPlatform {
 public:
  // REQUIRES: pool and clock outlive this. `pool` logs in as the worker.
  CustomerPlatform(pg::Pool& pool, Clock& clock) : pool_(pool), clock_(clock) {}

  // The worker's own DSN for the platform.
  const std::string& Dsn() const { return pool_.options().dsn; }

  // Deactivates the customer's users, deletes their sessions, revokes their
  // API keys, marks the customer "offboarding". Details: users_deactivated,
  // sessions_deleted, api_keys_revoked. CUSTOMER_NOT_FOUND if unknown.
  absl::StatusOr<StepEffect> RevokeAccess(const std::string& customer_id);

  // Writes the customer's invoices and payments to a billing export (JSON)
  // with its SHA-256, once per key. Details: export_id, invoices, payments,
  // total_billed_cents, total_paid_cents, sha256.
  absl::StatusOr<StepEffect> ExportBilling(const std::string& customer_id, const std::string& idempotency_key);

  // Cancels the active subscriptions now and computes what the unused part
  // of their current periods is worth (prorated by time, rounded down).
  // Details: subscriptions_canceled, refundable_cents, currency.
  absl::StatusOr<StepEffect> CancelSubscriptions(const std::string& customer_id);

  // With the worker's own login: the refund / erasure an earlier attempt
  // wrote, if any (recovery after a crash between consume and the recorded
  // result).
  absl::StatusOr<std::optional<StepEffect>> FindRefund(const std::string& idempotency_key);
  absl::StatusOr<std::optional<StepEffect>> FindErasure(const std::string& customer_id);

  // `as_grant` is logged in with a released credential. Both call the
  // platform's scoped function, which refuses what the credential's scope
  // does not allow: PERMISSION_DENIED, reason CREDENTIAL_SCOPE_EXCEEDED
  // (another customer, a larger amount, another action, its one use
  // spent); an unknown customer is CUSTOMER_NOT_FOUND.
  //
  // Writes the refund against the customer's latest payment (once per
  // idempotency key, and at most one per grant). Details: refund_id,
  // amount_cents, currency, payment_id, written_by.
  static absl::StatusOr<StepEffect> WriteRefund(pg::Connection& as_grant, const RefundRecord& refund);

  // Erases the customer's personal data: users, sessions and API keys are
  // deleted; the customer row, invoices and payments are kept for
  // accounting with their personal columns cleared; export contents are
  // dropped (checksums kept); an erasure record is written. Once per
  // customer. Details: users_deleted, sessions_deleted, api_keys_deleted,
  // invoices_anonymised, payments_anonymised, exports_redacted, written_by.
  static absl::StatusOr<StepEffect> EraseCustomer(pg::Connection& as_grant, const ErasureRecord& erasure);

 private:
  pg::Pool& pool_;
  Clock& clock_;
};

// A libpq key=value DSN for a released Postgres login (values quoted),
// with the login's sslmode. The files that verify the server (sslrootcert,
// sslcrl, sslcrldir) come from `tls_from`, the worker's own DSN for the
// same platform, so sslmode=verify-full works with a private CA.
std::string DsnForLogin(const common::v1::PostgresLogin& login, absl::string_view tls_from = "");

}  // namespace cantdo::worker
