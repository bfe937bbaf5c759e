#pragma once
// What the ledger API serves about checkpoints: the newest signed
// checkpoint, inclusion and consistency proofs built from the stored tree
// (ledger_tree.hpp), and receipts. Proofs are served only up to the newest
// checkpoint's size: a proof is worth something against a signed root.
//
// Errors carry reasons: LEDGER_CHECKPOINTS_OFF when there is no
// checkpointer, LEDGER_NOT_CHECKPOINTED beyond the newest checkpoint,
// LEDGER_ENTRY_NOT_FOUND, INVALID_FIELD.

#include "absl/status/statusor.h"
#include "authority/ledger_checkpointer.hpp"
#include "cantdo/authority/v1/authority_service.pb.h"
#include "cantdo/pg/connection.hpp"

namespace cantdo::authority {

class LedgerProofs {
 public:
  // `checkpointer` may be null (checkpoints off); it must outlive this.
  explicit LedgerProofs(const LedgerCheckpointer* checkpointer) : checkpointer_(checkpointer) {}

  absl::StatusOr<common::v1::LedgerCheckpoint> Checkpoint() const;
  absl::StatusOr<v1::GetInclusionProofResponse> Inclusion(pg::Connection& conn,
                                                          const v1::GetInclusionProofRequest& req) const;
  absl::StatusOr<v1::GetConsistencyProofResponse> Consistency(pg::Connection& conn,
                                                              const v1::GetConsistencyProofRequest& req) const;
  absl::StatusOr<common::v1::LedgerReceipt> Receipt(pg::Connection& conn, int64_t sequence) const;

 private:
  const LedgerCheckpointer* checkpointer_;
};

}  // namespace cantdo::authority
