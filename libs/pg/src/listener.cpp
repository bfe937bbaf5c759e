#include "cantdo/pg/listener.hpp"

#include <libpq-fe.h>
#include <poll.h>

#include <algorithm>
#include <cerrno>

#include "absl/strings/str_cat.h"

namespace cantdo::pg {

absl::StatusOr<std::unique_ptr<Listener>> Listener::Create(std::string dsn, absl::Duration connect_timeout) {
  auto conn = Connection::Connect(dsn, connect_timeout, ConnectOptions{"cantdo-listener"});
  if (!conn.ok()) return conn.status();
  return std::unique_ptr<Listener>(new Listener(std::move(dsn), connect_timeout, *std::move(conn)));
}

absl::Status Listener::ExecListen(absl::string_view verb, absl::string_view channel) {
  if (!conn_) return absl::UnavailableError("listener is disconnected");
  auto quoted = conn_->QuoteIdentifier(channel);
  if (!quoted.ok()) return quoted.status();
  auto result = conn_->Exec(absl::StrCat(verb, " ", *quoted));
  return result.ok() ? absl::OkStatus() : result.status();
}

absl::Status Listener::Listen(absl::string_view channel) {
  absl::Status status = ExecListen("LISTEN", channel);
  // Remember the channel even if the connection just broke: Wait's
  // reconnect will subscribe it.
  if (status.ok() || status.code() == absl::StatusCode::kUnavailable) channels_.emplace(channel);
  return status;
}

absl::Status Listener::Unlisten(absl::string_view channel) {
  channels_.erase(std::string(channel));
  return ExecListen("UNLISTEN", channel);
}

int Listener::BackendPid() const { return conn_ ? conn_->BackendPid() : 0; }

std::optional<Notification> Listener::TakeNotification() {
  PGnotify* raw = PQnotifies(conn_->native_handle());
  if (raw == nullptr) return std::nullopt;
  Notification n{raw->relname, raw->extra ? raw->extra : "", raw->be_pid, false};
  PQfreemem(raw);
  return n;
}

absl::Status Listener::Reconnect(absl::Time deadline) {
  conn_.reset();
  absl::Duration backoff = absl::Milliseconds(50);
  absl::Status last = absl::UnavailableError("listener reconnect: deadline passed before trying");
  while (absl::Now() < deadline) {
    auto conn = Connection::Connect(dsn_, std::min(connect_timeout_, deadline - absl::Now()),
                                    ConnectOptions{"cantdo-listener"});
    if (conn.ok()) {
      conn_ = *std::move(conn);
      absl::Status relisten;
      for (const std::string& channel : channels_) {
        relisten = ExecListen("LISTEN", channel);
        if (!relisten.ok()) break;
      }
      if (relisten.ok()) return absl::OkStatus();
      conn_.reset();
      last = relisten;
    } else {
      last = conn.status();
    }
    absl::SleepFor(std::min(backoff, deadline - absl::Now()));
    backoff = std::min(backoff * 2, absl::Seconds(1));
  }
  return absl::UnavailableError(absl::StrCat("listener could not reconnect: ", last.message()));
}

absl::StatusOr<std::optional<Notification>> Listener::Wait(absl::Time deadline) {
  for (;;) {
    if (!conn_ || !conn_->IsHealthy()) {
      absl::Status status = Reconnect(deadline);
      if (!status.ok()) return status;
      return std::optional<Notification>(Notification{"", "", 0, true});
    }
    PGconn* pg = conn_->native_handle();
    if (!PQconsumeInput(pg) || PQstatus(pg) != CONNECTION_OK) {
      conn_.reset();
      continue;
    }
    if (auto n = TakeNotification()) return n;
    absl::Duration left = deadline - absl::Now();
    if (left <= absl::ZeroDuration()) return std::optional<Notification>();
    pollfd pfd{PQsocket(pg), POLLIN, 0};
    int timeout_ms = static_cast<int>(std::min<int64_t>(absl::ToInt64Milliseconds(left) + 1, 60'000));
    int rc = ::poll(&pfd, 1, timeout_ms);
    if (rc < 0 && errno != EINTR) {
      conn_.reset();
    }
  }
}

absl::Status Notify(Connection& conn, absl::string_view channel, absl::string_view payload) {
  auto result = conn.Exec("SELECT pg_notify($1, $2)", {TextParam(channel), TextParam(payload)});
  return result.ok() ? absl::OkStatus() : result.status();
}

}  // namespace cantdo::pg
