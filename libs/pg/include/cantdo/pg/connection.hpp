#pragma once
// Connection: one libpq connection (RAII over PGconn).
//
// Values reach the server only as parameters of the extended query protocol
// ($1, $2, ...); there is deliberately no API that splices values into SQL
// text. ExecScript runs trusted, parameterless multi-statement SQL
// (migrations). Errors come back as absl::Status mapped by SqlStateToStatus;
// a connection that could not be made or was lost is UNAVAILABLE.
//
// Round trips are what a statement costs on a fast disk, so the connection
// saves them in two ways:
// - Prepared statements: a statement with parameters is parsed and planned
//   once per connection (a named prepared statement, keyed by its SQL text)
//   and executed by name afterwards. Off with
//   ConnectOptions::prepare_statements (e.g. behind a transaction-pooling
//   PgBouncer older than 1.21).
// - Deferred statements: Defer() queues a statement whose result the
//   caller does not need; the queue goes out in the same round trip as the
//   next statement executed (libpq pipeline mode). RunInTransaction defers
//   BEGIN, so a transaction's BEGIN, its writes and its COMMIT cost no round
//   trips of their own.
//
// A Connection is not thread-safe: use it from one thread at a time.

#include <cstdint>
#include <initializer_list>
#include <unordered_map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "cantdo/pg/result.hpp"

struct pg_conn;  // libpq's PGconn

namespace cantdo::pg {

// One query parameter in text format; std::nullopt is SQL NULL.
using Param = std::optional<std::string>;

inline Param NullParam() { return std::nullopt; }
inline Param TextParam(absl::string_view value) { return std::string(value); }
inline Param Int64Param(int64_t value) { return std::to_string(value); }
inline Param BoolParam(bool value) { return std::string(value ? "true" : "false"); }

// libpq's view of the session's transaction state.
enum class TransactionState { kIdle, kActive, kInTransaction, kInFailedTransaction, kUnknown };

struct ConnectOptions {
  // Reported in pg_stat_activity.application_name; overrides the DSN's.
  std::string application_name;
  // Prepare statements that have parameters, once per connection.
  bool prepare_statements = true;
};

class Connection {
 public:
  // Opens a connection. `dsn` is a libpq connection string or URI. Fails with
  // UNAVAILABLE if the server cannot be reached or refuses the connection
  // within `timeout`.
  static absl::StatusOr<std::unique_ptr<Connection>> Connect(absl::string_view dsn, absl::Duration timeout,
                                                             const ConnectOptions& options = {});

  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  // Runs one statement with parameters ($1..$n). Deferred statements are
  // sent first, in the same round trip; if one of them fails, this
  // statement does not run and that error is returned.
  absl::StatusOr<Result> Exec(absl::string_view sql, std::initializer_list<Param> params = {});
  absl::StatusOr<Result> Exec(absl::string_view sql, const std::vector<Param>& params);

  // Runs several statements, in order, in one round trip (after any
  // deferred ones) and returns their results, in order. The first error
  // stops the batch and is returned; outside an explicit transaction the
  // batch commits as one implicit transaction.
  struct BatchStatement {
    std::string sql;
    std::vector<Param> params;
  };
  absl::StatusOr<std::vector<Result>> ExecBatch(std::vector<BatchStatement> statements);

  // Queues a statement to run, in order, with the next round trip (the next
  // Exec, ExecScript or Flush). Its result is read and dropped, so it must
  // be one without many rows (a write, a set_config, a pg_notify). Its error,
  // if any, is returned by that later call, and the statements queued after
  // it do not run. Outside an explicit transaction, the queued statements
  // and the statement that sends them commit together (one implicit
  // transaction). Parameters are checked now (a NUL byte is
  // INVALID_ARGUMENT here, and nothing is queued).
  absl::Status Defer(absl::string_view sql, std::vector<Param> params = {});

  // Defers a BEGIN statement (Defer), and from now on transaction_state()
  // reports kInTransaction, as it will be once the queue is sent, so code
  // that requires a transaction sees one.
  absl::Status DeferBegin(absl::string_view begin_sql);

  // Sends the deferred statements now: one round trip, none if the queue is
  // empty.
  absl::Status Flush();

  // Forgets the deferred statements without sending them.
  void DiscardDeferred();
  size_t deferred_count() const { return deferred_.size(); }

  // Round trips made so far (each Exec, Flush, ExecScript, Ping, and the
  // one-time PREPARE of a statement the first time it is executed alone).
  // Tests use it to pin what an operation costs.
  uint64_t round_trips() const { return round_trips_; }

  // Runs parameterless SQL that may hold several statements (simple query
  // protocol). Stops at the first error. Unless the script contains its own
  // transaction control, its statements run as one implicit transaction.
  absl::Status ExecScript(absl::string_view sql);

  // Local check only: libpq still considers the connection usable. A server
  // that went away is noticed by the next round trip or by Probe().
  bool IsHealthy() const;

  // Cheap liveness check without a round trip when nothing is pending: if the
  // socket has unexpected input (an error or EOF from a terminated backend),
  // consumes it and, unless it was harmless, verifies with `SELECT 1`.
  absl::Status Probe();

  // A round trip (`SELECT 1`).
  absl::Status Ping();

  TransactionState transaction_state() const;

  // The server process serving this connection (pg_backend_pid()).
  int BackendPid() const;

  // Quotes `identifier` for use as an SQL identifier (PQescapeIdentifier),
  // for the few statements that cannot take parameters: LISTEN, CREATE
  // DATABASE. Not for values.
  absl::StatusOr<std::string> QuoteIdentifier(absl::string_view identifier);

  // The underlying libpq handle, for libs/pg internals (Listener). Owned by
  // this Connection.
  pg_conn* native_handle() { return conn_; }

 private:
  struct Statement {
    std::string sql;
    std::vector<Param> params;
  };
  // The connection's name for a prepared `sql`, and whether it must still
  // be prepared; empty when it is not to be prepared (no parameters, the
  // option is off, or the cache is full).
  struct PreparedName {
    std::string name;
    bool needs_prepare = false;
  };

  Connection(pg_conn* conn, bool prepare) : conn_(conn), prepare_statements_(prepare) {}
  absl::StatusOr<Result> ExecParams(absl::string_view sql, const Param* params, size_t count);
  // Sends the deferred statements and then `wanted` in one pipeline and
  // returns the results of `wanted`, in order.
  absl::StatusOr<std::vector<Result>> RunPipeline(std::vector<Statement> wanted);
  PreparedName NameFor(const std::string& sql, size_t param_count);
  // After a failure to send part of a pipeline: breaks the connection.
  absl::Status AbandonPipeline(absl::string_view what);
  absl::Status ErrorFromConnection(absl::string_view what) const;

  pg_conn* conn_;
  const bool prepare_statements_;
  std::vector<Statement> deferred_;
  bool begin_deferred_ = false;                            // deferred_ holds a BEGIN not yet sent
  std::unordered_map<std::string, std::string> prepared_;  // SQL text -> statement name
  uint64_t statement_names_ = 0;                           // names are never reused
  uint64_t round_trips_ = 0;
};

}  // namespace cantdo::pg
