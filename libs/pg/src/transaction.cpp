#include "cantdo/pg/transaction.hpp"

#include <algorithm>
#include <random>
#include <thread>

#include "absl/strings/str_cat.h"
#include "cantdo/base/status.hpp"
#include "cantdo/pg/sql_state.hpp"

namespace cantdo::pg {
namespace {

// Fixed statement text per option combination: nothing is interpolated.
const char* BeginStatement(const TxOptions& options) {
  switch (options.isolation) {
    case IsolationLevel::kSerializable:
      return options.read_only ? "BEGIN ISOLATION LEVEL SERIALIZABLE READ ONLY" : "BEGIN ISOLATION LEVEL SERIALIZABLE";
    case IsolationLevel::kRepeatableRead:
      return options.read_only ? "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"
                               : "BEGIN ISOLATION LEVEL REPEATABLE READ";
    case IsolationLevel::kReadCommitted:
    default:
      return options.read_only ? "BEGIN ISOLATION LEVEL READ COMMITTED READ ONLY"
                               : "BEGIN ISOLATION LEVEL READ COMMITTED";
  }
}

absl::Status DeadlinePassed() { return absl::DeadlineExceededError("transaction deadline passed"); }

// One BEGIN..COMMIT. BEGIN (and the statement timeout) are deferred, so
// they travel with the function's first statement, or with COMMIT if it
// runs none. `nothing_ran` tells the caller that the function's first
// round trip (the one carrying BEGIN) failed because the connection broke,
// so nothing happened in the database yet.
absl::Status Attempt(Connection& conn, const TxOptions& options, const TxFunction& fn, bool& nothing_ran) {
  nothing_ran = false;
  conn.DiscardDeferred();
  const uint64_t round_trips = conn.round_trips();
  absl::Status status = conn.DeferBegin(BeginStatement(options));
  if (status.ok() && options.deadline != absl::InfiniteFuture()) {
    int64_t ms = absl::ToInt64Milliseconds(options.deadline - absl::Now());
    if (ms <= 0) {
      status = DeadlinePassed();
    } else {
      // Local to this transaction; 0 would mean "no limit".
      status = conn.Defer("SELECT set_config('statement_timeout', $1, true)", {Int64Param(std::max<int64_t>(ms, 1))});
    }
  }
  if (status.ok()) status = fn(conn);
  if (status.ok() && conn.transaction_state() == TransactionState::kInFailedTransaction) {
    status = absl::InternalError(
        "transaction function returned OK after a statement failed; the transaction was rolled back");
  }
  if (!status.ok()) {
    conn.DiscardDeferred();
    nothing_ran =
        status.code() == absl::StatusCode::kUnavailable && !conn.IsHealthy() && conn.round_trips() <= round_trips + 1;
    if (conn.IsHealthy() && conn.transaction_state() != TransactionState::kIdle) (void)conn.Exec("ROLLBACK");
    return status;
  }
  auto commit = conn.Exec("COMMIT");
  if (!commit.ok() && conn.IsHealthy() && conn.transaction_state() != TransactionState::kIdle) {
    (void)conn.Exec("ROLLBACK");  // a deferred statement failed: COMMIT never ran
  }
  return commit.ok() ? absl::OkStatus() : commit.status();
}

void Backoff(int attempt, absl::Time deadline) {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  // 5ms, 10ms, 20ms ... capped at 200ms, times a factor in [0.5, 1.5).
  double base_ms = std::min(5.0 * static_cast<double>(1 << std::min(attempt, 10)), 200.0);
  std::uniform_real_distribution<double> jitter(0.5, 1.5);
  absl::Duration wait = absl::Milliseconds(base_ms * jitter(rng));
  wait = std::min(wait, deadline - absl::Now());
  if (wait > absl::ZeroDuration()) absl::SleepFor(wait);
}

template <typename GetConnection>
absl::Status RunWithRetries(const TxOptions& options, const TxFunction& fn, GetConnection get_connection) {
  const int attempts = std::max(options.max_attempts, 1);
  absl::Status last;
  for (int attempt = 0; attempt < attempts; ++attempt) {
    if (attempt > 0) {
      if (absl::Now() >= options.deadline) return last;
      Backoff(attempt - 1, options.deadline);
    }
    if (absl::Now() >= options.deadline) return attempt == 0 ? DeadlinePassed() : last;
    bool nothing_ran = false;
    last = get_connection([&](Connection& conn) { return Attempt(conn, options, fn, nothing_ran); });
    if (last.ok()) return last;
    // A lost race is worth another go; so is a connection that broke on the
    // attempt's first round trip (the one carrying BEGIN), since nothing
    // happened yet.
    bool retry = IsRetryableTransactionError(last) || nothing_ran;
    if (!retry) return last;
  }
  return last;
}

}  // namespace

absl::Status RunInTransaction(Pool& pool, const TxOptions& options, const TxFunction& fn) {
  return RunWithRetries(options, fn, [&](auto&& attempt) -> absl::Status {
    auto conn = pool.Acquire(options.deadline);
    if (!conn.ok()) return conn.status();
    return attempt(**conn);
  });
}

absl::Status RunInTransaction(Connection& conn, const TxOptions& options, const TxFunction& fn) {
  return RunWithRetries(options, fn, [&](auto&& attempt) -> absl::Status { return attempt(conn); });
}

}  // namespace cantdo::pg
