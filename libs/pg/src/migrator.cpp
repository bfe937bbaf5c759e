#include "cantdo/pg/migrator.hpp"

#include <openssl/evp.h>

#include <algorithm>
#include <map>
#include <set>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "cantdo/base/status.hpp"

namespace cantdo::pg {
namespace {

constexpr char kCreateTable[] = R"sql(
CREATE TABLE IF NOT EXISTS public.schema_migrations (
  version    integer PRIMARY KEY,
  name       text NOT NULL,
  checksum   text NOT NULL,
  applied_at timestamptz NOT NULL DEFAULT now(),
  applied_by text NOT NULL DEFAULT current_user
);
-- The compatibility window (NULL: applied before windows existed).
ALTER TABLE public.schema_migrations ADD COLUMN IF NOT EXISTS binaries_from integer)sql";

std::string Label(const Migration& m) { return absl::StrFormat("V%04d__%s", m.version, m.name); }

// `status` with `prefix` prepended to its message, payloads (reason,
// sqlstate) kept.
absl::Status Annotate(const absl::Status& status, absl::string_view prefix) {
  absl::Status out(status.code(), absl::StrCat(prefix, ": ", status.message()));
  status.ForEachPayload([&](absl::string_view url, const absl::Cord& value) { out.SetPayload(url, value); });
  return out;
}

struct AppliedRow {
  int version;
  std::string name;
  std::string checksum;
  std::string applied_at;
  std::string applied_by;
  int binaries_from = 0;  // 0: NULL
};

// Rows of schema_migrations, ascending; empty if the table does not exist.
absl::StatusOr<std::vector<AppliedRow>> ReadApplied(Connection& conn) {
  CANTDO_ASSIGN_OR_RETURN(Result exists, conn.Exec("SELECT to_regclass('public.schema_migrations') IS NOT NULL"));
  CANTDO_ASSIGN_OR_RETURN(bool has_table, exists.GetBool(0, 0));
  std::vector<AppliedRow> rows;
  if (!has_table) return rows;
  // binaries_from through to_jsonb: a table made by an older migrator has
  // no such column yet, and then it reads as NULL.
  CANTDO_ASSIGN_OR_RETURN(Result result, conn.Exec("SELECT version, name, checksum, applied_at::text, applied_by, "
                                                   "coalesce((to_jsonb(m) ->> 'binaries_from')::integer, 0) "
                                                   "FROM public.schema_migrations m ORDER BY version"));
  for (int r = 0; r < result.Rows(); ++r) {
    AppliedRow row;
    CANTDO_ASSIGN_OR_RETURN(int64_t version, result.GetInt64(r, 0));
    row.version = static_cast<int>(version);
    CANTDO_ASSIGN_OR_RETURN(row.name, result.GetString(r, 1));
    CANTDO_ASSIGN_OR_RETURN(row.checksum, result.GetString(r, 2));
    CANTDO_ASSIGN_OR_RETURN(row.applied_at, result.GetString(r, 3));
    CANTDO_ASSIGN_OR_RETURN(row.applied_by, result.GetString(r, 4));
    CANTDO_ASSIGN_OR_RETURN(int64_t binaries_from, result.GetInt64(r, 5));
    row.binaries_from = static_cast<int>(binaries_from);
    rows.push_back(std::move(row));
  }
  return rows;
}

absl::Status TooNew(int database_version, int known_version) {
  return WithReason(
      absl::FailedPreconditionError(absl::StrCat("database schema is at version ", database_version,
                                                 ", newer than the newest this binary knows (", known_version,
                                                 "); upgrade the binary instead of migrating")),
      kSchemaTooNew);
}

absl::StatusOr<int> ParseVersion(absl::string_view text) {
  int version = 0;
  if (text.size() != 5 || text[0] != 'V' || !absl::SimpleAtoi(text.substr(1), &version) || version < 1) {
    return absl::InvalidArgumentError(absl::StrCat("\"", text, "\" is not a version (want V<4 digits>)"));
  }
  return version;
}

}  // namespace

absl::StatusOr<Compatibility> ParseCompatibility(const Migration& m) {
  constexpr absl::string_view kPrefix = "-- compatibility:";
  Compatibility c{m.version, m.version, false};
  auto bad = [&](absl::string_view why) {
    return absl::InvalidArgumentError(absl::StrCat("migration ", Label(m), ": ", why,
                                                   " (want \"-- compatibility: binaries-from=V0012 requires=V0013\")"));
  };
  for (absl::string_view line : absl::StrSplit(m.sql, '\n')) {
    line = absl::StripAsciiWhitespace(line);
    if (line.empty()) continue;
    if (!absl::StartsWith(line, "--")) break;  // the leading comment block ends
    if (!absl::StartsWith(line, kPrefix)) continue;
    if (c.declared) return bad("more than one compatibility line");
    c.declared = true;
    bool has_from = false, has_requires = false;
    for (absl::string_view item : absl::StrSplit(line.substr(kPrefix.size()), ' ', absl::SkipEmpty())) {
      std::pair<absl::string_view, absl::string_view> kv = absl::StrSplit(item, absl::MaxSplits('=', 1));
      absl::StatusOr<int> v = ParseVersion(kv.second);
      if (!v.ok()) return bad(v.status().message());
      if (kv.first == "binaries-from" && !has_from) {
        c.binaries_from = *v;
        has_from = true;
      } else if (kv.first == "requires" && !has_requires) {
        c.requires_schema = *v;
        has_requires = true;
      } else {
        return bad(absl::StrCat("unexpected \"", item, "\""));
      }
    }
    if (!has_from || !has_requires) return bad("both binaries-from and requires are needed");
    if (c.binaries_from > m.version || c.requires_schema > m.version) {
      return bad("a window cannot name a version newer than the migration itself");
    }
  }
  return c;
}

std::string MigrationChecksum(absl::string_view sql) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  EVP_Digest(sql.data(), sql.size(), digest, &length, EVP_sha256(), nullptr);
  std::string hex;
  hex.reserve(length * 2);
  for (unsigned int i = 0; i < length; ++i) absl::StrAppendFormat(&hex, "%02x", digest[i]);
  return hex;
}

absl::Status ValidateMigrations(const std::vector<Migration>& migrations) {
  std::set<int> versions;
  for (const Migration& m : migrations) {
    if (m.version <= 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("migration \"", m.name, "\" has non-positive version ", m.version));
    }
    if (!versions.insert(m.version).second) {
      return absl::InvalidArgumentError(absl::StrCat("migration version ", m.version, " appears twice"));
    }
    bool name_ok = !m.name.empty() && std::all_of(m.name.begin(), m.name.end(), [](char c) {
      return absl::ascii_islower(c) || absl::ascii_isdigit(c) || c == '_';
    });
    if (!name_ok) {
      return absl::InvalidArgumentError(
          absl::StrCat("migration ", m.version, " has invalid name \"", m.name, "\" (want [a-z0-9_]+)"));
    }
    CANTDO_RETURN_IF_ERROR(ParseCompatibility(m).status());
  }
  return absl::OkStatus();
}

Migrator::Migrator(std::vector<Migration> migrations) : migrations_(std::move(migrations)) {
  std::stable_sort(migrations_.begin(), migrations_.end(),
                   [](const Migration& a, const Migration& b) { return a.version < b.version; });
}

absl::StatusOr<MigrationReport> Migrator::Apply(Connection& conn) const {
  CANTDO_RETURN_IF_ERROR(ValidateMigrations(migrations_));
  // Session-level lock: held across the per-migration transactions below.
  // Blocks while another runner migrates this database.
  CANTDO_ASSIGN_OR_RETURN(Result locked, conn.Exec("SELECT pg_advisory_lock($1)", {Int64Param(kMigrationLockKey)}));
  (void)locked;
  absl::StatusOr<MigrationReport> report = ApplyLocked(conn);
  if (conn.transaction_state() != TransactionState::kIdle) (void)conn.Exec("ROLLBACK");
  auto unlocked = conn.Exec("SELECT pg_advisory_unlock($1)", {Int64Param(kMigrationLockKey)});
  if (report.ok() && !unlocked.ok()) return unlocked.status();
  return report;
}

absl::StatusOr<MigrationReport> Migrator::ApplyLocked(Connection& conn) const {
  CANTDO_RETURN_IF_ERROR(conn.ExecScript(kCreateTable));
  CANTDO_ASSIGN_OR_RETURN(std::vector<AppliedRow> applied, ReadApplied(conn));

  MigrationReport report;
  report.from_version = applied.empty() ? 0 : applied.back().version;
  if (report.from_version > LatestVersion()) return TooNew(report.from_version, LatestVersion());

  std::map<int, const Migration*> known;
  for (const Migration& m : migrations_) known[m.version] = &m;
  std::set<int> applied_versions;
  for (const AppliedRow& row : applied) {
    applied_versions.insert(row.version);
    auto it = known.find(row.version);
    if (it == known.end()) {
      return WithMetadata(
          WithReason(absl::FailedPreconditionError(absl::StrCat("database has migration ", row.version, " (", row.name,
                                                                ") that this binary does not carry")),
                     kMigrationUnknown),
          "version", absl::StrCat(row.version));
    }
    if (row.checksum != MigrationChecksum(it->second->sql)) {
      return WithMetadata(
          WithReason(absl::FailedPreconditionError(
                         absl::StrCat("migration ", Label(*it->second), " was changed after it was applied (checksum ",
                                      row.checksum, " in the database, ", MigrationChecksum(it->second->sql),
                                      " here); migrations are forward-only: add a new one instead")),
                     kMigrationChecksumMismatch),
          "version", absl::StrCat(row.version));
    }
  }

  report.to_version = report.from_version;
  for (const Migration& m : migrations_) {
    if (applied_versions.count(m.version)) continue;
    if (m.version < report.from_version) {
      return WithReason(
          absl::FailedPreconditionError(absl::StrCat("migration ", Label(m), " is older than the database's version ",
                                                     report.from_version, " but was never applied; renumber it")),
          kMigrationOutOfOrder);
    }
    CANTDO_RETURN_IF_ERROR(conn.ExecScript("BEGIN"));
    absl::Status status = conn.ExecScript(m.sql);
    // Checked before recording the version: a script that committed on its
    // own would otherwise get its row written outside any transaction.
    if (status.ok() && conn.transaction_state() != TransactionState::kInTransaction) {
      status = absl::InvalidArgumentError("migration ended the transaction itself (remove BEGIN/COMMIT from it)");
    }
    if (status.ok()) {
      // Validated above, so the window parses.
      const Compatibility window = *ParseCompatibility(m);
      auto inserted = conn.Exec(
          "INSERT INTO public.schema_migrations (version, name, checksum, binaries_from) VALUES ($1, $2, $3, $4)",
          {Int64Param(m.version), TextParam(m.name), TextParam(MigrationChecksum(m.sql)),
           Int64Param(window.binaries_from)});
      if (!inserted.ok()) status = inserted.status();
    }
    if (status.ok()) status = conn.ExecScript("COMMIT");
    if (!status.ok()) {
      if (conn.IsHealthy()) (void)conn.ExecScript("ROLLBACK");
      return Annotate(status, absl::StrCat("migration ", Label(m), " failed"));
    }
    report.applied.push_back(m.version);
    report.to_version = m.version;
  }
  return report;
}

absl::StatusOr<SchemaState> Migrator::Inspect(Connection& conn) const {
  CANTDO_ASSIGN_OR_RETURN(std::vector<AppliedRow> rows, ReadApplied(conn));
  SchemaState state;
  state.latest_known = LatestVersion();
  state.database_version = rows.empty() ? 0 : rows.back().version;
  std::set<int> applied_versions;
  for (AppliedRow& row : rows) {
    applied_versions.insert(row.version);
    auto known = std::find_if(migrations_.begin(), migrations_.end(),
                              [&](const Migration& m) { return m.version == row.version; });
    bool matches = known != migrations_.end() && MigrationChecksum(known->sql) == row.checksum;
    state.applied.push_back(AppliedMigration{row.version, std::move(row.name), std::move(row.checksum),
                                             std::move(row.applied_at), std::move(row.applied_by), row.binaries_from,
                                             matches});
  }
  for (const Migration& m : migrations_) {
    if (!applied_versions.count(m.version)) state.pending.push_back(m);
  }
  return state;
}

absl::Status Migrator::CheckCurrent(Connection& conn, int expected_version) {
  CANTDO_ASSIGN_OR_RETURN(std::vector<AppliedRow> rows, ReadApplied(conn));
  int version = rows.empty() ? 0 : rows.back().version;
  if (version > expected_version) return TooNew(version, expected_version);
  if (version < expected_version) {
    return WithReason(absl::FailedPreconditionError(absl::StrCat("database schema is at version ", version,
                                                                 " but this binary needs version ", expected_version,
                                                                 "; run cantdo-migrate up")),
                      kSchemaNotCurrent);
  }
  return absl::OkStatus();
}

absl::Status Migrator::CheckCompatible(Connection& conn) const {
  CANTDO_ASSIGN_OR_RETURN(std::vector<AppliedRow> rows, ReadApplied(conn));
  const int database = rows.empty() ? 0 : rows.back().version;
  const int newest = LatestVersion();
  if (database > newest) {
    for (const AppliedRow& row : rows) {
      if (row.version <= newest) continue;
      const int from = row.binaries_from > 0 ? row.binaries_from : row.version;
      if (from > newest) {
        return WithMetadata(
            WithReason(absl::FailedPreconditionError(absl::StrFormat(
                           "database schema is at version %d; this binary knows up to %d, and migration "
                           "V%04d__%s works only with binaries from version %d on: upgrade the binary",
                           database, newest, row.version, row.name, from)),
                       kSchemaTooNew),
            "version", absl::StrCat(row.version));
      }
    }
    return absl::OkStatus();
  }
  for (const Migration& m : migrations_) {
    if (m.version <= database) continue;
    CANTDO_ASSIGN_OR_RETURN(Compatibility window, ParseCompatibility(m));
    if (window.requires_schema > database) {
      return WithMetadata(
          WithReason(absl::FailedPreconditionError(absl::StrFormat(
                         "database schema is at version %d but this binary needs version %d (migration %s); "
                         "run cantdo-migrate up",
                         database, window.requires_schema, Label(m))),
                     kSchemaNotCurrent),
          "version", absl::StrCat(m.version));
    }
  }
  return absl::OkStatus();
}

}  // namespace cantdo::pg
