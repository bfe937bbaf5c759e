#pragma once
// Migrator: versioned, forward-only schema migrations (design: docs/database.md).
//
// Apply, on one connection:
//   1. takes the session advisory lock kMigrationLockKey, so concurrent
//      runners against the same database queue up instead of racing;
//   2. creates public.schema_migrations if absent;
//   3. refuses (FAILED_PRECONDITION) a database whose newest applied version
//      is beyond the newest migration this binary carries (SCHEMA_TOO_NEW),
//      an applied migration whose SQL changed since (MIGRATION_CHECKSUM_MISMATCH)
//      or that this binary does not carry (MIGRATION_UNKNOWN), and a pending
//      migration older than the newest applied one (MIGRATION_OUT_OF_ORDER);
//   4. applies each pending migration in its own transaction together with
//      its schema_migrations row, so a failure leaves no half-applied version;
//   5. releases the lock.
// A second run applies nothing. Migration SQL must not contain transaction
// control (BEGIN/COMMIT) or statements that cannot run in a transaction.

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "cantdo/pg/connection.hpp"

namespace cantdo::pg {

// pg_advisory_lock key held while migrating: the bytes of "cantdo" as a
// big-endian integer (0x63616e74646f). Documented in docs/database.md.
inline constexpr int64_t kMigrationLockKey = 0x63616e74646f;

inline constexpr absl::string_view kSchemaTooNew = "SCHEMA_TOO_NEW";
inline constexpr absl::string_view kSchemaNotCurrent = "SCHEMA_NOT_CURRENT";
inline constexpr absl::string_view kMigrationChecksumMismatch = "MIGRATION_CHECKSUM_MISMATCH";
inline constexpr absl::string_view kMigrationUnknown = "MIGRATION_UNKNOWN";
inline constexpr absl::string_view kMigrationOutOfOrder = "MIGRATION_OUT_OF_ORDER";

struct Migration {
  int version = 0;
  std::string name;
  std::string sql;
};

// Lowercase hex SHA-256 of `sql`, as stored in schema_migrations.checksum.
std::string MigrationChecksum(absl::string_view sql);

// Versions must be positive and unique, names non-empty, [a-z0-9_]. The list
// may be in any order. INVALID_ARGUMENT naming the offending entry otherwise.
absl::Status ValidateMigrations(const std::vector<Migration>& migrations);

struct MigrationReport {
  int from_version = 0;  // newest applied before this run (0: none)
  int to_version = 0;    // newest applied after it
  std::vector<int> applied;  // versions this run applied, ascending
};

struct AppliedMigration {
  int version = 0;
  std::string name;
  std::string checksum;
  std::string applied_at;  // timestamptz as text
  std::string applied_by;
  // False if this binary carries the version with different SQL, or does
  // not carry it at all.
  bool matches = false;
};

struct SchemaState {
  int database_version = 0;  // newest applied, 0 if none / no table
  int latest_known = 0;      // newest this binary carries
  std::vector<AppliedMigration> applied;
  std::vector<Migration> pending;  // known, not applied, ascending
};

class Migrator {
 public:
  // Sorts `migrations` by version. Apply validates them.
  explicit Migrator(std::vector<Migration> migrations);

  absl::StatusOr<MigrationReport> Apply(Connection& conn) const;

  // Read-only: what is applied and pending. Takes no lock, creates nothing.
  absl::StatusOr<SchemaState> Inspect(Connection& conn) const;

  // OK if the database's newest applied version equals `expected_version`;
  // FAILED_PRECONDITION with reason SCHEMA_NOT_CURRENT (behind) or
  // SCHEMA_TOO_NEW (ahead), the message naming both versions. Services call
  // this at start with the newest version they were built with.
  static absl::Status CheckCurrent(Connection& conn, int expected_version);

  int LatestVersion() const { return migrations_.empty() ? 0 : migrations_.back().version; }
  const std::vector<Migration>& migrations() const { return migrations_; }

 private:
  absl::StatusOr<MigrationReport> ApplyLocked(Connection& conn) const;

  std::vector<Migration> migrations_;
};

}  // namespace cantdo::pg
