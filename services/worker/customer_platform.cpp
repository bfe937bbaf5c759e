#include "worker/customer_platform.hpp"

#include "absl/strings/str_cat.h"
#include "cantdo/base/status.hpp"
#include "cantdo/pg/dsn.hpp"
#include "cantdo/pg/sql_state.hpp"
#include "cantdo/pg/transaction.hpp"

namespace cantdo::worker {
namespace {

std::string Ts(absl::Time t) { return absl::FormatTime("%Y-%m-%dT%H:%M:%E6SZ", t, absl::UTCTimeZone()); }

void Set(StepEffect& e, const std::string& key, const std::string& value) { (*e.mutable_details())[key] = value; }
void Set(StepEffect& e, const std::string& key, int64_t value) { Set(e, key, std::to_string(value)); }

absl::Status CustomerNotFound(const std::string& customer_id) {
  return WithMetadata(WithReason(absl::NotFoundError(absl::StrCat("no customer ", customer_id)), "CUSTOMER_NOT_FOUND"),
                      "customer_id", customer_id);
}

absl::Status RequireCustomer(pg::Connection& tx, const std::string& customer_id) {
  CANTDO_ASSIGN_OR_RETURN(pg::Result r,
                          tx.Exec("SELECT 1 FROM platform.customers WHERE customer_id = $1", {customer_id}));
  if (r.Rows() == 0) return CustomerNotFound(customer_id);
  return absl::OkStatus();
}

// What the platform's scoped functions answer (db/demo/migrations/V0003):
// 42501 for anything outside the credential's scope, P0002 for an unknown
// customer.
constexpr absl::string_view kScopeRefused = "42501";
constexpr absl::string_view kNoSuchRow = "P0002";

absl::StatusOr<pg::Result> AsGrant(absl::StatusOr<pg::Result> r, const std::string& customer_id) {
  if (r.ok()) return r;
  const std::string state = pg::SqlStateOf(r.status());
  if (state == kScopeRefused) return WithReason(r.status(), "CREDENTIAL_SCOPE_EXCEEDED");
  if (state == kNoSuchRow) return CustomerNotFound(customer_id);
  return r.status();
}

// Reads the columns named in `keys` (in order) of row 0 into details.
absl::Status ReadDetails(const pg::Result& r, std::initializer_list<const char*> keys, StepEffect& e) {
  int c = 0;
  for (const char* key : keys) {
    CANTDO_ASSIGN_OR_RETURN(std::optional<std::string> v, r.GetOptionalString(0, c++));
    Set(e, key, v.value_or(""));
  }
  return absl::OkStatus();
}

// A refund row and an erasure row, as the functions return them and the
// tables hold them, and the details they become.
constexpr char kRefundColumns[] = "refund_id::text, amount_cents, currency, payment_id, created_by::text";
constexpr std::initializer_list<const char*> kRefundDetails = {"refund_id", "amount_cents", "currency", "payment_id",
                                                               "written_by"};
constexpr char kErasureColumns[] =
    "users_deleted, sessions_deleted, api_keys_deleted, invoices_anonymised, payments_anonymised, "
    "exports_redacted, created_by::text";
constexpr std::initializer_list<const char*> kErasureDetails = {
    "users_deleted",       "sessions_deleted", "api_keys_deleted", "invoices_anonymised",
    "payments_anonymised", "exports_redacted", "written_by"};

// The row a read found, if any, as details.
absl::StatusOr<std::optional<StepEffect>> Found(const pg::Result& r, std::initializer_list<const char*> keys) {
  if (r.Rows() == 0) return std::optional<StepEffect>();
  StepEffect e;
  CANTDO_RETURN_IF_ERROR(ReadDetails(r, keys, e));
  return std::optional<StepEffect>(std::move(e));
}

std::string QuoteDsnValue(const std::string& v) {
  std::string out = "'";
  for (char c : v) {
    if (c == '\'' || c == '\\') out += '\\';
    out += c;
  }
  return out + "'";
}

}  // namespace

absl::StatusOr<StepEffect> CustomerPlatform::RevokeAccess(const std::string& customer_id) {
  const std::string now = Ts(clock_.Now());
  StepEffect e;
  CANTDO_RETURN_IF_ERROR(pg::RunInTransaction(pool_, {}, [&](pg::Connection& tx) -> absl::Status {
    e.Clear();
    CANTDO_RETURN_IF_ERROR(RequireCustomer(tx, customer_id));
    CANTDO_ASSIGN_OR_RETURN(
        pg::Result users,
        tx.Exec("UPDATE platform.users SET active = false, deactivated_at = $2 WHERE customer_id = $1 AND active",
                {customer_id, now}));
    CANTDO_ASSIGN_OR_RETURN(pg::Result sessions,
                            tx.Exec("DELETE FROM platform.sessions WHERE customer_id = $1", {customer_id}));
    CANTDO_ASSIGN_OR_RETURN(
        pg::Result keys,
        tx.Exec("UPDATE platform.api_keys SET revoked_at = $2 WHERE customer_id = $1 AND revoked_at IS NULL",
                {customer_id, now}));
    CANTDO_RETURN_IF_ERROR(
        tx.Exec("UPDATE platform.customers SET status = 'offboarding' WHERE customer_id = $1 AND status = 'active'",
                {customer_id})
            .status());
    Set(e, "users_deactivated", users.CommandTuples());
    Set(e, "sessions_deleted", sessions.CommandTuples());
    Set(e, "api_keys_revoked", keys.CommandTuples());
    return absl::OkStatus();
  }));
  return e;
}

absl::StatusOr<StepEffect> CustomerPlatform::ExportBilling(const std::string& customer_id,
                                                           const std::string& idempotency_key) {
  StepEffect e;
  CANTDO_RETURN_IF_ERROR(pg::RunInTransaction(pool_, {}, [&](pg::Connection& tx) -> absl::Status {
    e.Clear();
    CANTDO_RETURN_IF_ERROR(RequireCustomer(tx, customer_id));
    // Stable order inside the document, so the same data always hashes the
    // same; written once per key, so a retry reports the first export.
    CANTDO_RETURN_IF_ERROR(tx.Exec(R"sql(
WITH doc AS (
  SELECT jsonb_build_object(
    'customer_id', $1::text,
    'invoices', coalesce((SELECT jsonb_agg(jsonb_build_object(
        'invoice_id', invoice_id, 'number', number, 'period_start', period_start, 'period_end', period_end,
        'amount_cents', amount_cents, 'currency', currency, 'status', status, 'issued_at', issued_at,
        'billing_name', billing_name, 'billing_email', billing_email, 'billing_address', billing_address)
        ORDER BY issued_at, invoice_id) FROM platform.invoices WHERE customer_id = $1), '[]'::jsonb),
    'payments', coalesce((SELECT jsonb_agg(jsonb_build_object(
        'payment_id', payment_id, 'invoice_id', invoice_id, 'amount_cents', amount_cents, 'currency', currency,
        'method', method, 'paid_at', paid_at)
        ORDER BY paid_at, payment_id) FROM platform.payments WHERE customer_id = $1), '[]'::jsonb)) AS content)
INSERT INTO platform.billing_exports (customer_id, idempotency_key, invoice_count, payment_count,
                                      total_billed_cents, total_paid_cents, content_sha256, content)
SELECT $1, $2, jsonb_array_length(content -> 'invoices'), jsonb_array_length(content -> 'payments'),
       (SELECT coalesce(sum(amount_cents), 0) FROM platform.invoices WHERE customer_id = $1),
       (SELECT coalesce(sum(amount_cents), 0) FROM platform.payments WHERE customer_id = $1),
       encode(sha256(convert_to(content::text, 'UTF8')), 'hex'), content
FROM doc
ON CONFLICT (idempotency_key) DO NOTHING)sql",
                                   {customer_id, idempotency_key})
                               .status());
    CANTDO_ASSIGN_OR_RETURN(
        pg::Result r,
        tx.Exec("SELECT export_id::text, invoice_count, payment_count, total_billed_cents, total_paid_cents, "
                "content_sha256 FROM platform.billing_exports WHERE idempotency_key = $1",
                {idempotency_key}));
    if (r.Rows() != 1) return absl::AbortedError("billing export vanished; retry");
    return ReadDetails(r, {"export_id", "invoices", "payments", "total_billed_cents", "total_paid_cents", "sha256"}, e);
  }));
  return e;
}

absl::StatusOr<StepEffect> CustomerPlatform::CancelSubscriptions(const std::string& customer_id) {
  const std::string now = Ts(clock_.Now());
  StepEffect e;
  CANTDO_RETURN_IF_ERROR(pg::RunInTransaction(pool_, {}, [&](pg::Connection& tx) -> absl::Status {
    e.Clear();
    CANTDO_RETURN_IF_ERROR(RequireCustomer(tx, customer_id));
    CANTDO_ASSIGN_OR_RETURN(pg::Result canceled,
                            tx.Exec("UPDATE platform.subscriptions SET status = 'canceled', canceled_at = $2 "
                                    "WHERE customer_id = $1 AND status = 'active'",
                                    {customer_id, now}));
    // From the stored cancellation time, so a retry computes the same value.
    CANTDO_ASSIGN_OR_RETURN(pg::Result value, tx.Exec(R"sql(
SELECT coalesce(sum(floor(s.price_cents * extract(epoch FROM s.current_period_end - s.canceled_at)
                          / extract(epoch FROM s.current_period_end - s.current_period_start))), 0)::bigint,
       (SELECT currency FROM platform.customers WHERE customer_id = $1)
FROM platform.subscriptions s
WHERE s.customer_id = $1 AND s.status = 'canceled'
  AND s.canceled_at >= s.current_period_start AND s.canceled_at < s.current_period_end)sql",
                                                      {customer_id}));
    Set(e, "subscriptions_canceled", canceled.CommandTuples());
    CANTDO_ASSIGN_OR_RETURN(int64_t refundable, value.GetInt64(0, 0));
    CANTDO_ASSIGN_OR_RETURN(std::string currency, value.GetString(0, 1));
    Set(e, "refundable_cents", refundable);
    Set(e, "currency", currency);
    return absl::OkStatus();
  }));
  return e;
}

absl::StatusOr<std::optional<StepEffect>> CustomerPlatform::FindRefund(const std::string& idempotency_key) {
  CANTDO_ASSIGN_OR_RETURN(auto conn, pool_.Acquire(absl::Now() + absl::Seconds(10)));
  CANTDO_ASSIGN_OR_RETURN(pg::Result r, conn->Exec(absl::StrCat("SELECT ", kRefundColumns,
                                                                " FROM platform.refunds WHERE idempotency_key = $1"),
                                                   {idempotency_key}));
  return Found(r, kRefundDetails);
}

absl::StatusOr<std::optional<StepEffect>> CustomerPlatform::FindErasure(const std::string& customer_id) {
  CANTDO_ASSIGN_OR_RETURN(auto conn, pool_.Acquire(absl::Now() + absl::Seconds(10)));
  CANTDO_ASSIGN_OR_RETURN(pg::Result r, conn->Exec(absl::StrCat("SELECT ", kErasureColumns,
                                                                " FROM platform.erasures WHERE customer_id = $1"),
                                                   {customer_id}));
  return Found(r, kErasureDetails);
}

absl::StatusOr<StepEffect> CustomerPlatform::WriteRefund(pg::Connection& as_grant, const RefundRecord& refund) {
  CANTDO_ASSIGN_OR_RETURN(
      pg::Result r, AsGrant(as_grant.Exec(absl::StrCat("SELECT ", kRefundColumns,
                                                       " FROM platform.issue_refund($1, $2::bigint, $3, $4, $5)"),
                                          {refund.customer_id, std::to_string(refund.amount_cents), refund.currency,
                                           refund.reason, refund.idempotency_key}),
                            refund.customer_id));
  StepEffect e;
  CANTDO_RETURN_IF_ERROR(ReadDetails(r, kRefundDetails, e));
  return e;
}

absl::StatusOr<StepEffect> CustomerPlatform::EraseCustomer(pg::Connection& as_grant, const ErasureRecord& erasure) {
  CANTDO_ASSIGN_OR_RETURN(
      pg::Result r,
      AsGrant(as_grant.Exec(absl::StrCat("SELECT ", kErasureColumns, " FROM platform.erase_customer_data($1, $2)"),
                            {erasure.customer_id, erasure.idempotency_key}),
              erasure.customer_id));
  StepEffect e;
  CANTDO_RETURN_IF_ERROR(ReadDetails(r, kErasureDetails, e));
  return e;
}

std::string DsnForLogin(const common::v1::PostgresLogin& login, absl::string_view tls_from) {
  std::string dsn = absl::StrCat("host=", QuoteDsnValue(login.host()), " port=", login.port(),
                                 " dbname=", QuoteDsnValue(login.dbname()), " user=", QuoteDsnValue(login.user()),
                                 " password=", QuoteDsnValue(login.password()),
                                 " sslmode=", QuoteDsnValue(login.sslmode().empty() ? "prefer" : login.sslmode()),
                                 " application_name='cantdo-worker-grant'");
  if (!tls_from.empty()) {
    for (const char* keyword : {"sslrootcert", "sslcrl", "sslcrldir"}) {
      // An unparseable DSN never got the worker this far (its pool uses it).
      auto value = pg::DsnSetting(tls_from, keyword);
      if (value.ok() && !value->empty()) absl::StrAppend(&dsn, " ", keyword, "=", QuoteDsnValue(*value));
    }
  }
  return dsn;
}

}  // namespace cantdo::worker
