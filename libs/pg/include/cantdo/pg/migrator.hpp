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
//
// Compatibility window (expand/contract; docs/database.md): a migration may
// declare, in its leading comment block,
//   -- compatibility: binaries-from=V0012 requires=V0013
// binaries-from: binaries built with migrations up to this version (or
//   newer) keep working once this migration is applied (an expand step
//   keeps the previous release's binaries serving);
// requires: binaries that carry this migration need the schema at this
//   version at least (lower than the migration's own version if the new
//   code also works before the migration ran).
// Without the line both are the migration's own version: strict, as
// before windows existed. Apply records binaries-from in
// schema_migrations, so a binary older than the schema can read the window
// of migrations it does not carry; CheckCompatible decides readiness.

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

// The window a migration declares (see above). Both default to the
// migration's own version.
struct Compatibility {
  int binaries_from = 0;
  int requires_schema = 0;
  bool declared = false;  // the migration has a "-- compatibility:" line
};

// Reads `m`'s "-- compatibility:" line from its leading comment block.
// INVALID_ARGUMENT naming the migration if the line is malformed, or a
// version in it is above the migration's own (a window cannot reach
// forward) or below 1.
absl::StatusOr<Compatibility> ParseCompatibility(const Migration& m);

// Lowercase hex SHA-256 of `sql`, as stored in schema_migrations.checksum.
std::string MigrationChecksum(absl::string_view sql);

// Versions must be positive and unique, names non-empty, [a-z0-9_], and a
// compatibility line, if any, well-formed. The list may be in any order.
// INVALID_ARGUMENT naming the offending entry otherwise.
absl::Status ValidateMigrations(const std::vector<Migration>& migrations);

struct MigrationReport {
  int from_version = 0;      // newest applied before this run (0: none)
  int to_version = 0;        // newest applied after it
  std::vector<int> applied;  // versions this run applied, ascending
};

struct AppliedMigration {
  int version = 0;
  std::string name;
  std::string checksum;
  std::string applied_at;  // timestamptz as text
  std::string applied_by;
  // Oldest binary version that works with it (0: not recorded, i.e.
  // applied before windows existed; strict).
  int binaries_from = 0;
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

  // Readiness: OK if a binary carrying exactly these migrations works with
  // the database's schema. Ahead (database newer than the newest carried):
  // every applied migration it does not carry must have recorded
  // binaries-from <= its newest version, else SCHEMA_TOO_NEW. Behind:
  // every carried migration not yet applied must require a version <= the
  // database's, else SCHEMA_NOT_CURRENT. Messages name the versions and the
  // migration that closes the window. Read-only; needs SELECT on
  // schema_migrations.
  absl::Status CheckCompatible(Connection& conn) const;

  int LatestVersion() const { return migrations_.empty() ? 0 : migrations_.back().version; }
  const std::vector<Migration>& migrations() const { return migrations_; }

 private:
  absl::StatusOr<MigrationReport> ApplyLocked(Connection& conn) const;

  std::vector<Migration> migrations_;
};

}  // namespace cantdo::pg
