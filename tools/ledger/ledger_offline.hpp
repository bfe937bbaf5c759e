#pragma once
// What cantdo-ledger checks without trusting the party that serves the
// ledger: a checkpoint file, a receipt, and a witness's step from the
// checkpoint it keeps to a newer one. Pure apart from the witness's state
// file; the database and the gateway are the caller's (main.cpp).

#include <functional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "cantdo/common/v1/authorization.pb.h"
#include "cantdo/tlog/checkpoint.hpp"
#include "cantdo/tlog/merkle.hpp"
#include "cantdo/tlog/note.hpp"

namespace cantdo::ledger_tool {

// The verifier key given as text, or else read from a file.
absl::StatusOr<tlog::NoteVerifier> LoadVerifier(const std::string& key, const std::string& key_file);

// A checkpoint note read from `path`, signed by `verifier`.
absl::StatusOr<tlog::Checkpoint> ReadCheckpointFile(const std::string& path, const tlog::NoteVerifier& verifier);

// OK when the receipt's checkpoint is signed by `verifier`, its document is
// the entry it shows (sequence, hash and fields), and the inclusion proof
// leads from the document's leaf to the checkpoint's root. DATA_LOSS saying
// what failed otherwise.
absl::Status VerifyReceipt(const common::v1::LedgerReceipt& receipt, const tlog::NoteVerifier& verifier);

// A witness's view of one log: the newest checkpoint it accepted, kept in
// `state_path` (the signed note as served).
struct WitnessStep {
  int64_t old_size = 0;  // 0: nothing kept before (the first checkpoint is taken on trust)
  int64_t new_size = 0;
  bool advanced = false;
};
using ConsistencyFetcher = std::function<absl::StatusOr<std::vector<tlog::Hash>>(int64_t old_size, int64_t new_size)>;

// Accepts `new_note` (signed by `verifier`) over the kept checkpoint only
// when it extends it: a larger tree with a consistency proof that verifies
// (fetched from the log), or the same tree. Then it becomes the kept one.
// DATA_LOSS for a fork (same size, another root; or a proof that fails) and
// for a rollback (a smaller tree); the kept checkpoint is left as it was.
absl::StatusOr<WitnessStep> WitnessUpdate(const std::string& state_path, const tlog::NoteVerifier& verifier,
                                          const std::string& new_note, const ConsistencyFetcher& fetch);

}  // namespace cantdo::ledger_tool
