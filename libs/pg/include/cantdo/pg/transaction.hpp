#pragma once
// RunInTransaction: BEGIN, run a function, COMMIT — and run it again when
// Postgres says the transaction lost a race.
//
// The function may run several times, so it must not have side effects
// outside the transaction (no RPCs, no enqueueing elsewhere) unless they are
// idempotent. BEGIN is deferred (Connection::Defer): it reaches the server
// with the function's first statement, and statements the function defers
// go with COMMIT, so a transaction of one read and some writes costs two
// round trips. A connection that turns out broken on that first round trip
// is retried on a fresh one (nothing ran yet). A serialization failure (40001) or deadlock (40P01), whether
// raised by a statement inside the function or by COMMIT, rolls back and
// retries after a short jittered backoff, up to `max_attempts` times; then
// the last error is returned. Any other error rolls back and is returned as
// is. Returning OK from the function after a statement failed (the session
// is in an aborted transaction) rolls back and yields INTERNAL.

#include <functional>
#include <optional>
#include <type_traits>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "cantdo/pg/connection.hpp"
#include "cantdo/pg/pool.hpp"

namespace cantdo::pg {

enum class IsolationLevel { kReadCommitted, kRepeatableRead, kSerializable };

struct TxOptions {
  IsolationLevel isolation = IsolationLevel::kReadCommitted;
  bool read_only = false;
  int max_attempts = 5;
  // Bounds waiting for a pooled connection, the backoff between attempts,
  // and (through statement_timeout) each statement. DEADLINE_EXCEEDED after.
  absl::Time deadline = absl::InfiniteFuture();
};

using TxFunction = std::function<absl::Status(Connection&)>;

// Each attempt borrows a connection from `pool` (a fresh one if the last
// broke).
absl::Status RunInTransaction(Pool& pool, const TxOptions& options, const TxFunction& fn);

// Runs on a connection the caller holds (for example in tools).
absl::Status RunInTransaction(Connection& conn, const TxOptions& options, const TxFunction& fn);

namespace internal {
template <typename T>
struct IsStatusOr : std::false_type {};
template <typename T>
struct IsStatusOr<absl::StatusOr<T>> : std::true_type {};
}  // namespace internal

// The StatusOr<T> flavour: `fn` returns absl::StatusOr<T>; the value of the
// committed attempt is returned.
template <typename Target, typename Fn, typename R = std::invoke_result_t<Fn&, Connection&>>
requires internal::IsStatusOr<R>::value R RunInTransaction(Target& target, const TxOptions& options, Fn&& fn) {
  std::optional<typename R::value_type> value;
  absl::Status status = RunInTransaction(target, options, TxFunction([&](Connection& conn) -> absl::Status {
                                           R result = fn(conn);
                                           if (!result.ok()) return result.status();
                                           value.emplace(*std::move(result));
                                           return absl::OkStatus();
                                         }));
  if (!status.ok()) return status;
  return *std::move(value);
}

}  // namespace cantdo::pg
