#pragma once
// The append-only, hash-chained ledger (table cantdo.ledger, V0002).
//
// Entry hash = lowercase hex SHA-256 of the RFC 8785 canonical JSON of the
// object {sequence, time_us, kind, actor, action, resource, parameters_hash,
// workflow_id, run_id, step, grant_id, approval_id, decision, reason,
// policy_version, policy_hash, detail, prev_hash} plus acting_service when
// it is not empty (entries from before V0009 have none; their hashes are
// as they were). detail is a JSON object; every other member a string or an
// integer. prev_hash of entry 1 is 64 zeros. docs/security.md has a worked
// example. An entry written under a trace (cantdo/base/trace_context.hpp:
// the gRPC call or background work it belongs to) has that trace's id as
// detail.trace_id, so it is hashed like the rest of the detail.
//
// An entry's document (that canonical JSON, as bytes) is also the data of
// its leaf in the ledger's Merkle tree (V0014, ledger_tree.hpp): leaf i is
// the entry at sequence i + 1, hashed SHA-256(0x00 || document) as RFC 9162
// section 2.1 does, and the authority signs the tree's root in checkpoints
// (ledger_checkpointer.hpp).
//
// Entries enter through one path (V0009): Append (or GrantEntryInsert)
// writes an entry pending, content only, in the deciding transaction; the
// chainer (ChainPending) gives it the next sequence and its hashes. The
// database refuses any other write of the chain columns (V0006, V0007,
// V0009). List and Verify read chained entries only; callers that must see
// their own writes call ChainAll first.

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "cantdo/common/v1/authorization.pb.h"
#include "cantdo/pg/connection.hpp"
#include "cantdo/tlog/checkpoint.hpp"

namespace cantdo::authority {

inline constexpr char kGenesisHash[] = "0000000000000000000000000000000000000000000000000000000000000000";

struct LedgerRecord {
  common::v1::LedgerEventKind kind = common::v1::LEDGER_EVENT_KIND_UNSPECIFIED;
  // The principal the entry is about: the calling service itself, or the
  // external caller the gateway acted for (Caller::principal()).
  std::string actor;
  // The service whose verified certificate made the call (Caller::identity),
  // e.g. spiffe://cantdo/gateway when actor is platform:acme. Empty: Append
  // records DefaultActingService(actor).
  std::string acting_service;
  std::string action, resource, parameters_hash;
  std::string workflow_id, run_id, step;
  std::string grant_id, approval_id;
  common::v1::Decision decision = common::v1::DECISION_UNSPECIFIED;
  std::string reason;  // an ErrorReason name, or ""
  std::string policy_version, policy_hash;
  nlohmann::json detail = nlohmann::json::object();
};

// The acting service of an entry whose record names none: the actor itself
// when it is a service (a spiffe:// id); the gateway when the actor is an
// external principal (cantdo/fields/principal.hpp), since the gateway is the
// only service the authority lets act for one (authority_service.cpp,
// Authenticate); "" otherwise.
std::string DefaultActingService(const std::string& actor);

class Ledger {
 public:
  // Appends `record` as a pending entry (no sequence or hash yet), in the
  // caller's transaction: the entry commits or rolls back with the decision
  // it records. Takes no lock, so deciding transactions share WAL flushes.
  // Returns the entry's entry_id (its sequence is known once chained).
  // REQUIRES: `tx` is inside a transaction.
  static absl::StatusOr<int64_t> Append(pg::Connection& tx, const LedgerRecord& record, absl::Time now);

  // For a statement that decides and records at once: an INSERT (to use as
  // a data-modifying CTE) of one pending entry per row of the CTE named
  // `grant_cte`, which must have the columns of cantdo.grants (e.g. an
  // UPDATE ... RETURNING *). The entry is exactly what Append writes for
  // GrantRecord(kind, actor, grant) with `detail` and `acting_service`
  // (empty: DefaultActingService(actor)). Its parameters are $first_param..
  // and are appended to `params`.
  static absl::StatusOr<std::string> GrantEntryInsert(const std::string& grant_cte, common::v1::LedgerEventKind kind,
                                                      const std::string& actor, const nlohmann::json& detail,
                                                      absl::Time now, int first_param, std::vector<pg::Param>& params,
                                                      const std::string& acting_service = "");

  // Chains up to `limit` pending entries, in entry_id order, in a
  // transaction of its own on `conn` (not inside another transaction):
  // under a transaction-scoped advisory lock, each gets the next sequence,
  // the previous entry's hash and its own. Safe to run from several
  // replicas at once. Returns how many it chained.
  static absl::StatusOr<int> ChainPending(pg::Connection& conn, int limit);

  // Chains every entry pending when it starts (bounded: at most 100,000),
  // so a reader that calls it first sees every entry committed before.
  static absl::StatusOr<int64_t> ChainAll(pg::Connection& conn);

  // Recomputes the chain over [start, end] (0 = from 1 / to the head).
  // Problems are reported in the result, not as errors.
  static absl::StatusOr<common::v1::LedgerVerification> Verify(pg::Connection& conn, int64_t start, int64_t end,
                                                               absl::Time now);

  // Verifies the ledger against `checkpoint` (its signature already
  // checked by the caller): the chain over every entry as Verify does, then
  // that entries 1..checkpoint.size hash to the checkpoint's root and that
  // the tree the database stores (and serves proofs from) is the tree of
  // its entries. Problems (TRUNCATED, REWRITTEN, FORKED, or a chain
  // problem) come with the first sequence affected, in the result.
  // `published_leaves`, when given, are leaf hashes kept outside the
  // database (the checkpoint directory's leaf-hashes file): believed only
  // if they hash to the checkpoint's root, they locate a rewrite exactly
  // even when its author rebuilt the database's tree to match.
  static absl::StatusOr<common::v1::LedgerVerification> VerifyCheckpoint(
      pg::Connection& conn, const tlog::Checkpoint& checkpoint, absl::Time now,
      const std::vector<tlog::Hash>* published_leaves = nullptr);

  // The chained entry at `sequence` and its document (its leaf's data).
  // NOT_FOUND when there is none.
  struct Leaf {
    common::v1::LedgerEntry entry;
    std::string document;
  };
  static absl::StatusOr<Leaf> ReadLeaf(pg::Connection& conn, int64_t sequence);
  // The sequence the chainer gave the entry `entry_id` (as Append and the
  // decision and consume responses return it): NOT_FOUND with
  // LEDGER_ENTRY_NOT_FOUND if there is none, FAILED_PRECONDITION with
  // LEDGER_NOT_CHECKPOINTED while it is not chained yet (retry shortly).
  static absl::StatusOr<int64_t> SequenceOf(pg::Connection& conn, int64_t entry_id);

  // Entries in increasing sequence order from `start_sequence`, matching
  // `filter`, at most `limit`. Kinds outside LedgerEventKind match nothing;
  // times beyond what microseconds can hold are clamped, never overflow
  // (the gRPC edge refuses both first: fields::ValidateLedgerFilter).
  static absl::StatusOr<std::vector<common::v1::LedgerEntry>> List(pg::Connection& conn,
                                                                   const common::v1::LedgerFilter& filter,
                                                                   int64_t start_sequence, int limit);
};

}  // namespace cantdo::authority
