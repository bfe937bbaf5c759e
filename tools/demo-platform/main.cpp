// cantdo-demo-platform: the demo customer platform's database (docs/offboarding.md).
//
//   cantdo-demo-platform [--dsn=DSN] migrate
//   cantdo-demo-platform [--dsn=DSN] seed [--customers=N] [--seed=S] [--now=RFC3339]
//   cantdo-demo-platform [--dsn=DSN] show --customer=ID
//
// The DSN (an owner login of the demo database) defaults to
// $CANTDO_DEMO_DB_DSN. Exit codes: 0 success, 1 failure, 2 usage.

#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string>

#include "absl/strings/numbers.h"
#include "absl/strings/string_view.h"
#include "absl/time/clock.h"
#include "cantdo/base/status.hpp"
#include "cantdo/demo/demo_platform.hpp"
#include "cantdo/pg/connection.hpp"

namespace {

constexpr char kUsage[] =
    "usage: cantdo-demo-platform [--dsn=DSN] migrate | seed [--customers=N] [--seed=S] [--now=RFC3339] |\n"
    "                            show --customer=ID\n"
    "  migrate  apply the platform's schema migrations (db/demo/migrations)\n"
    "  seed     fill an empty platform with N (default 1000) deterministic customers\n"
    "  show     what offboarding changes about one customer\n"
    "Options:\n"
    "  --dsn=DSN  an owner login of the demo database [CANTDO_DEMO_DB_DSN] (required)\n";

int Fail(const absl::Status& status) {
  std::string reason = cantdo::GetReason(status).value_or("");
  std::fprintf(stderr, "cantdo-demo-platform: %s%s%s\n", std::string(status.message()).c_str(),
               reason.empty() ? "" : " [", reason.empty() ? "" : (reason + "]").c_str());
  return 1;
}

int Usage(const char* problem) {
  std::fprintf(stderr, "cantdo-demo-platform: %s\n%s", problem, kUsage);
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  std::string dsn = std::getenv("CANTDO_DEMO_DB_DSN") ? std::getenv("CANTDO_DEMO_DB_DSN") : "";
  std::string command, customer;
  cantdo::demo::SeedOptions seed;
  seed.now = absl::Now();
  for (int i = 1; i < argc; ++i) {
    absl::string_view arg = argv[i];
    auto value = [&](absl::string_view flag) -> std::optional<std::string> {
      if (arg.rfind(flag, 0) == 0) return std::string(arg.substr(flag.size()));
      return std::nullopt;
    };
    if (auto v = value("--dsn=")) {
      dsn = *v;
    } else if (auto v = value("--customers=")) {
      if (!absl::SimpleAtoi(*v, &seed.customers)) return Usage("--customers wants a number");
    } else if (auto v = value("--seed=")) {
      if (!absl::SimpleAtoi(*v, &seed.seed)) return Usage("--seed wants a number");
    } else if (auto v = value("--now=")) {
      std::string err;
      if (!absl::ParseTime(absl::RFC3339_full, *v, &seed.now, &err)) return Usage("--now wants RFC 3339");
    } else if (auto v = value("--customer=")) {
      customer = *v;
    } else if (arg == "-h" || arg == "--help") {
      std::fputs(kUsage, stdout);
      return 0;
    } else if (!arg.empty() && arg[0] != '-' && command.empty()) {
      command = std::string(arg);
    } else {
      return Usage(("unknown argument " + std::string(arg)).c_str());
    }
  }
  if (dsn.empty()) return Usage("no DSN: pass --dsn or set CANTDO_DEMO_DB_DSN");
  if (command != "migrate" && command != "seed" && command != "show") return Usage("unknown command");
  if (command == "show" && customer.empty()) return Usage("show needs --customer=ID");

  auto conn = cantdo::pg::Connection::Connect(dsn, absl::Seconds(10));
  if (!conn.ok()) return Fail(conn.status());
  if (command == "migrate") {
    auto report = cantdo::demo::Migrate(**conn);
    if (!report.ok()) return Fail(report.status());
    std::printf("demo platform schema at version %d (%zu applied now)\n", report->to_version, report->applied.size());
  } else if (command == "seed") {
    auto report = cantdo::demo::Seed(**conn, seed);
    if (!report.ok()) return Fail(report.status());
    if (report->already_seeded) {
      std::printf("already seeded: %lld customers; nothing written\n", static_cast<long long>(report->customers));
    } else {
      std::printf(
          "seeded %lld customers, %lld users, %lld sessions, %lld API keys, %lld subscriptions, "
          "%lld invoices, %lld payments\n",
          static_cast<long long>(report->customers), static_cast<long long>(report->users),
          static_cast<long long>(report->sessions), static_cast<long long>(report->api_keys),
          static_cast<long long>(report->subscriptions), static_cast<long long>(report->invoices),
          static_cast<long long>(report->payments));
    }
  } else {
    auto snapshot = cantdo::demo::Snapshot(**conn, customer);
    if (!snapshot.ok()) return Fail(snapshot.status());
    std::fputs(cantdo::demo::FormatSnapshot(*snapshot).c_str(), stdout);
  }
  return 0;
}
