#include "cantdo/pg/pool.hpp"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "cantdo/base/status.hpp"

namespace cantdo::pg {

PooledConnection::PooledConnection(PooledConnection&& other) noexcept
    : pool_(other.pool_), conn_(std::move(other.conn_)) {}

PooledConnection& PooledConnection::operator=(PooledConnection&& other) noexcept {
  if (this != &other) {
    Return();
    pool_ = other.pool_;
    conn_ = std::move(other.conn_);
  }
  return *this;
}

PooledConnection::~PooledConnection() { Return(); }

void PooledConnection::Return() {
  if (conn_) pool_->Release(std::move(conn_));
}

void PooledConnection::Discard() {
  if (!conn_) return;
  conn_.reset();
  pool_->Forget();
}

absl::StatusOr<std::unique_ptr<Pool>> Pool::Create(PoolOptions options) {
  if (options.dsn.empty()) return absl::InvalidArgumentError("pool: dsn is empty");
  if (options.max_size < 1) return absl::InvalidArgumentError("pool: max_size must be at least 1");
  std::unique_ptr<Pool> pool(new Pool(std::move(options)));
  if (pool->options_.validate_on_create) {
    auto conn = pool->Acquire(absl::Now() + pool->options_.connect_timeout);
    if (!conn.ok()) return conn.status();
  }
  return pool;
}

Pool::~Pool() {
  absl::MutexLock lock(&mu_);
  idle_.clear();
}

absl::StatusOr<std::unique_ptr<Connection>> Pool::Open(absl::Time deadline) {
  absl::Duration timeout = std::min(options_.connect_timeout, deadline - absl::Now());
  if (timeout <= absl::ZeroDuration()) timeout = absl::Milliseconds(1);
  return Connection::Connect(options_.dsn, timeout,
                             ConnectOptions{options_.application_name, options_.prepare_statements});
}

absl::StatusOr<PooledConnection> Pool::Acquire(absl::Time deadline) {
  for (;;) {
    std::unique_ptr<Connection> candidate;
    absl::Time idle_since;
    bool open_new = false;
    {
      absl::MutexLock lock(&mu_);
      ++waiters_;
      while (idle_.empty() && open_ >= options_.max_size) {
        if (freed_.WaitWithDeadline(&mu_, deadline) && idle_.empty() && open_ >= options_.max_size) {
          --waiters_;
          return WithReason(
              absl::DeadlineExceededError(absl::StrCat(
                  "no database connection became free before the deadline (pool of ", options_.max_size, ")")),
              kPoolExhaustedReason);
        }
      }
      --waiters_;
      if (!idle_.empty()) {
        candidate = std::move(idle_.back().conn);
        idle_since = idle_.back().since;
        idle_.pop_back();
      } else {
        ++open_;  // reserve the slot while connecting without the lock
        open_new = true;
      }
    }

    if (open_new) {
      auto conn = Open(deadline);
      if (!conn.ok()) {
        connect_failures_.fetch_add(1, std::memory_order_relaxed);
        Forget();
        return conn.status();
      }
      return PooledConnection(this, *std::move(conn));
    }

    absl::Status health =
        absl::Now() - idle_since > options_.health_check_after_idle ? candidate->Ping() : candidate->Probe();
    if (health.ok()) return PooledConnection(this, std::move(candidate));
    // Broken: drop it and try again (another idle one, or a fresh one).
    broken_discarded_.fetch_add(1, std::memory_order_relaxed);
    candidate.reset();
    Forget();
  }
}

void Pool::Release(std::unique_ptr<Connection> conn) {
  // A connection inside a transaction (or mid-query) would leak its state
  // into the next borrower; closing it rolls the transaction back.
  // Deferred statements it never sent belong to the last borrower: drop
  // them, or they would run with the next borrower's first statement.
  conn->DiscardDeferred();
  const bool healthy = conn->IsHealthy();
  bool reusable = healthy && conn->transaction_state() == TransactionState::kIdle;
  if (!healthy) broken_discarded_.fetch_add(1, std::memory_order_relaxed);
  if (!reusable) {
    conn.reset();
    Forget();
    return;
  }
  absl::MutexLock lock(&mu_);
  idle_.push_back(Idle{std::move(conn), absl::Now()});
  freed_.Signal();
}

void Pool::Forget() {
  absl::MutexLock lock(&mu_);
  --open_;
  freed_.Signal();
}

PoolStats Pool::Stats() const {
  absl::MutexLock lock(&mu_);
  return PoolStats{open_, static_cast<int>(idle_.size()), waiters_, connect_failures_.load(std::memory_order_relaxed),
                   broken_discarded_.load(std::memory_order_relaxed)};
}

}  // namespace cantdo::pg
