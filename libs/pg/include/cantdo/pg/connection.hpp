#pragma once
// Connection: one libpq connection (RAII over PGconn).
//
// Values reach the server only as parameters of the extended query protocol
// ($1, $2, ...); there is deliberately no API that splices values into SQL
// text. ExecScript runs trusted, parameterless multi-statement SQL
// (migrations). Errors come back as absl::Status mapped by SqlStateToStatus;
// a connection that could not be made or was lost is UNAVAILABLE.
//
// A Connection is not thread-safe: use it from one thread at a time.

#include <cstdint>
#include <initializer_list>
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
};

class Connection {
 public:
  // Opens a connection. `dsn` is a libpq connection string or URI. Fails with
  // UNAVAILABLE if the server cannot be reached or refuses the connection
  // within `timeout`.
  static absl::StatusOr<std::unique_ptr<Connection>> Connect(absl::string_view dsn,
                                                              absl::Duration timeout,
                                                              const ConnectOptions& options = {});

  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  // Runs one statement with parameters ($1..$n).
  absl::StatusOr<Result> Exec(absl::string_view sql, std::initializer_list<Param> params = {});
  absl::StatusOr<Result> Exec(absl::string_view sql, const std::vector<Param>& params);

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
  explicit Connection(pg_conn* conn) : conn_(conn) {}
  absl::StatusOr<Result> ExecParams(absl::string_view sql, const Param* params, size_t count);
  absl::Status ErrorFromConnection(absl::string_view what) const;

  pg_conn* conn_;
};

}  // namespace cantdo::pg
