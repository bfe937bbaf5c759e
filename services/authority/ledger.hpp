#pragma once
// The append-only, hash-chained ledger (table cantdo.ledger, V0002).
//
// Entry hash = lowercase hex SHA-256 of the RFC 8785 canonical JSON of the
// object {sequence, time_us, kind, actor, action, resource, parameters_hash,
// workflow_id, run_id, step, grant_id, approval_id, decision, reason,
// policy_version, policy_hash, detail, prev_hash} (detail is a JSON object;
// every other member a string or an integer). prev_hash of entry 1 is 64
// zeros. docs/security.md has a worked example.

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "cantdo/common/v1/authorization.pb.h"
#include "cantdo/pg/connection.hpp"

namespace cantdo::authority {

inline constexpr char kGenesisHash[] = "0000000000000000000000000000000000000000000000000000000000000000";

struct LedgerRecord {
  common::v1::LedgerEventKind kind = common::v1::LEDGER_EVENT_KIND_UNSPECIFIED;
  std::string actor;
  std::string action, resource, parameters_hash;
  std::string workflow_id, run_id, step;
  std::string grant_id, approval_id;
  common::v1::Decision decision = common::v1::DECISION_UNSPECIFIED;
  std::string reason;  // an ErrorReason name, or ""
  std::string policy_version, policy_hash;
  nlohmann::json detail = nlohmann::json::object();
};

class Ledger {
 public:
  // Appends `record` as the next entry and returns its sequence.
  // REQUIRES: `tx` is inside a READ COMMITTED transaction. Takes a
  // transaction-scoped advisory lock that serialises appends until commit,
  // so call it as late in the transaction as possible.
  static absl::StatusOr<int64_t> Append(pg::Connection& tx, const LedgerRecord& record, absl::Time now);

  // Recomputes the chain over [start, end] (0 = from 1 / to the head).
  // Problems are reported in the result, not as errors.
  static absl::StatusOr<common::v1::LedgerVerification> Verify(pg::Connection& conn, int64_t start, int64_t end,
                                                               absl::Time now);

  // Entries in increasing sequence order from `start_sequence`, matching
  // `filter`, at most `limit`.
  static absl::StatusOr<std::vector<common::v1::LedgerEntry>> List(pg::Connection& conn,
                                                                   const common::v1::LedgerFilter& filter,
                                                                   int64_t start_sequence, int limit);
};

}  // namespace cantdo::authority
