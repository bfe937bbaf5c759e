#pragma once
// Listener: a dedicated connection that receives LISTEN/NOTIFY notifications.
//
// Notifications are a hint, not a log: Postgres delivers them only to
// sessions listening at the time. When the listener's connection is lost,
// Wait reconnects, re-LISTENs every channel, and returns a result with
// `gap` set — anything sent meanwhile is lost, so the caller must re-scan
// whatever state the notifications were about.
//
// Not thread-safe: one thread calls Wait.

#include <memory>
#include <optional>
#include <set>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "cantdo/pg/connection.hpp"

namespace cantdo::pg {

struct Notification {
  std::string channel;
  std::string payload;
  int sender_pid = 0;
  // The connection was re-established: notifications may have been missed.
  // Such a result carries no channel or payload; re-scan.
  bool gap = false;
};

class Listener {
 public:
  static absl::StatusOr<std::unique_ptr<Listener>> Create(std::string dsn,
                                                          absl::Duration connect_timeout = absl::Seconds(5));

  // Subscribes to `channel` (any text; quoted as an identifier).
  absl::Status Listen(absl::string_view channel);
  absl::Status Unlisten(absl::string_view channel);

  // The next notification, or std::nullopt if none arrived by `deadline`.
  // After a lost connection: reconnects (retrying until `deadline`, then
  // UNAVAILABLE) and returns {gap = true}.
  absl::StatusOr<std::optional<Notification>> Wait(absl::Time deadline);

  // The backend serving the listener, 0 while disconnected.
  int BackendPid() const;

 private:
  Listener(std::string dsn, absl::Duration connect_timeout, std::unique_ptr<Connection> conn)
      : dsn_(std::move(dsn)), connect_timeout_(connect_timeout), conn_(std::move(conn)) {}
  absl::Status ExecListen(absl::string_view verb, absl::string_view channel);
  absl::Status Reconnect(absl::Time deadline);
  std::optional<Notification> TakeNotification();

  const std::string dsn_;
  const absl::Duration connect_timeout_;
  std::unique_ptr<Connection> conn_;  // null while disconnected
  std::set<std::string> channels_;
};

// Sends `payload` on `channel` (SELECT pg_notify($1, $2)). Inside a
// transaction, delivery happens at COMMIT.
absl::Status Notify(Connection& conn, absl::string_view channel, absl::string_view payload);

}  // namespace cantdo::pg
