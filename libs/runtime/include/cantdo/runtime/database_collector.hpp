#pragma once
// Metrics read from PostgreSQL when scraped (rows waiting in a table, the
// age of the oldest): a Registry collector that runs `collect` in one
// read-only transaction on a pooled connection, bounded by `timeout`
// (waiting for the connection, and each statement through
// statement_timeout), so that a slow database slows a scrape by at most
// that. When the database does not answer, the collector's families are
// left out of that scrape and a warning is logged (once, until it answers
// again); cantdo_db_up tells the database's state. The queries must be
// cheap: an index each, no scan of a table that grows without bound.

#include <functional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "cantdo/metrics/registry.hpp"
#include "cantdo/pg/connection.hpp"
#include "cantdo/pg/pool.hpp"

namespace cantdo::runtime {

// Appends families to `out`, reading through `tx` (inside the transaction).
using DatabaseCollect = std::function<absl::Status(pg::Connection& tx, std::vector<metrics::CollectedFamily>& out)>;

// `pool` must outlive `registry`'s scrapes. `name` labels the log lines.
void AddDatabaseCollector(metrics::Registry& registry, pg::Pool& pool, std::string name, DatabaseCollect collect,
                          absl::Duration timeout = absl::Seconds(2));

}  // namespace cantdo::runtime
