#pragma once
// PgCibaRequestStore: the bridge's requests in cantdo.ciba_requests (see
// db/migrations/V0004__ciba_bridge.sql). Every mutation of a leased row
// names the lease owner and fails with ABORTED if the lease moved on, so a
// replica that stalled past its lease cannot overwrite another's progress.
// Times are the database's (now()), so replicas need not share a clock.

#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "cantdo/pg/connection.hpp"
#include "cantdo/pg/pool.hpp"

namespace cantdo::bridge {

struct CibaRequestRow {
  std::string id, approval_id, login_hint, binding_message, scope;
  std::optional<int64_t> requested_expiry_seconds;
  std::string acr_values, authorization_details, audience, delivery_mode, state;
  std::optional<std::string> auth_req_id, notification_token_sha256;
  int64_t poll_interval_ms = 0;
  std::optional<absl::Time> next_poll_at;
  int attempts = 0, send_attempts = 0, transport_failures = 0;
  std::optional<std::string> last_error, last_error_description;
  int last_error_http_status = 0;
  std::optional<absl::Time> last_error_at;
  absl::Time create_time;
  std::optional<absl::Time> expire_time, finish_time;
  std::optional<std::string> outcome, id_token, provider_error, provider_error_description;
  std::optional<absl::Time> receive_time;
  std::string delivery_state;
  int delivery_attempts = 0;
  std::optional<std::string> delivery_error;
  int ask = 1;
  std::string claims;
  // The trace of the authority's call that asked for it (W3C traceparent,
  // V0015; "" if none): polling and delivery continue that trace.
  std::string traceparent;
  absl::Time db_now;  // the database clock when the row was read
};

struct NewCibaRequest {
  std::string id, approval_id, login_hint, binding_message, scope;
  std::optional<int64_t> requested_expiry_seconds;
  std::string acr_values, authorization_details, audience, delivery_mode;
  std::string notification_token_sha256;  // empty in poll mode
  absl::Duration poll_interval;
  int ask = 1;
  std::string claims;
  // The trace of the authority's call that asked for it (W3C traceparent,
  // V0015; "" if none): polling and delivery continue that trace.
  std::string traceparent;
};

// A provider error to record (possibly non-terminal).
struct ErrorRecord {
  std::string error, description;
  int http_status = 0;
};

// What the bridge still has to do (its metrics), by the database clock.
struct CibaBacklog {
  int64_t pending = 0;                        // requests the provider has not ended
  double oldest_pending_age_seconds = 0;      // since the oldest of them was created; 0 if none
  int64_t undelivered = 0;                    // results the authority has not acknowledged
  double oldest_undelivered_age_seconds = 0;  // since the oldest of them finished; 0 if none
};

class PgCibaRequestStore {
 public:
  // Reads the backlog through `conn` (the partial indexes on PENDING rows
  // and on due deliveries).
  static absl::StatusOr<CibaBacklog> ReadBacklog(pg::Connection& conn);

  // `pool` must outlive the store.
  explicit PgCibaRequestStore(pg::Pool& pool) : pool_(pool) {}

  // Inserts the request leased to `owner` for `lease`, or returns the
  // existing one for (approval_id, login_hint, ask). `created` tells which.
  absl::StatusOr<CibaRequestRow> CreateOrGet(const NewCibaRequest& request, const std::string& owner,
                                             absl::Duration lease, bool* created);
  // NOT_FOUND (CIBA_REQUEST_NOT_FOUND).
  absl::StatusOr<CibaRequestRow> Get(const std::string& id);

  // Leases up to `limit` rows with a due poll/send or a due delivery.
  absl::StatusOr<std::vector<CibaRequestRow>> LeaseDue(const std::string& owner, absl::Duration lease, int limit);

  // The provider accepted the backchannel request.
  absl::StatusOr<CibaRequestRow> RecordSent(const std::string& id, const std::string& owner,
                                            const std::string& auth_req_id, int64_t expires_in_seconds,
                                            absl::Duration interval, absl::Duration first_poll_delay,
                                            const std::string& notification_token_sha256);
  // The backchannel request could not be sent (transport); retry later.
  absl::StatusOr<CibaRequestRow> RecordSendRetry(const std::string& id, const std::string& owner,
                                                 const ErrorRecord& error, absl::Duration delay);
  // A poll that did not end the request (pending, slow_down, transport).
  absl::StatusOr<CibaRequestRow> RecordPoll(const std::string& id, const std::string& owner, absl::Duration interval,
                                            absl::Duration delay, const std::optional<ErrorRecord>& error,
                                            bool transport_failure, bool counts_as_attempt);
  // The request ended: state APPROVED/DENIED/EXPIRED/LOST/FAILED with its outcome
  // for the authority (empty outcome: nothing to deliver).
  absl::StatusOr<CibaRequestRow> RecordFinished(const std::string& id, const std::string& owner,
                                                const std::string& state, const std::string& outcome,
                                                const std::string& id_token, const std::optional<ErrorRecord>& error,
                                                bool counts_as_attempt);
  // Delivery results.
  absl::Status RecordDelivered(const std::string& id, const std::string& owner);
  absl::Status RecordDeliveryRetry(const std::string& id, const std::string& owner, const std::string& error,
                                   absl::Duration delay);
  absl::Status RecordDeliveryRejected(const std::string& id, const std::string& owner, const std::string& error);
  // Gives a lease back without changes (e.g. on shutdown).
  absl::Status Release(const std::string& id, const std::string& owner);

  // CANCELLED (idempotent); FAILED_PRECONDITION CIBA_REQUEST_ALREADY_FINISHED
  // for another terminal state.
  absl::StatusOr<CibaRequestRow> Cancel(const std::string& id, const std::string& reason);

  // Ping: if `auth_req_id` is a PENDING request whose notification token
  // hashes to `token_sha256` (compared in constant time), makes its next poll
  // due now. Returns whether it did.
  absl::StatusOr<bool> Notify(const std::string& auth_req_id, const std::string& token_sha256);

 private:
  absl::StatusOr<CibaRequestRow> UpdateLeased(const std::string& id, const std::string& owner,
                                              const std::string& set_clause, std::vector<pg::Param> params);
  pg::Pool& pool_;
};

}  // namespace cantdo::bridge
