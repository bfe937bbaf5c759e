#pragma once
// What every benchmark driver under bench/ shares: its options (parsed by
// cantdo::Options, "--name value" or "--name=value", --help lists them),
// failing loudly, and a fresh database on the benchmarks' server. A driver
// that cannot measure what it was asked to exits non-zero with the reason:
// a benchmark never reports a figure from a run that went wrong.

#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "cantdo/base/config.hpp"
#include "cantdo/pg/connection.hpp"

namespace cantdo::bench {

// The options every load driver takes: which server, how long, how often.
struct RunOptions {
  std::string admin_dsn;
  double duration_s = 10;
  double warmup_s = 2;
  int runs = 3;
  int pool_size = 8;  // the services' default --db-pool-size
};

// Registers --dsn (required), --duration, --warmup, --runs and --pool-size
// into `options`, bound to `run` (whose values are the defaults), with the
// check that --runs and --pool-size are at least 1.
void AddRunOptions(Options& options, RunOptions* run);

// Parses argv into `options`. Exits 0 after printing the help for --help,
// and 2 after printing every problem for bad or missing options. Remembers
// the program's name for Die().
void ParseOrExit(Options& options, int argc, char** argv);

// Prints "<program>: <what>" to stderr and exits 1.
[[noreturn]] void Die(const std::string& what);

// Die("<what>: <status>") unless `status` is OK.
void Check(const absl::Status& status, const std::string& what);

// "1,8,32" as positive counts; "" for a well-formed list, else the problem
// naming `option` (for an Options::Check).
std::string ParseCounts(const std::string& list, const std::string& option, std::vector<int>* out);

// A connection to `dsn`, or Die().
std::unique_ptr<pg::Connection> Connect(const std::string& dsn);

// Drops database `name` (if it exists) and creates it empty on the server
// `admin_dsn` names; returns its DSN. Nothing is applied to it.
std::string FreshDatabase(const std::string& admin_dsn, const std::string& name);

// FreshDatabase with the product's schema (db/migrations) applied.
std::string FreshMigratedDatabase(const std::string& admin_dsn, const std::string& name);

}  // namespace cantdo::bench
