#pragma once
// The schema migrations of the demo customer platform (its own database,
// default `cantdo_demo`), embedded at build time from
// db/demo/migrations/V<4 digits>__<name>.sql. Applied with pg::Migrator like
// the main schema; see docs/offboarding.md.

#include <vector>

#include "cantdo/pg/migrator.hpp"

namespace cantdo::db::demo {

// Every migration, ascending by version.
const std::vector<pg::Migration>& AllMigrations();

// The newest version in AllMigrations().
int LatestVersion();

}  // namespace cantdo::db::demo
