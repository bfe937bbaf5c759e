#pragma once
// The schema migrations this binary carries, embedded at build time from
// db/migrations/V<4 digits>__<name>.sql (see db/CMakeLists.txt and
// docs/database.md).

#include <vector>

#include "cantdo/pg/migrator.hpp"

namespace cantdo::db {

// Every migration, ascending by version. The SQL is the file's exact bytes,
// so checksums computed here match those recorded by any other build of the
// same file.
const std::vector<pg::Migration>& AllMigrations();

// The newest version in AllMigrations() (0 if none): what services pass to
// pg::Migrator::CheckCurrent at start.
int LatestVersion();

}  // namespace cantdo::db
