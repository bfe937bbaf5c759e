#include "support/bench_support.hpp"

#include <cstdlib>
#include <filesystem>
#include <iostream>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "cantdo/db/migrations.hpp"
#include "cantdo/pg/dsn.hpp"
#include "cantdo/pg/migrator.hpp"

namespace cantdo::bench {
namespace {

std::string& Program() {
  static std::string name = "bench";
  return name;
}

}  // namespace

void AddRunOptions(Options& options, RunOptions* run) {
  options.String("dsn", &run->admin_dsn, "the benchmarks' PostgreSQL server (admin DSN)", true)
      .Double("duration", &run->duration_s, "measured seconds per run")
      .Double("warmup", &run->warmup_s, "unmeasured seconds before each run")
      .Int("runs", &run->runs, "runs per configuration")
      .Int("pool-size", &run->pool_size, "the database pool of the system under test")
      .Check(
          [run] { return run->runs >= 1 && run->pool_size >= 1 ? "" : "--runs and --pool-size must be at least 1"; });
}

void ParseOrExit(Options& options, int argc, char** argv) {
  if (argc > 0) Program() = std::filesystem::path(argv[0]).filename().string();
  auto run = options.Parse(argc, argv);
  if (!run.ok()) {
    std::cerr << run.status().message() << "\n";
    std::exit(2);
  }
  if (!*run) std::exit(0);
}

void Die(const std::string& what) {
  std::cerr << Program() << ": " << what << std::endl;
  std::exit(1);
}

void Check(const absl::Status& status, const std::string& what) {
  if (!status.ok()) Die(absl::StrCat(what, ": ", status.ToString()));
}

std::string ParseCounts(const std::string& list, const std::string& option, std::vector<int>* out) {
  out->clear();
  for (absl::string_view item : absl::StrSplit(list, ',')) {
    int n = 0;
    if (!absl::SimpleAtoi(item, &n) || n < 1) {
      return absl::StrCat("--", option, " must be positive counts separated by commas, e.g. 1,8,32 (got '", list, "')");
    }
    out->push_back(n);
  }
  return "";
}

std::unique_ptr<pg::Connection> Connect(const std::string& dsn) {
  auto c = pg::Connection::Connect(dsn, absl::Seconds(10), pg::ConnectOptions{"cantdo-bench"});
  Check(c.status(), "connect");
  return *std::move(c);
}

std::string FreshDatabase(const std::string& admin_dsn, const std::string& name) {
  auto admin = Connect(admin_dsn);
  Check(admin->Exec(absl::StrCat("DROP DATABASE IF EXISTS ", name, " WITH (FORCE)")).status(), "drop " + name);
  Check(admin->Exec(absl::StrCat("CREATE DATABASE ", name)).status(), "create " + name);
  auto dsn = pg::ReplaceDatabase(admin_dsn, name);
  Check(dsn.status(), "dsn of " + name);
  return *dsn;
}

std::string FreshMigratedDatabase(const std::string& admin_dsn, const std::string& name) {
  const std::string dsn = FreshDatabase(admin_dsn, name);
  auto conn = Connect(dsn);
  Check(pg::Migrator(db::AllMigrations()).Apply(*conn).status(), "migrate " + name);
  return dsn;
}

}  // namespace cantdo::bench
