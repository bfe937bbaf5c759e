#pragma once
// Pool: a bounded, thread-safe set of connections to one database.
//
// Connections open lazily, up to `max_size`. Acquire hands out an idle one
// (most recently used first) or opens a new one; when all are busy it waits
// until one is returned or the caller's deadline passes (DEADLINE_EXCEEDED,
// reason POOL_EXHAUSTED). A connection is checked before it is handed out:
// one whose socket shows the server hung up, or that sat idle longer than
// `health_check_after_idle` and fails `SELECT 1`, is discarded and replaced
// by a new one, so a restarted server or a terminated backend costs callers
// nothing. A connection returned broken or still inside a transaction is
// discarded instead of reused; statements a borrower deferred but never
// sent are dropped.

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "cantdo/pg/connection.hpp"

namespace cantdo::pg {

inline constexpr absl::string_view kPoolExhaustedReason = "POOL_EXHAUSTED";

struct PoolOptions {
  std::string dsn;
  int max_size = 10;
  absl::Duration connect_timeout = absl::Seconds(5);
  // An idle connection older than this is pinged before it is handed out.
  absl::Duration health_check_after_idle = absl::Seconds(30);
  std::string application_name = "cantdo";
  // Open one connection in Create, so a wrong DSN fails at start.
  bool validate_on_create = true;
  // ConnectOptions::prepare_statements of every connection.
  bool prepare_statements = true;
};

struct PoolStats {
  int open = 0;  // connections that exist (idle + in use + being opened)
  int idle = 0;
  int waiters = 0;  // callers blocked in Acquire
  // Since the pool was created: connection attempts that failed, and
  // connections found broken (by the check before handing one out, or when
  // one came back unusable) and discarded.
  int64_t connect_failures = 0;
  int64_t broken_discarded = 0;
};

class Pool;

// A connection on loan from a Pool; returns itself when destroyed.
// REQUIRES: the Pool outlives every PooledConnection.
class PooledConnection {
 public:
  PooledConnection(PooledConnection&& other) noexcept;
  PooledConnection& operator=(PooledConnection&& other) noexcept;
  ~PooledConnection();

  Connection& operator*() const { return *conn_; }
  Connection* operator->() const { return conn_.get(); }
  Connection& get() const { return *conn_; }

  // Closes the connection instead of returning it (for example after a
  // protocol-level surprise). The pool opens a replacement when needed.
  void Discard();

 private:
  friend class Pool;
  PooledConnection(Pool* pool, std::unique_ptr<Connection> conn) : pool_(pool), conn_(std::move(conn)) {}
  void Return();

  Pool* pool_;
  std::unique_ptr<Connection> conn_;
};

class Pool {
 public:
  static absl::StatusOr<std::unique_ptr<Pool>> Create(PoolOptions options);
  ~Pool();
  Pool(const Pool&) = delete;
  Pool& operator=(const Pool&) = delete;

  // Waits until `deadline` for a connection. DEADLINE_EXCEEDED (reason
  // POOL_EXHAUSTED) if none became free; UNAVAILABLE if a new connection
  // had to be opened and could not be.
  absl::StatusOr<PooledConnection> Acquire(absl::Time deadline);

  PoolStats Stats() const;
  const PoolOptions& options() const { return options_; }

 private:
  friend class PooledConnection;
  struct Idle {
    std::unique_ptr<Connection> conn;
    absl::Time since;
  };

  explicit Pool(PoolOptions options) : options_(std::move(options)) {}
  absl::StatusOr<std::unique_ptr<Connection>> Open(absl::Time deadline);
  // Takes back a loaned connection; closes it if it is not reusable.
  void Release(std::unique_ptr<Connection> conn);
  // Forgets a connection that was closed instead of returned.
  void Forget();

  const PoolOptions options_;
  mutable absl::Mutex mu_;
  absl::CondVar freed_;
  std::vector<Idle> idle_ ABSL_GUARDED_BY(mu_);
  int open_ ABSL_GUARDED_BY(mu_) = 0;
  int waiters_ ABSL_GUARDED_BY(mu_) = 0;
  std::atomic<int64_t> connect_failures_{0};
  std::atomic<int64_t> broken_discarded_{0};
};

}  // namespace cantdo::pg
