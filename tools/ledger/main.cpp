// cantdo-ledger: offline verification of the authority's hash-chained
// ledger, straight from the database (for auditors; needs only SELECT on
// cantdo.ledger).
//
//   cantdo-ledger --dsn=... verify [--start=N] [--end=M]
//
// Exit codes: 0 the chain verifies, 1 it does not (the first bad sequence is
// printed), 2 usage or connection problems.
//
// It recomputes each entry's hash with the authority's own code
// (Ledger::Verify): the document of docs/security.md, acting_service
// included for entries that record one (V0009 onwards). Needs a database
// at the schema this binary was built for.

#include <cstdio>
#include <iostream>

#include <google/protobuf/util/json_util.h>

#include "authority/ledger.hpp"
#include "cantdo/base/config.hpp"
#include "cantdo/pg/connection.hpp"

int main(int argc, char** argv) {
  std::string dsn, verb;
  int start = 0, end = 0;
  bool json = false;
  cantdo::Options options("cantdo-ledger", "Verify the authority's ledger offline: cantdo-ledger [options] verify");
  options.String("dsn", &dsn, "PostgreSQL DSN (needs SELECT on cantdo.ledger)", true)
      .Int("start", &start, "first sequence to check (0: from 1)")
      .Int("end", &end, "last sequence to check (0: the head)")
      .Bool("json", &json, "print the result as JSON");
  // The verb is the last positional argument.
  std::vector<const char*> args;
  for (int i = 0; i < argc; ++i) {
    if (i > 0 && argv[i][0] != '-') {
      verb = argv[i];
      continue;
    }
    args.push_back(argv[i]);
  }
  auto parsed = options.Parse(static_cast<int>(args.size()), args.data());
  if (!parsed.ok()) {
    std::fprintf(stderr, "%s\n", std::string(parsed.status().message()).c_str());
    return 2;
  }
  if (!*parsed) return 0;
  if (verb != "verify") {
    std::fprintf(stderr, "cantdo-ledger: expected the verb 'verify'\n%s", options.Help().c_str());
    return 2;
  }
  auto conn = cantdo::pg::Connection::Connect(dsn, absl::Seconds(10));
  if (!conn.ok()) {
    std::fprintf(stderr, "cantdo-ledger: %s\n", std::string(conn.status().message()).c_str());
    return 2;
  }
  auto v = cantdo::authority::Ledger::Verify(**conn, start, end, absl::Now());
  if (!v.ok()) {
    std::fprintf(stderr, "cantdo-ledger: %s\n", std::string(v.status().message()).c_str());
    return 2;
  }
  if (json) {
    std::string out;
    google::protobuf::util::JsonPrintOptions o;
    o.add_whitespace = true;
    (void)google::protobuf::util::MessageToJsonString(*v, &out, o);
    std::cout << out;
  } else if (v->ok()) {
    std::cout << "ledger OK: " << v->entries_checked() << " entries, head " << v->head_sequence() << " "
              << v->head_hash() << "\n";
    // Entries the authority committed but has not hash-chained yet (it does
    // so within --ledger-chain-interval); they are checked once chained.
    auto pending = (*conn)->Exec("SELECT count(*) FROM cantdo.ledger WHERE sequence IS NULL");
    if (pending.ok() && pending->GetInt64(0, 0).value_or(0) > 0) {
      std::cout << "(" << *pending->GetInt64(0, 0) << " newer entries not yet chained; run again to include them)\n";
    }
  } else {
    std::cout << "ledger BROKEN at sequence " << v->first_bad_sequence() << ": "
              << cantdo::common::v1::LedgerProblem_Name(v->problem()) << ": " << v->message() << "\n";
  }
  return v->ok() ? 0 : 1;
}
