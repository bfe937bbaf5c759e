#pragma once
// The ledger's Merkle tree as stored in cantdo.ledger_tree (V0014): every
// perfect subtree of the RFC 9162 tree over the entries in sequence order
// (leaf i = the entry at sequence i + 1), so that roots and proofs of any
// size are O(log n) reads. This class owns that table's SQL.
//
// Only the chainer appends (Ledger::ChainPending, under the ledger's
// advisory lock, in the transaction that chains the entries). What is read
// here is the database's word, and the database is what checkpoints guard
// against: a verifier never trusts these hashes unless they lead to a root
// it trusts (Ledger::VerifyCheckpoint, tlog::Verify*).

#include <cstdint>
#include <vector>

#include "absl/status/statusor.h"
#include "cantdo/pg/connection.hpp"
#include "cantdo/tlog/merkle.hpp"

namespace cantdo::authority {

class LedgerTree {
 public:
  // How many entries the tree holds (its leaves are sequences 1..size).
  static absl::StatusOr<int64_t> Size(pg::Connection& conn);

  // Reads perfect subtrees from `conn`; NOT_FOUND for one beyond the tree.
  // `conn` must outlive the reader.
  static tlog::NodeReader Reader(pg::Connection& conn);

  // The leaf hashes of entries from+1 .. to, in order. NOT_FOUND when the
  // tree does not hold them all.
  static absl::StatusOr<std::vector<tlog::Hash>> Leaves(pg::Connection& conn, int64_t from, int64_t to);

  // Appends the leaves of entries size+1 .. size+leaves.size() to the tree
  // of `size` entries. REQUIRES: inside the chainer's transaction, `size`
  // the current Size(), and the entries chained.
  static absl::Status Append(pg::Connection& tx, int64_t size, const std::vector<tlog::Hash>& leaves);
};

}  // namespace cantdo::authority
