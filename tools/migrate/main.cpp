// cantdo-migrate: applies and inspects the schema migrations embedded in
// this binary (db/migrations). Design: docs/database.md.
//
//   cantdo-migrate [--dsn=DSN] [--connect-timeout=SECONDS] up|status|check|compatible
//
// The DSN comes from --dsn or CANTDO_DB_DSN. Exit codes: 0 success (for
// `check`: the schema is current; for `compatible`: this binary works with
// it), 1 failure or not, 2 usage.

#include <cstdio>
#include <cstdlib>
#include <string>

#include "absl/strings/numbers.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/string_view.h"
#include "cantdo/base/status.hpp"
#include "cantdo/db/migrations.hpp"
#include "cantdo/pg/connection.hpp"
#include "cantdo/pg/dsn.hpp"
#include "cantdo/pg/migrator.hpp"

namespace {

constexpr char kUsage[] =
    "usage: cantdo-migrate [--dsn=DSN] [--connect-timeout=SECONDS] up|status|check|compatible\n"
    "  up          apply pending migrations (under an advisory lock)\n"
    "  status      list applied and pending migrations, with their compatibility windows\n"
    "  check       exit 0 only if the schema is exactly at the newest known version\n"
    "  compatible  exit 0 if this release's services work with the schema: exactly\n"
    "              current, or within the compatibility window (docs/database.md)\n"
    "Options:\n"
    "  --dsn=DSN   the database, as the migrating role for up [CANTDO_DB_DSN] (required)\n";

int Fail(const absl::Status& status) {
  std::string reason = cantdo::GetReason(status).value_or("");
  std::fprintf(stderr, "cantdo-migrate: %s%s%s\n", std::string(status.message()).c_str(), reason.empty() ? "" : " [",
               reason.empty() ? "" : (reason + "]").c_str());
  return 1;
}

std::string Label(int version, absl::string_view name) { return absl::StrFormat("V%04d__%s", version, name); }

int Up(cantdo::pg::Connection& conn, const cantdo::pg::Migrator& migrator) {
  auto report = migrator.Apply(conn);
  if (!report.ok()) return Fail(report.status());
  if (report->applied.empty()) {
    std::printf("schema is current at version %d; nothing to apply\n", report->to_version);
  } else {
    std::printf("applied %zu migration(s): version %d -> %d\n", report->applied.size(), report->from_version,
                report->to_version);
  }
  return 0;
}

int Status(cantdo::pg::Connection& conn, const cantdo::pg::Migrator& migrator) {
  auto state = migrator.Inspect(conn);
  if (!state.ok()) return Fail(state.status());
  std::printf("database version %d, newest known %d\n", state->database_version, state->latest_known);
  for (const auto& m : state->applied) {
    std::printf("  applied  %-40s %s by %s, binaries from V%04d on%s\n", Label(m.version, m.name).c_str(),
                m.applied_at.c_str(), m.applied_by.c_str(), m.binaries_from > 0 ? m.binaries_from : m.version,
                m.matches ? "" : "  (CHANGED OR UNKNOWN: checksum differs)");
  }
  for (const auto& m : state->pending) std::printf("  pending  %s\n", Label(m.version, m.name).c_str());
  return 0;
}

int Check(cantdo::pg::Connection& conn, const cantdo::pg::Migrator& migrator) {
  absl::Status current = cantdo::pg::Migrator::CheckCurrent(conn, migrator.LatestVersion());
  if (!current.ok()) return Fail(current);
  auto state = migrator.Inspect(conn);
  if (!state.ok()) return Fail(state.status());
  for (const auto& m : state->applied) {
    if (!m.matches) {
      return Fail(cantdo::FailedPrecondition(
          "MIGRATION_CHECKSUM_MISMATCH",
          absl::StrFormat("applied migration %s differs from this binary's", Label(m.version, m.name))));
    }
  }
  std::printf("schema is current at version %d\n", state->database_version);
  return 0;
}

int Compatible(cantdo::pg::Connection& conn, const cantdo::pg::Migrator& migrator) {
  absl::Status compatible = migrator.CheckCompatible(conn);
  if (!compatible.ok()) return Fail(compatible);
  auto state = migrator.Inspect(conn);
  if (!state.ok()) return Fail(state.status());
  std::printf("schema at version %d works with this release (newest known %d)\n", state->database_version,
              state->latest_known);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  std::string dsn = std::getenv("CANTDO_DB_DSN") ? std::getenv("CANTDO_DB_DSN") : "";
  int timeout_seconds = 10;
  std::string command;
  for (int i = 1; i < argc; ++i) {
    absl::string_view arg = argv[i];
    if (arg.rfind("--dsn=", 0) == 0) {
      dsn = std::string(arg.substr(6));
    } else if (arg.rfind("--connect-timeout=", 0) == 0) {
      if (!absl::SimpleAtoi(arg.substr(18), &timeout_seconds) || timeout_seconds <= 0) {
        std::fprintf(stderr, "cantdo-migrate: --connect-timeout wants a positive number of seconds\n%s", kUsage);
        return 2;
      }
    } else if (arg == "-h" || arg == "--help") {
      std::fputs(kUsage, stdout);
      return 0;
    } else if (!arg.empty() && arg[0] != '-' && command.empty()) {
      command = std::string(arg);
    } else {
      std::fprintf(stderr, "cantdo-migrate: unexpected argument \"%s\"\n%s", argv[i], kUsage);
      return 2;
    }
  }
  if (command != "up" && command != "status" && command != "check" && command != "compatible") {
    std::fprintf(stderr, "cantdo-migrate: %s\n%s",
                 command.empty() ? "missing command" : ("unknown command \"" + command + "\"").c_str(), kUsage);
    return 2;
  }
  if (dsn.empty()) {
    std::fprintf(stderr, "cantdo-migrate: no database given: pass --dsn=... or set CANTDO_DB_DSN\n");
    return 2;
  }

  auto conn = cantdo::pg::Connection::Connect(dsn, absl::Seconds(timeout_seconds),
                                              cantdo::pg::ConnectOptions{"cantdo-migrate"});
  if (!conn.ok()) {
    std::fprintf(stderr, "cantdo-migrate: %s (dsn: %s)\n", std::string(conn.status().message()).c_str(),
                 cantdo::pg::RedactDsn(dsn).c_str());
    return 1;
  }
  cantdo::pg::Migrator migrator(cantdo::db::AllMigrations());
  if (command == "up") return Up(**conn, migrator);
  if (command == "status") return Status(**conn, migrator);
  if (command == "compatible") return Compatible(**conn, migrator);
  return Check(**conn, migrator);
}
