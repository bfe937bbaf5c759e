#include "ciba-bridge/ciba_request_store.hpp"

#include <algorithm>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "cantdo/base/ids.hpp"
#include "cantdo/base/status.hpp"
#include "cantdo/pg/transaction.hpp"

namespace cantdo::bridge {
namespace {

constexpr char kColumns[] = R"(id, approval_id, login_hint, binding_message, scope, requested_expiry_seconds,
  acr_values, authorization_details, audience, delivery_mode, state, auth_req_id, notification_token_sha256,
  poll_interval_ms, (extract(epoch FROM next_poll_at) * 1000000)::bigint AS next_poll_us, attempts,
  send_attempts, transport_failures, last_error, last_error_description, last_error_http_status,
  (extract(epoch FROM last_error_at) * 1000000)::bigint AS last_error_us,
  (extract(epoch FROM create_time) * 1000000)::bigint AS create_us,
  (extract(epoch FROM expire_time) * 1000000)::bigint AS expire_us,
  (extract(epoch FROM finish_time) * 1000000)::bigint AS finish_us, outcome, id_token, provider_error,
  provider_error_description, (extract(epoch FROM receive_time) * 1000000)::bigint AS receive_us,
  delivery_state, delivery_attempts, delivery_error, ask, claims, traceparent,
  (extract(epoch FROM now()) * 1000000)::bigint AS now_us)";

pg::Param Ms(absl::Duration d) { return pg::Int64Param(absl::ToInt64Milliseconds(d)); }

absl::StatusOr<std::optional<absl::Time>> OptTime(const pg::Result& r, int row, const char* col) {
  CANTDO_ASSIGN_OR_RETURN(auto text, r.GetOptionalString(row, col));
  if (!text) return std::optional<absl::Time>();
  CANTDO_ASSIGN_OR_RETURN(int64_t us, r.GetInt64(row, col));
  return std::optional<absl::Time>(absl::FromUnixMicros(us));
}

absl::StatusOr<CibaRequestRow> ParseRow(const pg::Result& r, int i) {
  CibaRequestRow row;
  CANTDO_ASSIGN_OR_RETURN(row.id, r.GetString(i, "id"));
  CANTDO_ASSIGN_OR_RETURN(row.approval_id, r.GetString(i, "approval_id"));
  CANTDO_ASSIGN_OR_RETURN(row.login_hint, r.GetString(i, "login_hint"));
  CANTDO_ASSIGN_OR_RETURN(row.binding_message, r.GetString(i, "binding_message"));
  CANTDO_ASSIGN_OR_RETURN(row.scope, r.GetString(i, "scope"));
  CANTDO_ASSIGN_OR_RETURN(auto expiry, r.GetOptionalString(i, "requested_expiry_seconds"));
  if (expiry) {
    CANTDO_ASSIGN_OR_RETURN(row.requested_expiry_seconds, r.GetInt64(i, "requested_expiry_seconds"));
  }
  CANTDO_ASSIGN_OR_RETURN(row.acr_values, r.GetString(i, "acr_values"));
  CANTDO_ASSIGN_OR_RETURN(row.authorization_details, r.GetString(i, "authorization_details"));
  CANTDO_ASSIGN_OR_RETURN(row.audience, r.GetString(i, "audience"));
  CANTDO_ASSIGN_OR_RETURN(row.delivery_mode, r.GetString(i, "delivery_mode"));
  CANTDO_ASSIGN_OR_RETURN(row.state, r.GetString(i, "state"));
  CANTDO_ASSIGN_OR_RETURN(row.auth_req_id, r.GetOptionalString(i, "auth_req_id"));
  CANTDO_ASSIGN_OR_RETURN(row.notification_token_sha256, r.GetOptionalString(i, "notification_token_sha256"));
  CANTDO_ASSIGN_OR_RETURN(row.poll_interval_ms, r.GetInt64(i, "poll_interval_ms"));
  CANTDO_ASSIGN_OR_RETURN(row.next_poll_at, OptTime(r, i, "next_poll_us"));
  CANTDO_ASSIGN_OR_RETURN(int64_t attempts, r.GetInt64(i, "attempts"));
  CANTDO_ASSIGN_OR_RETURN(int64_t send_attempts, r.GetInt64(i, "send_attempts"));
  CANTDO_ASSIGN_OR_RETURN(int64_t failures, r.GetInt64(i, "transport_failures"));
  row.attempts = static_cast<int>(attempts);
  row.send_attempts = static_cast<int>(send_attempts);
  row.transport_failures = static_cast<int>(failures);
  CANTDO_ASSIGN_OR_RETURN(row.last_error, r.GetOptionalString(i, "last_error"));
  CANTDO_ASSIGN_OR_RETURN(row.last_error_description, r.GetOptionalString(i, "last_error_description"));
  CANTDO_ASSIGN_OR_RETURN(auto http_status, r.GetOptionalString(i, "last_error_http_status"));
  if (http_status) {
    CANTDO_ASSIGN_OR_RETURN(int64_t hs, r.GetInt64(i, "last_error_http_status"));
    row.last_error_http_status = static_cast<int>(hs);
  }
  CANTDO_ASSIGN_OR_RETURN(row.last_error_at, OptTime(r, i, "last_error_us"));
  CANTDO_ASSIGN_OR_RETURN(int64_t create_us, r.GetInt64(i, "create_us"));
  row.create_time = absl::FromUnixMicros(create_us);
  CANTDO_ASSIGN_OR_RETURN(row.expire_time, OptTime(r, i, "expire_us"));
  CANTDO_ASSIGN_OR_RETURN(row.finish_time, OptTime(r, i, "finish_us"));
  CANTDO_ASSIGN_OR_RETURN(row.outcome, r.GetOptionalString(i, "outcome"));
  CANTDO_ASSIGN_OR_RETURN(row.id_token, r.GetOptionalString(i, "id_token"));
  CANTDO_ASSIGN_OR_RETURN(row.provider_error, r.GetOptionalString(i, "provider_error"));
  CANTDO_ASSIGN_OR_RETURN(row.provider_error_description, r.GetOptionalString(i, "provider_error_description"));
  CANTDO_ASSIGN_OR_RETURN(row.receive_time, OptTime(r, i, "receive_us"));
  CANTDO_ASSIGN_OR_RETURN(row.delivery_state, r.GetString(i, "delivery_state"));
  CANTDO_ASSIGN_OR_RETURN(int64_t da, r.GetInt64(i, "delivery_attempts"));
  row.delivery_attempts = static_cast<int>(da);
  CANTDO_ASSIGN_OR_RETURN(row.delivery_error, r.GetOptionalString(i, "delivery_error"));
  CANTDO_ASSIGN_OR_RETURN(int64_t ask, r.GetInt64(i, "ask"));
  row.ask = static_cast<int>(ask);
  CANTDO_ASSIGN_OR_RETURN(row.claims, r.GetString(i, "claims"));
  CANTDO_ASSIGN_OR_RETURN(row.traceparent, r.GetString(i, "traceparent"));
  CANTDO_ASSIGN_OR_RETURN(int64_t now_us, r.GetInt64(i, "now_us"));
  row.db_now = absl::FromUnixMicros(now_us);
  return row;
}

absl::Status NotFound(const std::string& id) {
  return WithMetadata(
      WithReason(absl::NotFoundError(absl::StrCat("no backchannel authentication ", id)), "CIBA_REQUEST_NOT_FOUND"),
      "id", id);
}

absl::StatusOr<pg::PooledConnection> Conn(pg::Pool& pool) { return pool.Acquire(absl::Now() + absl::Seconds(10)); }

}  // namespace

absl::StatusOr<CibaRequestRow> PgCibaRequestStore::CreateOrGet(const NewCibaRequest& n, const std::string& owner,
                                                               absl::Duration lease, bool* created) {
  CANTDO_ASSIGN_OR_RETURN(auto conn, Conn(pool_));
  CANTDO_ASSIGN_OR_RETURN(
      pg::Result r,
      conn->Exec(
          absl::StrCat("INSERT INTO cantdo.ciba_requests (id, approval_id, login_hint, binding_message, scope, "
                       "requested_expiry_seconds, acr_values, authorization_details, audience, delivery_mode, "
                       "notification_token_sha256, poll_interval_ms, next_poll_at, lease_owner, lease_until, ask, "
                       "claims, traceparent) "
                       "VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12, now(), $13, now() + $14 * interval '1 ms', "
                       "$15, $16, $17) ON CONFLICT (approval_id, login_hint, ask) DO NOTHING RETURNING ",
                       kColumns),
          {pg::TextParam(n.id), pg::TextParam(n.approval_id), pg::TextParam(n.login_hint),
           pg::TextParam(n.binding_message), pg::TextParam(n.scope),
           n.requested_expiry_seconds ? pg::Int64Param(*n.requested_expiry_seconds) : pg::NullParam(),
           pg::TextParam(n.acr_values), pg::TextParam(n.authorization_details), pg::TextParam(n.audience),
           pg::TextParam(n.delivery_mode),
           n.notification_token_sha256.empty() ? pg::NullParam() : pg::TextParam(n.notification_token_sha256),
           Ms(n.poll_interval), pg::TextParam(owner), Ms(lease), pg::Int64Param(n.ask), pg::TextParam(n.claims),
           pg::TextParam(n.traceparent)}));
  if (r.Rows() == 1) {
    *created = true;
    return ParseRow(r, 0);
  }
  *created = false;
  CANTDO_ASSIGN_OR_RETURN(
      pg::Result existing,
      conn->Exec(absl::StrCat("SELECT ", kColumns,
                              " FROM cantdo.ciba_requests WHERE approval_id = $1 AND login_hint = $2 AND ask = $3"),
                 {pg::TextParam(n.approval_id), pg::TextParam(n.login_hint), pg::Int64Param(n.ask)}));
  if (existing.Rows() != 1) return absl::AbortedError("request vanished while being created; retry");
  return ParseRow(existing, 0);
}

absl::StatusOr<CibaRequestRow> PgCibaRequestStore::Get(const std::string& id) {
  CANTDO_ASSIGN_OR_RETURN(auto conn, Conn(pool_));
  CANTDO_ASSIGN_OR_RETURN(
      pg::Result r,
      conn->Exec(absl::StrCat("SELECT ", kColumns, " FROM cantdo.ciba_requests WHERE id = $1"), {pg::TextParam(id)}));
  if (r.Rows() != 1) return NotFound(id);
  return ParseRow(r, 0);
}

absl::StatusOr<std::vector<CibaRequestRow>> PgCibaRequestStore::LeaseDue(const std::string& owner, absl::Duration lease,
                                                                         int limit) {
  CANTDO_ASSIGN_OR_RETURN(auto conn, Conn(pool_));
  CANTDO_ASSIGN_OR_RETURN(
      pg::Result r,
      conn->Exec(
          absl::StrCat("UPDATE cantdo.ciba_requests SET lease_owner = $1, lease_until = now() + $2 * interval '1 ms' "
                       "WHERE id IN (SELECT id FROM cantdo.ciba_requests "
                       "  WHERE ((state = 'PENDING' AND next_poll_at <= now()) "
                       "      OR (delivery_state = 'due' AND next_delivery_at <= now())) "
                       "    AND (lease_until IS NULL OR lease_until < now()) "
                       "  ORDER BY coalesce(next_poll_at, next_delivery_at) LIMIT $3 FOR UPDATE SKIP LOCKED) "
                       "RETURNING ",
                       kColumns),
          {pg::TextParam(owner), Ms(lease), pg::Int64Param(limit)}));
  std::vector<CibaRequestRow> rows;
  for (int i = 0; i < r.Rows(); ++i) {
    CANTDO_ASSIGN_OR_RETURN(auto row, ParseRow(r, i));
    rows.push_back(std::move(row));
  }
  return rows;
}

absl::StatusOr<CibaRequestRow> PgCibaRequestStore::UpdateLeased(const std::string& id, const std::string& owner,
                                                                const std::string& set_clause,
                                                                std::vector<pg::Param> params) {
  const size_t n = params.size();
  params.push_back(pg::TextParam(id));
  params.push_back(pg::TextParam(owner));
  CANTDO_ASSIGN_OR_RETURN(auto conn, Conn(pool_));
  CANTDO_ASSIGN_OR_RETURN(pg::Result r,
                          conn->Exec(absl::StrCat("UPDATE cantdo.ciba_requests SET ", set_clause,
                                                  ", lease_owner = NULL, lease_until = NULL WHERE id = $", n + 1,
                                                  " AND lease_owner = $", n + 2, " RETURNING ", kColumns),
                                     params));
  if (r.Rows() != 1) {
    return WithReason(absl::AbortedError(absl::StrCat("lost the lease on ", id)), "CIBA_LEASE_LOST");
  }
  return ParseRow(r, 0);
}

namespace {
// SET fragments recording a provider error in $a..$c.
std::string ErrorSet(int first) {
  return absl::StrCat("last_error = $", first, ", last_error_description = $", first + 1,
                      ", last_error_http_status = $", first + 2, ", last_error_at = now()");
}
void PushError(std::vector<pg::Param>& p, const ErrorRecord& e) {
  p.push_back(pg::TextParam(e.error));
  p.push_back(pg::TextParam(e.description));
  p.push_back(pg::Int64Param(e.http_status));
}
}  // namespace

absl::StatusOr<CibaRequestRow> PgCibaRequestStore::RecordSent(const std::string& id, const std::string& owner,
                                                              const std::string& auth_req_id,
                                                              int64_t expires_in_seconds, absl::Duration interval,
                                                              absl::Duration first_poll_delay,
                                                              const std::string& notification_token_sha256) {
  return UpdateLeased(
      id, owner,
      "auth_req_id = $1, expire_time = now() + $2 * interval '1 second', poll_interval_ms = $3, "
      "next_poll_at = now() + $4 * interval '1 ms', send_attempts = send_attempts + 1, "
      "transport_failures = 0, notification_token_sha256 = $5",
      {pg::TextParam(auth_req_id), pg::Int64Param(expires_in_seconds), Ms(interval), Ms(first_poll_delay),
       notification_token_sha256.empty() ? pg::NullParam() : pg::TextParam(notification_token_sha256)});
}

absl::StatusOr<CibaRequestRow> PgCibaRequestStore::RecordSendRetry(const std::string& id, const std::string& owner,
                                                                   const ErrorRecord& error, absl::Duration delay) {
  std::vector<pg::Param> p = {Ms(delay)};
  PushError(p, error);
  return UpdateLeased(id, owner,
                      absl::StrCat("next_poll_at = now() + $1 * interval '1 ms', send_attempts = send_attempts + 1, "
                                   "transport_failures = transport_failures + 1, ",
                                   ErrorSet(2)),
                      std::move(p));
}

absl::StatusOr<CibaRequestRow> PgCibaRequestStore::RecordPoll(const std::string& id, const std::string& owner,
                                                              absl::Duration interval, absl::Duration delay,
                                                              const std::optional<ErrorRecord>& error,
                                                              bool transport_failure, bool counts_as_attempt) {
  std::vector<pg::Param> p = {Ms(interval), Ms(delay), pg::Int64Param(counts_as_attempt ? 1 : 0)};
  std::string set =
      absl::StrCat("poll_interval_ms = $1, next_poll_at = now() + $2 * interval '1 ms', attempts = attempts + $3, ",
                   transport_failure ? "transport_failures = transport_failures + 1" : "transport_failures = 0");
  if (error) {
    PushError(p, *error);
    absl::StrAppend(&set, ", ", ErrorSet(4));
  }
  return UpdateLeased(id, owner, set, std::move(p));
}

absl::StatusOr<CibaRequestRow> PgCibaRequestStore::RecordFinished(const std::string& id, const std::string& owner,
                                                                  const std::string& state, const std::string& outcome,
                                                                  const std::string& id_token,
                                                                  const std::optional<ErrorRecord>& error,
                                                                  bool counts_as_attempt) {
  std::vector<pg::Param> p = {pg::TextParam(state), outcome.empty() ? pg::NullParam() : pg::TextParam(outcome),
                              id_token.empty() ? pg::NullParam() : pg::TextParam(id_token),
                              pg::TextParam(outcome.empty() ? "not_needed" : "due"),
                              pg::Int64Param(counts_as_attempt ? 1 : 0)};
  std::string set =
      "state = $1, outcome = $2, id_token = $3, delivery_state = $4, attempts = attempts + $5, "
      "finish_time = now(), receive_time = now(), next_poll_at = NULL, next_delivery_at = now()";
  if (error) {
    PushError(p, *error);
    absl::StrAppend(&set, ", ", ErrorSet(6), ", provider_error = $6, provider_error_description = $7");
  }
  return UpdateLeased(id, owner, set, std::move(p));
}

absl::Status PgCibaRequestStore::RecordDelivered(const std::string& id, const std::string& owner) {
  return UpdateLeased(id, owner,
                      "delivery_state = 'acknowledged', delivery_attempts = delivery_attempts + 1, "
                      "next_delivery_at = NULL, id_token = NULL, delivery_error = NULL",
                      {})
      .status();
}

absl::Status PgCibaRequestStore::RecordDeliveryRetry(const std::string& id, const std::string& owner,
                                                     const std::string& error, absl::Duration delay) {
  return UpdateLeased(id, owner,
                      "delivery_attempts = delivery_attempts + 1, next_delivery_at = now() + $1 * interval '1 ms', "
                      "delivery_error = $2",
                      {Ms(delay), pg::TextParam(error)})
      .status();
}

absl::Status PgCibaRequestStore::RecordDeliveryRejected(const std::string& id, const std::string& owner,
                                                        const std::string& error) {
  return UpdateLeased(id, owner,
                      "delivery_state = 'rejected', delivery_attempts = delivery_attempts + 1, "
                      "next_delivery_at = NULL, delivery_error = $1",
                      {pg::TextParam(error)})
      .status();
}

absl::Status PgCibaRequestStore::Release(const std::string& id, const std::string& owner) {
  CANTDO_ASSIGN_OR_RETURN(auto conn, Conn(pool_));
  return conn
      ->Exec(
          "UPDATE cantdo.ciba_requests SET lease_owner = NULL, lease_until = NULL WHERE id = $1 AND lease_owner = $2",
          {pg::TextParam(id), pg::TextParam(owner)})
      .status();
}

absl::StatusOr<CibaRequestRow> PgCibaRequestStore::Cancel(const std::string& id, const std::string& reason) {
  CANTDO_ASSIGN_OR_RETURN(auto conn, Conn(pool_));
  // A worker holding the lease finds it gone (lease_owner NULL) and drops
  // whatever it was doing; a result it already received is not delivered.
  CANTDO_ASSIGN_OR_RETURN(
      pg::Result r,
      conn->Exec(absl::StrCat("UPDATE cantdo.ciba_requests SET state = 'CANCELLED', cancel_reason = $2, "
                              "finish_time = now(), next_poll_at = NULL, delivery_state = 'not_needed', "
                              "next_delivery_at = NULL, id_token = NULL, lease_owner = NULL, lease_until = NULL "
                              "WHERE id = $1 AND state = 'PENDING' RETURNING ",
                              kColumns),
                 {pg::TextParam(id), pg::TextParam(reason)}));
  if (r.Rows() == 1) return ParseRow(r, 0);
  CANTDO_ASSIGN_OR_RETURN(CibaRequestRow row, Get(id));
  if (row.state == "CANCELLED") return row;
  return WithMetadata(FailedPrecondition("CIBA_REQUEST_ALREADY_FINISHED",
                                         absl::StrCat("backchannel authentication ", id, " already ended ", row.state)),
                      "state", row.state);
}

absl::StatusOr<bool> PgCibaRequestStore::Notify(const std::string& auth_req_id, const std::string& token_sha256) {
  CANTDO_ASSIGN_OR_RETURN(auto conn, Conn(pool_));
  CANTDO_ASSIGN_OR_RETURN(pg::Result r, conn->Exec("SELECT id, notification_token_sha256 FROM cantdo.ciba_requests "
                                                   "WHERE auth_req_id = $1 AND state = 'PENDING'",
                                                   {pg::TextParam(auth_req_id)}));
  if (r.Rows() != 1) return false;
  CANTDO_ASSIGN_OR_RETURN(auto stored, r.GetOptionalString(0, 1));
  if (!stored || !ConstantTimeEquals(*stored, token_sha256)) return false;
  CANTDO_ASSIGN_OR_RETURN(std::string id, r.GetString(0, 0));
  CANTDO_RETURN_IF_ERROR(
      conn->Exec("UPDATE cantdo.ciba_requests SET next_poll_at = now() WHERE id = $1 AND state = 'PENDING'",
                 {pg::TextParam(id)})
          .status());
  return true;
}

absl::StatusOr<CibaBacklog> PgCibaRequestStore::ReadBacklog(pg::Connection& conn) {
  CANTDO_ASSIGN_OR_RETURN(pg::Result r,
                          conn.Exec("SELECT (SELECT count(*) FROM cantdo.ciba_requests WHERE state = 'PENDING'),"
                                    " (SELECT COALESCE(extract(epoch FROM now() - min(create_time)), 0)::float8"
                                    "    FROM cantdo.ciba_requests WHERE state = 'PENDING'),"
                                    " (SELECT count(*) FROM cantdo.ciba_requests WHERE delivery_state = 'due'),"
                                    " (SELECT COALESCE(extract(epoch FROM now() - min(finish_time)), 0)::float8"
                                    "    FROM cantdo.ciba_requests WHERE delivery_state = 'due')"));
  CibaBacklog b;
  CANTDO_ASSIGN_OR_RETURN(b.pending, r.GetInt64(0, 0));
  CANTDO_ASSIGN_OR_RETURN(std::string pending_age, r.GetString(0, 1));
  CANTDO_ASSIGN_OR_RETURN(b.undelivered, r.GetInt64(0, 2));
  CANTDO_ASSIGN_OR_RETURN(std::string undelivered_age, r.GetString(0, 3));
  if (!absl::SimpleAtod(pending_age, &b.oldest_pending_age_seconds) ||
      !absl::SimpleAtod(undelivered_age, &b.oldest_undelivered_age_seconds)) {
    return absl::InternalError("ciba backlog: ages are not numbers");
  }
  b.oldest_pending_age_seconds = std::max(0.0, b.oldest_pending_age_seconds);
  b.oldest_undelivered_age_seconds = std::max(0.0, b.oldest_undelivered_age_seconds);
  return b;
}

}  // namespace cantdo::bridge
